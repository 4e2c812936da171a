import AsyncHTTPClient
import DNSWire
import Foundation
import GeoRouting
import HealthChecks
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import XCTest
@testable import AdminAPI

/// One admin server on real sockets for the hardening tests: two configured backends, a
/// controllable clock, run inside a `ServiceGroup` as in production.
struct AdminHarness {
    static let nyc = IPAddress("192.0.2.10")!
    static let lon = IPAddress("2001:db8::10")!
    static let local = IPAddress("127.0.0.1")!

    let server: AdminServer
    let store: BackendStateStore
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int

    var base: String { "http://127.0.0.1:\(port)" }

    static func start(_ configuration: AdminServerConfiguration) async throws -> AdminHarness {
        let store = BackendStateStore(clock: { 1000 })
        let layout = [PoolView(name: "web", members: [
            MemberView(address: nyc, name: "nyc", latitude: 40.71, longitude: -74.0),
            MemberView(address: lon, name: "lon", latitude: 51.5, longitude: -0.12),
            MemberView(address: local, name: "local", latitude: 0, longitude: 0),
        ])]
        let known = Set(layout.flatMap { $0.members.map(\.address) })
        let server = AdminServer(configuration: configuration, store: store, pools: { layout },
                                 knownBackends: { known }, explain: { _, _ in "{}" }, loadMaxAge: { 30 },
                                 logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        let task = Task { try await group.run() }
        let port = try await server.waitUntilListening()
        return AdminHarness(server: server, store: store, group: group, task: task, port: port)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        do {
            try await task.value
        } catch {
            XCTFail("admin server did not stop cleanly: \(error)")
        }
    }

    struct Reply {
        let status: Int
        let body: String
        var error: String { ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["error"] as? String ?? "" }
    }

    /// One request through AsyncHTTPClient.
    func call(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = [],
              client: HTTPClient = .shared, scheme: String = "http", timeout: Int64 = 10) async throws -> Reply {
        var request = HTTPClientRequest(url: "\(scheme)://127.0.0.1:\(port)\(path)")
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(timeout))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return Reply(status: Int(response.status.code), body: text)
    }
}
