import DNSWire
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue #3 through the running server: the database is replaced without a restart (a corrupt
/// one is refused), and ipstack answers clients the database does not know, within the budget.
final class GeoIPServerTests: XCTestCase {
    /// The routing tests' zone (a routed name with a last-resort answer).
    static let zone = GeoRoutingIntegrationTests.zone

    static let geoData = """
        {"127.0.0.12": {"latitude": 51.51, "longitude": -0.13, "name": "lon"},
         "127.0.0.14": {"latitude": 35.68, "longitude": 139.69, "name": "tyo"}}
        """

    static func config(extra: String = "") -> String {
        """
        listen:
          - 127.0.0.1:0
        udp_threads: 2
        log_level: critical
        zones:
          - origin: geo.test.
            file: geo.zone
        geoip:
          database: geo.mmdb
        \(extra)
        geo_data: geo_data.json
        routing:
          names:
            www.geo.test.: { pool: default }
        """
    }

    func answer(_ live: LiveServer, ecs: String) throws -> [String] {
        let n = IPNetwork(ecs)!
        let m = try live.udp("www.geo.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [
            .clientSubnet(ClientSubnet(address: n.address, sourcePrefixLength: UInt8(n.prefixLength)))]))
        return m.answerSection.map { $0.rdata.description }
    }

    /// Builds an mmdb with the project's writer where 81.2.69.0/24 is in Tokyo.
    static func movedDatabase(to path: URL) throws {
        let source = path.deletingLastPathComponent().appendingPathComponent("moved.json")
        let json = """
            {"database_type": "Proxima-Test-Moved", "ip_version": 6, "record_size": 28, "build_epoch": 1767225600,
             "languages": ["en"], "description": {"en": "test"},
             "networks": [{"network": "81.2.69.0/24", "record": {"location": {"latitude": 35.69, "longitude": 139.69,
               "accuracy_radius": 50}, "country": {"iso_code": "JP"}, "continent": {"code": "AS"}}}]}
            """
        try Data(json.utf8).write(to: source)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", LiveServer.fixture("Scripts/mmdb/build_mmdb.py").path, source.path, path.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "build_mmdb.py failed")
    }

    func testDatabaseIsReplacedWithoutRestartAndCorruptOneRefused() async throws {
        let live = try await LiveServer.start(config: Self.config(), files: ["geo.zone": Self.zone, "geo_data.json": Self.geoData],
                                              copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        XCTAssertEqual(try answer(live, ecs: "81.2.69.0/24"), ["127.0.0.12"])
        let db = live.directory.appendingPathComponent("geo.mmdb")

        // A corrupt download installed over it: refused, the old database keeps answering.
        try live.write("geo.mmdb", "this is not a MaxMind database")
        // Prove the corrupt file was tried (and refused) before checking that nothing changed.
        XCTAssertFalse(live.server.reload(reason: "test: corrupt database"), "a corrupt database must be refused")
        XCTAssertEqual(try answer(live, ecs: "126.16.5.0/24"), ["127.0.0.14"], "old database still serving")
        XCTAssertEqual(try answer(live, ecs: "81.2.69.0/24"), ["127.0.0.12"])

        // A good new database (81.2.69.0/24 moved to Tokyo), installed atomically: picked up.
        let staged = live.directory.appendingPathComponent(".staged.mmdb")
        try Self.movedDatabase(to: staged)
        XCTAssertEqual(rename(staged.path, db.path), 0)
        XCTAssertTrue(try LiveServer.eventually(timeout: 5) { try self.answer(live, ecs: "81.2.69.0/24") == ["127.0.0.14"] })
        await live.stop()
    }

    func testIPStackLocatesUnknownClientsWithinTheBudget() async throws {
        let ipstack = TestHTTPBackend(host: "127.0.0.1")
        ipstack.body = #"{"ip": "x", "latitude": 35.68, "longitude": 139.69, "country_code": "JP", "continent_code": "AS", "city": "Tokyo"}"#
        try await ipstack.start()
        defer { Task { await ipstack.stop() } }
        let extra = """
              ipstack:
                enabled: true
                base_url: http://127.0.0.1:\(ipstack.port)
                access_key: test-key-123
                budget: 300ms
                timeout: 3s
                usage_file: ipstack-usage.json
            """
        let live = try await LiveServer.start(config: Self.config(extra: extra),
                                              files: ["geo.zone": Self.zone, "geo_data.json": Self.geoData],
                                              copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        // 8.8.8.0/24 is not in the fixture database: ipstack places it (in Tokyo) before the answer.
        XCTAssertEqual(try answer(live, ecs: "8.8.8.0/24"), ["127.0.0.14"])
        XCTAssertTrue(ipstack.paths.contains { $0.hasPrefix("/8.8.8.0?") && $0.contains("access_key=test-key-123") }, "\(ipstack.paths)")
        // Known to the database: no ipstack request.
        let before = ipstack.requests
        XCTAssertEqual(try answer(live, ecs: "81.2.69.0/24"), ["127.0.0.12"])
        XCTAssertEqual(ipstack.requests, before)

        // A slow ipstack: the query is answered when the budget runs out, without a location (the
        // zone's last-resort record), and the late answer fills the cache for the next query.
        // ipstack holds its answer until released, so the DNS answer cannot have waited for it.
        ipstack.hold()
        defer { ipstack.release() }
        let asked = ipstack.requests
        XCTAssertEqual(try answer(live, ecs: "9.9.9.0/24"), ["192.0.2.200"], "answered at the budget, not when ipstack answered")
        XCTAssertTrue(LiveServer.eventually(timeout: 5) { ipstack.requests == asked + 1 }, "ipstack was asked")
        ipstack.release()
        XCTAssertTrue(try LiveServer.eventually(timeout: 5) { try self.answer(live, ecs: "9.9.9.0/24") == ["127.0.0.14"] })
        await live.stop()
    }
}
