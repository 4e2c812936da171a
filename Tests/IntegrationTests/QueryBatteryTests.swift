import DNSServer
import DNSWire
import DNSZone
import GeoRouting
import QueryEngine
import XCTest

/// The query battery against the engine in memory and the live server over UDP and TCP, IPv4 and
/// IPv6 (DESIGN §6).
final class QueryBatteryTests: XCTestCase {
    static func batteryZone() throws -> ZoneSet {
        let text = try String(contentsOf: LiveServer.fixture("Tests/Fixtures/engine/battery.zone"), encoding: .utf8)
        let zone = try ZoneParser.parse(text: text, file: "battery.zone", origin: DomainName(parsing: "battery.test."))
        return try ZoneSet([zone])
    }

    func testBatteryInMemory() throws {
        let snapshot = EngineSnapshot(zones: try Self.batteryZone(), routes: [:], geoData: nil, locator: NoLocator(),
                                      settings: EngineSettings(), generation: 1)
        for c in QueryBattery.cases {
            let q = DNSTestClient.query(c.qname, c.qtype)
            guard case .response(let r) = QueryEngine.respond(to: q, context: QueryContext(source: IPAddress("127.0.0.1")!, transport: .udp),
                                                              snapshot: snapshot, states: BackendStates()) else {
                XCTFail("\(c.name): no response"); continue
            }
            let m = try Message(parsing: r)
            XCTAssertEqual(QueryBattery.differences(c, m), [], c.name)
            XCTAssertEqual(m.questions.first?.name.description, c.qname, "\(c.name): question echoed as asked")
        }
    }

    func testBatteryLiveUDPAndTCPOverIPv4AndIPv6() async throws {
        try await battery(udpIO: nil)
    }

    /// The same battery with each UDP IO path forced (issue #12): io_uring and recvmmsg/sendmmsg
    /// give identical answers.
    func testBatteryLiveOverIOUringAndMmsg() async throws {
        for io in ["uring", "mmsg"] {
            try await battery(udpIO: io)
        }
    }

    private func battery(udpIO: String?) async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(extra: udpIO.map { "udp: {io: \($0)}" } ?? ""),
                                              copies: ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")])
        defer { Task { await live.stop() } }
        XCTAssertEqual(live.endpoints.count, 2)
        if udpIO == "uring" {
            // Two threads on each of two endpoints, each with its own ring: the config reached them.
            XCTAssertGreaterThanOrEqual(Self.openIOUringCount(), 4)
        }
        for endpoint in live.endpoints {
            for c in QueryBattery.cases {
                let udp = try DNSTestClient.udp(c.qname, c.qtype, server: endpoint.address, port: endpoint.port)
                XCTAssertEqual(QueryBattery.differences(c, udp), [], "UDP(\(udpIO ?? "default")) \(endpoint) \(c.name)")
                let tcp = try DNSTestClient.tcp(c.qname, c.qtype, server: endpoint.address, port: endpoint.port)
                XCTAssertEqual(QueryBattery.differences(c, tcp), [], "TCP \(endpoint) \(c.name)")
                // A second UDP query is answered from the fast path's cache: it must be identical.
                let again = try DNSTestClient.udp(c.qname, c.qtype, server: endpoint.address, port: endpoint.port)
                XCTAssertEqual(QueryBattery.differences(c, again), [], "UDP cached \(endpoint) \(c.name)")
                XCTAssertEqual(again.questions.first?.name.description, c.qname, "\(c.name): question echoed as asked")
            }
        }
        await live.stop()
    }

    /// io_uring instances this process holds (each is an `anon_inode:[io_uring]` descriptor).
    static func openIOUringCount() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == "anon_inode:[io_uring]" }
            .count
    }
}
