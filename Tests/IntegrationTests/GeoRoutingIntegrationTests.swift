import AsyncHTTPClient
import DNSWire
import Foundation
import GeoRouting
import NIOCore
import QueryEngine
import XCTest

/// Issue #4 end to end: the server plus real HTTP backends on loopback addresses, ECS subnets from
/// the fixture database, health failover and recovery, load reports, and `route` == `dig`.
final class GeoRoutingIntegrationTests: XCTestCase {
    struct Site {
        var name: String
        var address: String
        var lat: Double
        var lon: Double
        var capacity: Double?
    }

    static let sites = [
        Site(name: "nyc", address: "127.0.0.11", lat: 40.71, lon: -74.01),
        Site(name: "lon", address: "127.0.0.12", lat: 51.51, lon: -0.13, capacity: 0.8),
        Site(name: "fra", address: "127.0.0.13", lat: 50.11, lon: 8.68),
        Site(name: "tyo", address: "127.0.0.14", lat: 35.68, lon: 139.69),
        Site(name: "syd", address: "127.0.0.15", lat: -33.87, lon: 151.21),
        Site(name: "gru", address: "127.0.0.16", lat: -23.55, lon: -46.63),
        Site(name: "jnb", address: "127.0.0.17", lat: -26.20, lon: 28.04),
    ]

    static let zone = """
        $ORIGIN geo.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.200   ; last resort when routing cannot decide
             MX  10 ns1
        ll   A   192.0.2.201
        sf   A   192.0.2.202
        """

    static let config = """
        listen:
          - 127.0.0.1:0
        udp_threads: 2
        log_level: warning
        zones:
          - origin: geo.test.
            file: geo.zone
        geoip:
          database: geo.mmdb
        geo_data: geo_data.json
        routing:
          names:
            www.geo.test.: { pool: web }
            ll.geo.test.: { pool: web, policy: least-load }
            sf.geo.test.: { pool: web, all_down: servfail }
        health:
          load_max_age: 60s
        admin:
          listen: 127.0.0.1:0
          token: s3cret
        """

