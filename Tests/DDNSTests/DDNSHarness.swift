import AsyncHTTPClient
import DDNS
import DNSWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import ProximaConfig
import ServiceLifecycle
import XCTest

/// The DNS side as the tests see it: a real implementation of our own `DDNSPublisher` seam that
/// keeps what it was told, in order.
final class RecordingPublisher: DDNSPublisher, Sendable {
    private let log = NIOLockedValueBox<[([DDNSChange], UInt64)]>([])

    func apply(_ changes: [DDNSChange], version: UInt64) {
        log.withLockedValue { $0.append((changes, version)) }
    }

    var entries: [([DDNSChange], UInt64)] { log.withLockedValue { $0 } }
    var changes: [DDNSChange] { entries.flatMap(\.0) }
    var versions: [UInt64] { entries.map(\.1) }
}

/// Refuses the names it is given (as the server refuses routed names).
struct RefusingPolicy: DDNSNamePolicy {
    var refused: Set<DomainName> = []

    func refusal(for name: DomainName) -> String? {
        refused.contains(name) ? "\(name) is a routed name" : nil
    }
}

/// A clock the tests move (nanoseconds).
final class TestClock: Sendable {
    private let value = NIOLockedValueBox<UInt64>(1_000_000_000)
    var now: UInt64 { value.withLockedValue { $0 } }
    func advance(seconds: Double) { value.withLockedValue { $0 += UInt64(seconds * 1e9) } }
}

let quietLogger: Logger = {
    var logger = Logger(label: "ddns-test")
    logger.logLevel = .critical
    return logger
}()

/// A `DDNSService` on a real SQLite file in a temporary directory, its API on an ephemeral
/// loopback port, run in a `ServiceGroup` as in production.
final class DDNSHarness: @unchecked Sendable {
    static let admin = "admin-secret-1"
    static let zone = try! DomainName(parsing: "dyn.example.test.")

    let directory: String
    let settings: DDNSSettings
    let publisher: RecordingPublisher
    let clock: TestClock
    let service: DDNSService
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int

    var databasePath: String { directory + "/data/ddns.sqlite3" }

    /// Starts a service; `configure` adjusts the default test settings.
    static func start(directory: String? = nil, policy: RefusingPolicy = RefusingPolicy(),
                      _ configure: (inout DDNSSettings) -> Void = { _ in }) async throws -> DDNSHarness {
        let directory = directory ?? makeTemporaryDirectory()
        var settings = DDNSSettings(zone: zone, allowNamesIn: [try DomainName(parsing: "example.test.")],
                                    listen: ListenEndpoint(address: .v4(0x7f00_0001), port: 0),
                                    store: .sqlite(path: "data/ddns.sqlite3"), adminToken: admin)
        configure(&settings)
        return try await DDNSHarness(directory: directory, settings: settings, policy: policy)
    }

    private init(directory: String, settings: DDNSSettings, policy: RefusingPolicy) async throws {
        self.directory = directory
        self.settings = settings
        let clock = TestClock()
        let publisher = RecordingPublisher()
        self.clock = clock
        self.publisher = publisher
        // The public init opens the store from the settings (relative to the config directory).
        let opened = try DDNSService(settings: settings, configDirectory: directory, publisher: publisher,
                                     namePolicy: policy, logger: quietLogger)
        let service = DDNSService(settings: settings, store: opened.store, publisher: publisher, namePolicy: policy,
                              logger: quietLogger, now: { clock.now })
        self.service = service
        let group = ServiceGroup(configuration: .init(services: [service], logger: quietLogger))
        self.group = group
        let task = Task { try await group.run() }
        self.task = task
        guard let port = await service.boundPort() else {
            task.cancel()
            throw HarnessError("the DDNS API did not start")
        }
        self.port = port
    }

    static func makeTemporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "pxddns-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func stop(removing: Bool = true) async {
        await group.triggerGracefulShutdown()
        do {
            try await task.value
        } catch {
            XCTFail("DDNS service did not stop cleanly: \(error)")
        }
        if removing { try? FileManager.default.removeItem(atPath: directory) }
    }

    struct Reply {
        let status: Int
        let body: String
        let headers: [(String, String)]
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]) ?? [:] }
        var error: String { json["error"] as? String ?? "" }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// One request through AsyncHTTPClient.
    func call(_ method: HTTPMethod, _ path: String, body: String? = nil, token: String? = nil,
              headers: [(String, String)] = [], client: HTTPClient = .shared, scheme: String = "http",
              timeout: Int64 = 10) async throws -> Reply {
        var request = HTTPClientRequest(url: "\(scheme)://127.0.0.1:\(port)\(path)")
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(timeout))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return Reply(status: Int(response.status.code), body: text, headers: response.headers.map { ($0.name, $0.value) })
    }

    /// Creates a silo as admin and returns its token.
    @discardableResult
    func createSilo(_ id: String, _ records: String = "[]") async throws -> String {
        let put = try await call(.PUT, "/silos/\(id)", body: #"{"dnsrecords": \#(records)}"#, token: Self.admin)
        XCTAssertEqual(put.status, 201, put.body)
        let made = try await call(.POST, "/silos/\(id)/token", token: Self.admin)
        XCTAssertEqual(made.status, 201, made.body)
        return made.json["token"] as? String ?? ""
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
