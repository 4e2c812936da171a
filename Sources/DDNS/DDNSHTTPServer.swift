import AdminAPI
import DNSWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ProximaConfig
import ServiceLifecycle

/// The DDNS API's HTTP listener (`ddns.listen`, TLS when `ddns.tls` is set): a plain SwiftNIO
/// HTTP/1.1 server on one event loop of its own.
///
///     [TLS] → AdminByteGuard → DDNSRequestHandler (DDNSHTTPParser)
///
/// Connections get the admin API's rules (`AdminByteGuard`, and in `DDNSRequestHandler` what
/// `AdminHTTPGuard` does for the admin API): a total and a
/// per-address cap, the longest idle one evicted when full, a request (head, then body) deadline
/// and an idle deadline; HTTP/1.0 and `Connection: close` exchanges are closed after the reply.
///
/// Why not Hummingbird, as the admin API: an update's cost is the listener's CPU on the core the
/// DNS workers use, and Hummingbird's async request stack (an async channel per connection,
/// HTTP types conversion, the router's middleware chain) was most of it: measured, 300–330 µs of
/// server CPU per update with it. `DDNSRequestHandler` parses and routes on the event loop and
/// runs each call as one task on that same loop (`EventLoopTaskExecutor`), so a request costs no
/// thread hand-off. docs/benchmarks.md has the figures.
final class DDNSHTTPServer: Sendable {
    private struct Listening {
        var port: Int?
        var failure: String?
        var waiters: [CheckedContinuation<Int?, Never>] = []
    }

    /// How long a shutdown waits for requests in progress before closing their connections.
    static let drainTimeout: TimeAmount = .seconds(5)

    let api: DDNSAPI
    let settings: DDNSSettings
    let logger: Logger
    private let registry: AdminConnectionRegistry
    private let listening = NIOLockedValueBox(Listening())

    init(api: DDNSAPI, settings: DDNSSettings, logger: Logger) {
        self.api = api
        self.settings = settings
        self.logger = logger
        registry = AdminConnectionRegistry(maxTotal: settings.maxConnections, maxPerAddress: settings.maxConnectionsPerIP)
    }

    /// Connections open now.
    var openConnections: Int { registry.count }

    /// The bound port once listening; nil if it stopped or failed first.
    func boundPort() async -> Int? {
        await withCheckedContinuation { continuation in
            let ready = listening.withLockedValue { s -> Int?? in
                if let port = s.port { return .some(port) }
                if s.failure != nil { return .some(nil) }
                s.waiters.append(continuation)
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Serves until graceful shutdown or cancellation; then stops accepting, closes idle
    /// connections, and gives requests in progress `drainTimeout` to finish.
    func run() async throws {
        let tls: NIOSSLContext?
        do {
            tls = try settings.tls.map { files in
                let chain = try NIOSSLCertificate.fromPEMFile(files.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
                return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
            }
        } catch {
            finish("ddns TLS: \(error)")
            throw DDNSAPIError(.internal, "ddns.tls: \(error)")
        }
        // One event loop of its own, and every request's task runs on it (see
        // `EventLoopTaskExecutor`): the API stays off the loops that serve DNS over TCP and the
        // admin API. The thread is named `proxima-ddns` (top -H, ps -L), so an operator can give
        // it a CPU of its own away from the DNS workers (`taskset -p -c CPU TID`;
        // Scripts/bench --ddns-api-core).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        // (Linux: a thread names itself by writing /proc/thread-self/comm.)
        loop.execute { try? "proxima-ddns".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8) }
        defer { group.shutdownGracefully { _ in } }
        let handling = DDNSRequestHandler.Shared(api: api, executor: EventLoopTaskExecutor(loop), logger: logger)
        let registry = registry
        let timeouts = (idle: settings.idleTimeout, header: settings.requestTimeout, body: settings.requestTimeout)
        let logger = logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = AdminConnection(channel: channel, registry: registry, timeouts: timeouts,
                                                     key: channel.remoteAddress?.ipAddress, logger: logger)
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    try sync.addHandler(AdminByteGuard(connection: connection))
                    // The handler reads requests (`DDNSHTTPParser`), writes responses as bytes
                    // (`DDNSResponseBytes`) and does `AdminHTTPGuard`'s part.
                    try sync.addHandler(DDNSRequestHandler(shared: handling, connection: connection,
                                                           peer: channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }))
                }
            }
        let server: any Channel
        do {
            server = try await bootstrap.bind(host: settings.listen.address.description, port: settings.listen.port).get()
        } catch {
            finish("\(error)")
            throw DDNSAPIError(.internal, "ddns API on \(settings.listen): \(error)")
        }
        logger.info("ddns API listening", metadata: [
            "address": "\(server.localAddress.map { "\($0)" } ?? "?")", "tls": "\(tls != nil)"])
        let waiters = listening.withLockedValue { s in
            s.port = server.localAddress?.port ?? 0
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: server.localAddress?.port) }

        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await server.closeFuture.get()
            } onCancel: {
                server.close(promise: nil)
            }
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        finish("stopped")
        await drain(on: loop)
    }

    /// Closes idle connections now, and the others once their request is answered or after
    /// `drainTimeout`.
    private func drain(on loop: any EventLoop) async {
        for channel in registry.channels(idleOnly: true) { channel.close(promise: nil) }
        let deadline = NIODeadline.now() + Self.drainTimeout
        while registry.count > 0, NIODeadline.now() < deadline {
            for channel in registry.channels(idleOnly: true) { channel.close(promise: nil) }
            try? await loop.scheduleTask(in: .milliseconds(20)) {}.futureResult.get()
        }
        for channel in registry.channels(idleOnly: false) { channel.close(promise: nil) }
    }

    /// Marks the listener as stopped or failed: `boundPort()` callers get nil.
    func finish(_ why: String) {
        let waiters = listening.withLockedValue { s in
            s.port = nil
            s.failure = why
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }
}
