import AsyncHTTPClient
import DNSWire
import Foundation
import GeoRouting
import HealthChecks
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import XCTest
@testable import AdminAPI

/// The admin API over real HTTP on 127.0.0.1:0, with AsyncHTTPClient as the client.
final class AdminServerTests: XCTestCase {
    private let nyc = IPAddress("192.0.2.10")!
    private let lon = IPAddress("2001:db8::10")!
    private let stranger = IPAddress("198.51.100.99")!

    private struct Fixture {
        let server: AdminServer
        let store: BackendStateStore
        let clock: NIOLockedValueBox<Double>
        let explained: NIOLockedValueBox<[(IPAddress, String?)]>
        let base: String
        let group: ServiceGroup
        let task: Task<Void, any Error>
    }

    private func pools() -> [PoolView] {
        [PoolView(name: "web", members: [
            MemberView(address: nyc, name: "nyc", latitude: 40.71, longitude: -74.0, weight: 2, capacity: 0.8,
                       hasHealthCheck: true),
            MemberView(address: lon, name: "lon", latitude: 51.5, longitude: -0.12),
        ])]
    }

    private func start(token: String? = "s3cret") async throws -> Fixture {
        let clock = NIOLockedValueBox(1000.0)
        let store = BackendStateStore(clock: { clock.withLockedValue { $0 } })
        let explained = NIOLockedValueBox<[(IPAddress, String?)]>([])
        let layout = pools()
        let known = Set(layout.flatMap { $0.members.map(\.address) })
        let server = AdminServer(
            configuration: .init(host: "127.0.0.1", port: 0, token: token),
            store: store,
            pools: { layout },
            knownBackends: { known },
            explain: { address, name in
                explained.withLockedValue { $0.append((address, name)) }
                return #"{"client":"\#(address)","name":\#(name.map { "\"\($0)\"" } ?? "null")}"#
            },
            loadMaxAge: { 30 },
            logger: quietLogger
        )
        // Run as in production: inside a ServiceGroup, stopped by graceful shutdown.
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        let task = Task { try await group.run() }
        let port = try await server.waitUntilListening()
        XCTAssertGreaterThan(port, 0)
        XCTAssertEqual(server.boundPort, port)
        return Fixture(server: server, store: store, clock: clock, explained: explained,
                       base: "http://127.0.0.1:\(port)", group: group, task: task)
    }

    private func stop(_ f: Fixture) async {
        await f.group.triggerGracefulShutdown()
        do {
            try await f.task.value
        } catch {
            XCTFail("admin server did not stop cleanly: \(error)")
        }
    }

    private struct Reply {
        let status: Int
        let body: String
        let headers: [(String, String)]
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
    }

    private enum Method { case GET, POST }