    static func geoData(ports: [String: Int]) -> String {
        var members: [String] = []
        for s in sites {
            var m = #"{"address": "\#(s.address)", "name": "\#(s.name)", "latitude": \#(s.lat), "longitude": \#(s.lon)"#
            if let c = s.capacity { m += #", "capacity": \#(c)"# }
            m += #", "health_check": {"type": "http", "port": \#(ports[s.address]!), "path": "/health", "interval": "200ms", "timeout": "150ms", "rise": 2, "fall": 2}}"#
            members.append(m)
        }
        members.append(#"{"address": "2001:db8::12", "name": "lon6", "latitude": 51.51, "longitude": -0.13}"#)
        members.append(#"{"address": "2001:db8::14", "name": "tyo6", "latitude": 35.68, "longitude": 139.69}"#)
        return #"{"pools": {"web": {"members": [\#n"# + members.joined(separator: ",\n") + "\n]}}}"
    }

    var backends: [String: TestHTTPBackend] = [:]
    var live: LiveServer!
    var http: HTTPClient!

    override func setUp() async throws {
        var ports: [String: Int] = [:]
        for s in Self.sites {
            let b = TestHTTPBackend(host: s.address)
            try await b.start()
            backends[s.address] = b
            ports[s.address] = b.port
        }
        live = try await LiveServer.start(
            config: Self.config,
            files: ["geo.zone": Self.zone, "geo_data.json": Self.geoData(ports: ports)],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        http = HTTPClient(eventLoopGroupProvider: .singleton)
        // Scopes are the answer maps' blocks once they are built (off the query path, after start).
        XCTAssertTrue(LiveServer.eventually(timeout: 10) { self.live.server.snapshotStore.answerMaps != nil })
    }

    override func tearDown() async throws {
        await live.stop()
        for b in backends.values { await b.stop() }
        try await http.shutdown()
    }

    func ask(_ name: String, _ type: RecordType = .a, ecs: String?) throws -> Message {
        var options: [EDNSOption] = []
        if let ecs, let n = IPNetwork(ecs) {
            options.append(.clientSubnet(ClientSubnet(address: n.address, sourcePrefixLength: UInt8(n.prefixLength))))
        }
        return try live.udp(name, type, edns: EDNS(udpPayloadSize: 1232, options: options))
    }

    func answer(_ name: String, _ type: RecordType = .a, ecs: String?) throws -> [String] {
        try ask(name, type, ecs: ecs).answerSection.map { $0.rdata.description }
    }

    // RFC 7871 §7.2.1 + DESIGN §2 step 5: nearest member for the ECS network; scope the widest
    // block around it with the same answer (the fixture's networks are islands in gaps, which are
    // not placed, so mostly the database network).
    func testECSSubnetsGetTheNearestBackendWithRegionalScope() throws {
        let table: [(ecs: String, expect: String, scope: UInt8)] = [
            ("81.2.69.0/24", "127.0.0.12", 24),     // London
            ("90.0.3.0/24", "127.0.0.12", 16),      // Paris → London (344 km) beats Frankfurt (479 km)
            ("85.10.1.0/24", "127.0.0.13", 17),     // Frankfurt
            ("66.10.7.0/24", "127.0.0.11", 16),     // New York: its records around Newark's /28 (also New
                                                    // York's) merge into one /16 block (issue #12.1)
            ("24.114.2.0/24", "127.0.0.11", 16),    // Toronto → New York
            ("126.16.5.0/24", "127.0.0.14", 16),    // Tokyo
            ("116.12.9.0/24", "127.0.0.14", 16),    // Singapore → Tokyo (5,300 km) beats Sydney (6,300 km)
            ("101.160.1.0/24", "127.0.0.15", 14),   // Sydney
            ("49.224.3.0/24", "127.0.0.15", 16),    // Auckland → Sydney
            ("177.32.1.0/24", "127.0.0.16", 14),    // São Paulo
            ("181.0.4.0/24", "127.0.0.16", 16),     // Buenos Aires → São Paulo
            ("41.0.2.0/24", "127.0.0.17", 16),      // Johannesburg
        ]
        for row in table {
            let m = try ask("www.geo.test.", ecs: row.ecs)
            XCTAssertEqual(m.answerSection.map { $0.rdata.description }, [row.expect], row.ecs)
            XCTAssertEqual(m.answerSection.first?.ttl, 60, "default routed TTL")
            XCTAssertEqual(m.edns?.clientSubnet?.scopePrefixLength, row.scope, "scope for \(row.ecs)")
            XCTAssertEqual(m.edns?.clientSubnet?.sourcePrefixLength, 24)
            XCTAssertTrue(m.header.authoritative)
        }
        // AAAA answers from IPv6 members; an IPv6 client subnet is located too.
        XCTAssertEqual(try answer("www.geo.test.", .aaaa, ecs: "2a02:c7f:1::/48"), ["2001:db8::12"])
        XCTAssertEqual(try answer("www.geo.test.", .aaaa, ecs: "2406:da14:5::/48"), ["2001:db8::14"])
        // Unknown location (record without coordinates; loopback source without ECS): the zone's
        // last-resort record.
        XCTAssertEqual(try answer("www.geo.test.", ecs: "89.160.20.0/24"), ["192.0.2.200"])
        XCTAssertEqual(try answer("www.geo.test.", ecs: nil), ["192.0.2.200"])
        // Other types fall through to the zone.
        XCTAssertEqual(try ask("www.geo.test.", .mx, ecs: "81.2.69.0/24").answerSection.map { $0.rdata.description },
                       ["10 ns1.geo.test."])
    }

    func testBackendGoingDownMovesTrafficAndComingBackRestoresIt() async throws {
        XCTAssertEqual(try answer("www.geo.test.", ecs: "81.2.69.0/24"), ["127.0.0.12"])
        await backends["127.0.0.12"]!.stop()
        // fall (2) × interval (0.2 s) + slack.
        let moved = try LiveServer.eventually(timeout: 3) { try self.answer("www.geo.test.", ecs: "81.2.69.0/24") == ["127.0.0.13"] }
        XCTAssertTrue(moved, "London down: London clients go to Frankfurt")
        try await backends["127.0.0.12"]!.start()
        let back = try LiveServer.eventually(timeout: 3) { try self.answer("www.geo.test.", ecs: "81.2.69.0/24") == ["127.0.0.12"] }
        XCTAssertTrue(back, "London up again after rise")
        // An HTTP 503 counts as down too.
        backends["127.0.0.11"]!.status = 503
        XCTAssertTrue(try LiveServer.eventually(timeout: 3) { try self.answer("www.geo.test.", ecs: "66.10.7.0/24") != ["127.0.0.11"] })
    }

    func post(_ path: String, body: String, contentType: String, token: String? = "s3cret") async throws -> (Int, String) {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(live.adminPort!)\(path)")
        req.method = .POST
        req.headers.add(name: "content-type", value: contentType)
        if let token { req.headers.add(name: "authorization", value: "Bearer \(token)") }
        req.body = .bytes(ByteBuffer(string: body))
        let r = try await http.execute(req, timeout: .seconds(5))
        let b = try await r.body.collect(upTo: 1 << 20)
        return (Int(r.status.code), String(buffer: b))
    }

    func testLoadReportsDriveLeastLoadAndSpillOver() async throws {
        let (denied, _) = try await post("/load", body: "ip=127.0.0.12&load=0.9", contentType: "application/x-www-form-urlencoded", token: nil)
        XCTAssertEqual(denied, 401, "mutating calls need the bearer token")
        // London over its capacity (0.8): London clients spill to the next nearest with room.
        let (ok, text) = try await post("/load", body: "ip=127.0.0.12&load=0.9", contentType: "application/x-www-form-urlencoded")
        XCTAssertEqual(ok, 200, text)
        XCTAssertTrue(try LiveServer.eventually(timeout: 2) { try self.answer("www.geo.test.", ecs: "81.2.69.0/24") == ["127.0.0.13"] })
        // least-load: the least loaded healthy member, wherever the client is.
        for s in Self.sites where s.address != "127.0.0.12" {
            let load = s.address == "127.0.0.16" ? 0.05 : 0.5
            let (code, t) = try await post("/load", body: #"{"ip": "\#(s.address)", "load": \#(load)}"#, contentType: "application/json")
            XCTAssertEqual(code, 200, t)
        }
        XCTAssertTrue(try LiveServer.eventually(timeout: 2) { try self.answer("ll.geo.test.", ecs: "126.16.5.0/24") == ["127.0.0.16"] })
    }

    func testAllDownFailsOpenOrServfailsAsConfigured() async throws {
        for s in Self.sites {
            let (code, t) = try await post("/backends/\(s.address)/force", body: #"{"state": "down"}"#, contentType: "application/json")
            XCTAssertEqual(code, 200, t)
        }
        XCTAssertTrue(try LiveServer.eventually(timeout: 2) { try self.ask("sf.geo.test.", ecs: "81.2.69.0/24").rcode == .servFail })
        XCTAssertEqual(try answer("www.geo.test.", ecs: "81.2.69.0/24"), ["127.0.0.12"], "fail open: nearest as if all were up")
    }

    // DESIGN §3 "Explain": `proxima route` runs the server's code and agrees with dig.
    func testRouteExplanationEqualsServedAnswer() throws {
        for ecs in ["81.2.69.0/24", "126.16.5.0/24", "101.160.1.0/24", "41.0.2.0/24", "177.32.1.0/24", "89.160.20.0/24"] {
            let served = try ask("www.geo.test.", ecs: ecs)
            let n = IPNetwork(ecs)!
            let cur = live.server.snapshotStore.current()
            let report = try XCTUnwrap(QueryEngine.explainRoute(
                name: try DomainName(parsing: "www.geo.test."), type: .a, source: IPAddress("127.0.0.1")!,
                ecs: ClientSubnet(address: n.address, sourcePrefixLength: UInt8(n.prefixLength)), now: 0,
                snapshot: cur.snapshot, states: cur.states, answerMaps: cur.answerMaps))
            let servedAnswer = served.answerSection.map { $0.rdata.description }
            if case .zoneFallback = report.outcome {
                XCTAssertEqual(servedAnswer, ["192.0.2.200"], ecs)
            } else {
                XCTAssertEqual(report.answers.map(\.description), servedAnswer, ecs)
            }
            XCTAssertEqual(report.ecsScope, served.edns?.clientSubnet?.scopePrefixLength, ecs)
        }
        // The CLI, from the same files, agrees too.
        let (status, out, err) = try ServerProcess.run(["route", "127.0.0.1", "--ecs", "81.2.69.0/24", "--json",
                                                        "--config", live.directory.appendingPathComponent("proxima.yaml").path])
        XCTAssertEqual(status, 0, err)
        let doc = try JSONDecoder().decode(RouteReportDocument.self, from: Data(out.utf8))
        XCTAssertEqual(doc.answers, try answer("www.geo.test.", ecs: "81.2.69.0/24"))
        XCTAssertEqual(doc.placement.source, "database")
        XCTAssertEqual(doc.placement.city, "London")
        XCTAssertEqual(doc.members.count, 7)
    }
}
