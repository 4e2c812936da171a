import AsyncHTTPClient
import DNSWire
import Foundation
import NIOCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue #9 at the level of whole `proxima serve` processes: an acknowledged change survives
/// `kill -9` (SQLite), and two nodes on one real PostgreSQL answer each other's changes, keep
/// answering through an outage (writes 503) and converge by themselves when it ends.
final class DDNSNodeTests: XCTestCase {
    static let adminToken = "admin-token-\(UUID().uuidString)"
    static let lo = IPAddress("127.0.0.1")!

    struct Node {
        let dnsPort: UInt16
        let apiPort: UInt16
        let configPath: String
        var api: String { "http://127.0.0.1:\(apiPort)" }
    }

    /// A node's config in `dir` (the zone file `example.zone` beside it).
    static func makeNode(_ dir: URL, name: String, store: String) throws -> Node {
        let dnsPort = try DDNSClientLiveTests.freePort(), apiPort = try DDNSClientLiveTests.freePort()
        try Data(DDNSClientLiveTests.zone.utf8).write(to: dir.appendingPathComponent("example.zone"))
        let config = """
            listen: [127.0.0.1:\(dnsPort)]
            log_level: info
            rrl: {enabled: false}
            zones:
              - origin: example.test.
                file: example.zone
            ddns:
              zone: dyn.example.test.
              nameservers: [ns1.example.test.]
              listen: 127.0.0.1:\(apiPort)
              store: "\(store)"
              admin_token: \(adminToken)
              max_updates_per_minute: 100000
            """
        let path = dir.appendingPathComponent("\(name).yaml").path
        try Data(config.utf8).write(to: URL(fileURLWithPath: path))
        return Node(dnsPort: dnsPort, apiPort: apiPort, configPath: path)
    }

    static func start(_ node: Node) async throws -> ServerProcess {
        let proc = try ServerProcess(arguments: ["serve", "--config", node.configPath])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, proc.process.isRunning {
            if let (status, _) = await DDNSClientLiveTests.get(node.api + "/ping"), status == 200 { return proc }
            try await Task.sleep(for: .milliseconds(50))
        }
        proc.signal(SIGKILL)
        throw DNSTestClient.Failure(description: "node \(node.configPath) did not come up: \(proc.stderr)")
    }