    private func call(_ method: Method, _ url: String, body: String? = nil, contentType: String? = nil,
                      token: String? = "s3cret", timeout: Int64 = 5) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method == .GET ? .GET : .POST
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return Reply(status: Int(response.status.code), body: text, headers: response.headers.map { ($0.name, $0.value) })
    }

    func testLivenessIsOpen() async throws {
        let f = try await start(token: "s3cret")
        let reply = try await call(.GET, f.base + "/health")
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual((reply.json as? [String: Any])?["status"] as? String, "ok")
        await stop(f)
    }

    func testLoadReportsInReporterFormAndJSONAreRecorded() async throws {
        let f = try await start()
        var reply = try await call(.POST, f.base + "/load", body: "ip=192.0.2.10&load=0.42",
                                   contentType: "application/x-www-form-urlencoded")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual(f.store.status(of: nyc).lastLoad, LoadReport(load: 0.42, receivedAt: 1000))

        f.clock.withLockedValue { $0 = 1010 }
        reply = try await call(.POST, f.base + "/load", body: #"{"ip": "2001:db8::10", "load": 0.7}"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual(f.store.status(of: lon).lastLoad, LoadReport(load: 0.7, receivedAt: 1010))

        reply = try await call(.POST, f.base + "/load",
                               body: #"[{"ip":"192.0.2.10","load":0.1},{"ip":"2001:db8::10","load":0.2}]"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual((reply.json as? [String: Any])?["accepted"] as? Int, 2)
        XCTAssertEqual(f.store.status(of: nyc).lastLoad?.load, 0.1)
        XCTAssertEqual(f.store.status(of: lon).lastLoad?.load, 0.2)
        await stop(f)
    }

    func testInvalidAndUnknownLoadReportsAreRejectedWithoutChangingState() async throws {
        let f = try await start()
        let form = "application/x-www-form-urlencoded"
        let json = "application/json"
        let cases: [(body: String, type: String?, status: Int, message: String)] = [
            ("ip=192.0.2.10&load=-1", form, 400, "finite number"),
            ("ip=nonsense&load=1", form, 400, "not an IPv4 or IPv6 address"),
            (#"{"ip":"192.0.2.10"}"#, json, 400, "JSON body must be"),
            ("ip=198.51.100.99&load=0.5", form, 404, "not a configured backend"),
            (#"[{"ip":"192.0.2.10","load":0.5},{"ip":"198.51.100.99","load":0.5}]"#, json, 404, "198.51.100.99"),
            ("ip=192.0.2.10&load=0.5", nil, 415, "Content-Type missing"),
            (#"{"ip":"192.0.2.10","load":0.5}"#, "text/plain", 415, "Content-Type 'text/plain'"),
        ]
        for c in cases {
            let reply = try await call(.POST, f.base + "/load", body: c.body, contentType: c.type)
            XCTAssertEqual(reply.status, c.status, c.body)
            let message = (reply.json as? [String: Any])?["error"] as? String ?? ""
            XCTAssertTrue(message.contains(c.message), "\(c.body): \(reply.body)")
        }
        XCTAssertTrue(f.store.snapshot().byAddress.isEmpty, "no rejected report touched the store (batches are atomic)")
        await stop(f)
    }

    func testStateListsEveryPoolMemberWithHealthForcedAndLoadAge() async throws {
        let f = try await start()
        f.store.setProbeHealth(address: nyc, healthy: false)
        f.store.recordLoad(address: nyc, load: 0.5, now: 990)
        f.store.recordLoad(address: lon, load: 0.9, now: 950)
        f.store.force(address: lon, state: .down)
        let reply = try await call(.GET, f.base + "/state")
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue(reply.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("application/json") })
        let document = try XCTUnwrap(reply.json as? [String: Any], reply.body)
        XCTAssertEqual(document["load_max_age_seconds"] as? Double, 30)
        let pools = try XCTUnwrap(document["pools"] as? [[String: Any]])
        XCTAssertEqual(pools.map { $0["name"] as? String }, ["web"])
        let members = try XCTUnwrap(pools[0]["members"] as? [[String: Any]])
        XCTAssertEqual(members.count, 2)

        let first = members[0]
        XCTAssertEqual(first["name"] as? String, "nyc")
        XCTAssertEqual(first["address"] as? String, "192.0.2.10")
        XCTAssertEqual(first["health"] as? String, "down")
        XCTAssertEqual(first["probe_health"] as? String, "down")
        XCTAssertTrue(first["forced"] is NSNull)
        XCTAssertEqual(first["load"] as? Double, 0.5)
        XCTAssertEqual(first["load_age_seconds"] as? Double, 10)
        XCTAssertEqual(first["stale"] as? Bool, false)
        XCTAssertEqual(first["weight"] as? Double, 2)
        XCTAssertEqual(first["capacity"] as? Double, 0.8)

        let second = members[1]
        XCTAssertEqual(second["address"] as? String, "2001:db8::10")
        XCTAssertEqual(second["health"] as? String, "down", "forced down")
        XCTAssertEqual(second["probe_health"] as? String, "unchecked")
        XCTAssertEqual(second["forced"] as? String, "down")
        XCTAssertEqual(second["load_age_seconds"] as? Double, 50)
        XCTAssertEqual(second["stale"] as? Bool, true, "older than load_max_age")
        XCTAssertTrue(second["capacity"] is NSNull)
        await stop(f)
    }

    func testForceUpDownNoneAndUnknownBackend() async throws {
        let f = try await start()
        f.store.setProbeHealth(address: nyc, healthy: false)
        var reply = try await call(.POST, f.base + "/backends/192.0.2.10/force", body: #"{"state":"up"}"#,
                                   contentType: "application/json")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual((reply.json as? [String: Any])?["health"] as? String, "up")
        XCTAssertTrue(f.store.snapshot().status(of: nyc).isHealthy)

        reply = try await call(.POST, f.base + "/backends/2001:db8::10/force", body: #"{"state":"down"}"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual(f.store.status(of: lon).forced, .down)

        reply = try await call(.POST, f.base + "/backends/192.0.2.10/force", body: #"{"state":"none"}"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertNil(f.store.status(of: nyc).forced)
        XCTAssertFalse(f.store.snapshot().status(of: nyc).isHealthy, "back to the probe's verdict")

        reply = try await call(.POST, f.base + "/backends/198.51.100.99/force", body: #"{"state":"down"}"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 404)
        reply = try await call(.POST, f.base + "/backends/not-an-ip/force", body: #"{"state":"down"}"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 400)
        reply = try await call(.POST, f.base + "/backends/192.0.2.10/force", body: #"{"state":"maybe"}"#,
                               contentType: "application/json")
        XCTAssertEqual(reply.status, 400)
        XCTAssertNil(f.store.status(of: stranger).forced)
        await stop(f)
    }

    func testRouteExplainCallsTheInjectedExplainer() async throws {
        let f = try await start()
        var reply = try await call(.GET, f.base + "/route?ip=2001:db8::1&name=www.example.test.")
        XCTAssertEqual(reply.status, 200, reply.body)
        let document = try XCTUnwrap(reply.json as? [String: Any], reply.body)
        XCTAssertEqual(document["client"] as? String, "2001:db8::1")
        XCTAssertEqual(document["name"] as? String, "www.example.test.")

        reply = try await call(.GET, f.base + "/route?ip=203.0.113.5")
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue((reply.json as? [String: Any])?["name"] is NSNull)

        reply = try await call(.GET, f.base + "/route?name=x")
        XCTAssertEqual(reply.status, 400)
        reply = try await call(.GET, f.base + "/route?ip=banana")
        XCTAssertEqual(reply.status, 400)
        XCTAssertEqual(f.explained.withLockedValue { $0.map(\.0) }, [IPAddress("2001:db8::1")!, IPAddress("203.0.113.5")!])
        await stop(f)
    }

    func testTokenGuardsEveryCallButHealthOnTCP() async throws {
        let f = try await start(token: "s3cret")
        let form = "application/x-www-form-urlencoded"
        var reply = try await call(.POST, f.base + "/load", body: "ip=192.0.2.10&load=1", contentType: form, token: nil)
        XCTAssertEqual(reply.status, 401)
        XCTAssertTrue(reply.headers.contains { $0.0.lowercased() == "www-authenticate" && $0.1 == "Bearer" })
        reply = try await call(.POST, f.base + "/load", body: "ip=192.0.2.10&load=1", contentType: form, token: "wrong")
        XCTAssertEqual(reply.status, 401)
        reply = try await call(.POST, f.base + "/backends/192.0.2.10/force", body: #"{"state":"down"}"#,
                               contentType: "application/json", token: nil)
        XCTAssertEqual(reply.status, 401)
        XCTAssertTrue(f.store.snapshot().byAddress.isEmpty)
        reply = try await call(.GET, f.base + "/state", token: nil)
        XCTAssertEqual(reply.status, 401, "reads need the token on TCP, loopback or not")
        reply = try await call(.GET, f.base + "/health", token: nil)
        XCTAssertEqual(reply.status, 200)

        reply = try await call(.POST, f.base + "/load", body: "ip=192.0.2.10&load=1", contentType: form)
        XCTAssertEqual(reply.status, 200)
        reply = try await call(.GET, f.base + "/state")
        XCTAssertEqual(reply.status, 200)
        await stop(f)
    }

    func testPortZeroListensOnEphemeralPortAndStopsOnGracefulShutdown() async throws {
        let f = try await start()
        let port = try XCTUnwrap(f.server.boundPort)
        await stop(f)
        XCTAssertNil(f.server.boundPort)
        do {
            // AsyncHTTPClient retries refused connects until the deadline, so keep it short.
            _ = try await call(.GET, "http://127.0.0.1:\(port)/health", timeout: 1)
            XCTFail("server still answering after shutdown")
        } catch {}
    }
}
