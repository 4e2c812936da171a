import Foundation
import Logging
import NIOCore
import ProximaConfig
import ServiceLifecycle

/// The dynamic DNS service (issue #9): its store, its HTTP API, and the feed of committed changes
/// to the DNS side (`DDNSPublisher`). Run it in the server's `ServiceGroup`.
///
/// Order of events: `init` opens the store (so a bad file fails `proxima serve` at start, naming
/// it); `run()` loads every silo and publishes `.replaceAll` with the store's version, then starts
/// the API and forwards the store's external changes (other nodes, for a shared store). Each API
/// write is committed to the store, then published, and only then answered: a 2xx means the
/// change is durable and already answered over DNS.
public final class DDNSService: Service, Sendable {
    /// The store in use.
    public let store: any SiloStore
    private let settings: DDNSSettings
    private let publisher: any DDNSPublisher
    private let logger: Logger
    private let api: DDNSAPI
    private let server: DDNSHTTPServer

    /// Opens the store named by `settings.store`.
    /// - Parameters:
    ///   - configDirectory: the config file's directory; a relative `sqlite:` path is taken from it.
    ///   - publisher: the DNS side, told every committed change.
    ///   - namePolicy: names silos may not use beyond the API's own checks.
    /// - Throws: `SiloStoreError` when the store cannot be opened (the message names the file).
    public convenience init(settings: DDNSSettings, configDirectory: String, publisher: any DDNSPublisher,
                            namePolicy: any DDNSNamePolicy, logger: Logger) throws {
        let store: any SiloStore
        switch settings.store {
        case .sqlite(let path):
            store = try SQLiteSiloStore(path: Self.resolve(path, in: configDirectory))
        case .postgres:
            // INTEGRATION: replace with `PostgresSiloStore(url: url, logger: logger,
            // resyncInterval: settings.resyncInterval)` once helper ddns-pg's store is merged.
            throw SiloStoreError.unavailable("ddns.store: postgres:// is not built into this branch yet (PostgresSiloStore pending)")
        }
        self.init(settings: settings, store: store, publisher: publisher, namePolicy: namePolicy, logger: logger)
    }

    /// Uses an open store (tests, and a store opened by the caller). `now` is the monotonic clock
    /// in nanoseconds the rate limiter reads.
    public init(settings: DDNSSettings, store: any SiloStore, publisher: any DDNSPublisher,
                namePolicy: any DDNSNamePolicy, logger: Logger,
                now: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }) {
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.logger = logger
        api = DDNSAPI(settings: settings, store: store, publisher: publisher, namePolicy: namePolicy,
                      logger: logger, now: now)
        server = DDNSHTTPServer(api: api, settings: settings, logger: logger)
    }

    /// An absolute path as is; a relative one under `directory`.
    public static func resolve(_ path: String, in directory: String) -> String {
        if path.hasPrefix("/") { return path }
        return (directory as NSString).appendingPathComponent(path)
    }

    /// The API's bound port once it listens (useful with port 0); nil if it stopped or failed
    /// before listening.
    public func boundPort() async -> Int? {
        await server.boundPort()
    }

    /// Connections open on the API now.
    public var openConnections: Int { server.openConnections }

    /// Publishes every silo, serves the API and forwards external changes until shutdown; closes
    /// the store after.
    public func run() async throws {
        do {
            try await serve()
        } catch {
            server.finish("\(error)")
            await store.close()
            throw error
        }
        await store.close()
    }

    private func serve() async throws {
        let (silos, version) = try await store.loadAll()
        publisher.apply([.replaceAll(silos)], version: version)
        logger.info("ddns store loaded", metadata: ["store": "\(settings.store)", "silos": "\(silos.count)",
                                                    "version": "\(version)"])
        let server = server
        let store = store
        let publisher = publisher
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            group.addTask {
                await cancelWhenGracefulShutdown {
                    for await (changes, version) in store.externalChanges() {
                        publisher.apply(changes, version: version)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