    /// `PUT /silos/{silo}` with one A record; the HTTP status (0 when nothing answered).
    static func put(_ client: HTTPClient, _ node: Node, silo: String, host: String = "h", ip: String) async -> Int {
        var request = HTTPClientRequest(url: node.api + "/silos/\(silo)")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"dnsrecords": [{"hostname": "\#(host)", "ip": "\#(ip)"}]}"#))
        do {
            let response = try await client.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        } catch {
            return 0
        }
    }

    /// The A addresses `node` answers for `name` over UDP (empty on NXDOMAIN or no answer).
    static func answer(_ node: Node, _ name: String) -> [String] {
        guard let m = try? DNSTestClient.udp(name, .a, server: lo, port: node.dnsPort) else { return [] }
        return DDNSClientLiveTests.addresses(m)
    }

    // MARK: - SQLite: kill -9 right after the last 200 loses nothing

    func testAcknowledgedChangesSurviveKillNine() async throws {
        let dir = try DDNSClientLiveTests.tempDir("ddns-kill9")
        defer { try? FileManager.default.removeItem(at: dir) }
        let node = try Self.makeNode(dir, name: "node", store: "sqlite:ddns.sqlite3")
        var proc = try await Self.start(node)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)

        // A burst: 40 silos, each updated 5 times; remember what each last 200 acknowledged.
        var acknowledged: [String: String] = [:]
        for round in 1...5 {
            for s in 0..<40 {
                let ip = "10.\(round).\(s).\(round * 7 % 250 + 1)"
                let status = await Self.put(client, node, silo: "s\(s)", ip: ip)
                XCTAssertTrue((200...201).contains(status), "PUT s\(s) \(ip): HTTP \(status)")
                if (200...201).contains(status) { acknowledged["s\(s)"] = ip }
            }
        }
        // No pause: SIGKILL the moment the last 200 is in.
        proc.signal(SIGKILL)
        _ = proc.waitForExit(timeout: 10)
        try await client.shutdown()
        XCTAssertEqual(acknowledged.count, 40)

        proc = try await Self.start(node)
        defer { proc.signal(SIGTERM); _ = proc.waitForExit(timeout: 10) }
        for (silo, ip) in acknowledged.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(Self.answer(node, "h.\(silo).dyn.example.test."), [ip],
                           "\(silo): the acknowledged address is lost after kill -9")
        }
    }

    // MARK: - Two nodes on one PostgreSQL

    func testTwoNodesShareOnePostgreSQL() async throws {
        let cluster = try PostgresCluster()
        defer { cluster.destroy() }
        let url = try cluster.createDatabase("ddns")
        let dir = try DDNSClientLiveTests.tempDir("ddns-2nodes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try Self.makeNode(dir, name: "a", store: url)
        let b = try Self.makeNode(dir, name: "b", store: url)
        let procA = try await Self.start(a)
        defer { procA.signal(SIGTERM); _ = procA.waitForExit(timeout: 10) }
        let procB = try await Self.start(b)
        defer { procB.signal(SIGTERM); _ = procB.waitForExit(timeout: 10) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await twoNodes(client, cluster, a, b, procA, procB)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func twoNodes(_ client: HTTPClient, _ cluster: PostgresCluster, _ a: Node, _ b: Node,
                          _ procA: ServerProcess, _ procB: ServerProcess) async throws {
        // A PUT through A is answered by B within 1 s of A's 200 (LISTEN/NOTIFY), five times.
        for n in 1...5 {
            let ip = "192.0.2.\(n)"
            let status = await Self.put(client, a, silo: "office", ip: ip)
            XCTAssertTrue((200...201).contains(status), "PUT through A: HTTP \(status)")
            let seen = LiveServer.eventually(timeout: 1) { Self.answer(b, "h.office.dyn.example.test.") == [ip] }
            XCTAssertTrue(seen, "B did not answer \(ip) within 1 s of A's 200 (it answers \(Self.answer(b, "h.office.dyn.example.test.")))")
        }
        // And the other way round.
        let labStatus = await Self.put(client, b, silo: "lab", ip: "198.51.100.9")
        XCTAssertTrue((200...201).contains(labStatus), "PUT through B: HTTP \(labStatus)")
        XCTAssertTrue(LiveServer.eventually(timeout: 1) { Self.answer(a, "h.lab.dyn.example.test.") == ["198.51.100.9"] })

        // PostgreSQL goes away: both nodes keep answering the last records; writes get 503.
        try cluster.stop()
        for node in [a, b] {
            XCTAssertEqual(Self.answer(node, "h.office.dyn.example.test."), ["192.0.2.5"])
            XCTAssertEqual(Self.answer(node, "h.lab.dyn.example.test."), ["198.51.100.9"])
            let status = await Self.put(client, node, silo: "office", ip: "192.0.2.77")
            XCTAssertEqual(status, 503, "a write while PostgreSQL is down")
        }
        XCTAssertEqual(Self.answer(a, "h.office.dyn.example.test."), ["192.0.2.5"], "a refused write changed nothing")

        // PostgreSQL comes back: writes succeed again without restarting either node, and both
        // converge on a change made through B (bounded retries while the pool reconnects).
        try cluster.start()
        var status = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            status = await Self.put(client, b, silo: "office", ip: "192.0.2.99")
            if (200...201).contains(status) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertTrue((200...201).contains(status), "B's writes did not recover after PostgreSQL came back: HTTP \(status)")
        XCTAssertTrue(LiveServer.eventually(timeout: 30) {
            Self.answer(a, "h.office.dyn.example.test.") == ["192.0.2.99"] && Self.answer(b, "h.office.dyn.example.test.") == ["192.0.2.99"]
        }, "the nodes did not converge: A \(Self.answer(a, "h.office.dyn.example.test.")), B \(Self.answer(b, "h.office.dyn.example.test."))")
        XCTAssertTrue(procA.process.isRunning && procB.process.isRunning, "neither node was restarted")
    }
}
