import AsyncHTTPClient
import DNSWire
import Foundation
import GeoIP
import GeoRouting
import NIOCore
import ProximaApp
import QueryEngine
import XCTest

/// Issue #12.1 end to end: the server builds the answer maps off the query path and answers ECS
/// queries with the widest exact scope. Checked over real UDP by sampling addresses inside every
/// returned scope and asking again for each (ECS /32): the answer must be the same, and the
/// nearest healthy member (within the tie band) by the fixture database's coordinates.
final class AnswerMapLiveTests: XCTestCase {
    static let sites: [(address: String, lat: Double, lon: Double)] = [
        ("127.0.0.11", 40.71, -74.01), ("127.0.0.12", 51.51, -0.13), ("127.0.0.13", 50.11, 8.68),
        ("127.0.0.14", 35.68, 139.69), ("127.0.0.15", -33.87, 151.21), ("127.0.0.16", -23.55, -46.63),
        ("127.0.0.17", -26.20, 28.04), ("127.0.0.18", 48.86, 2.35),
    ]

    static let zone = """
        $ORIGIN geo.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.200
        tb   A   192.0.2.201
        """

    /// `tb` has a wide tie band, so many clients have several equally near members (drawn per
    /// query); `www` the default 5%.
    static let config = """
        listen:
          - 127.0.0.1:0
        udp_threads: 2
        log_level: warning
        rrl:
          enabled: false   # thousands of answers to one source in a few seconds
        zones:
          - origin: geo.test.
            file: geo.zone
        geoip:
          database: geo.mmdb
          overrides:
            - network: 5.0.0.0/9
              latitude: 48.86
              longitude: 2.35
            - network: 5.128.0.0/9
              latitude: 48.80
              longitude: 2.30
        geo_data: geo_data.json
        routing:
          names:
            www.geo.test.: { pool: web }
            tb.geo.test.: { pool: web, tie_band: 0.5 }
        admin:
          listen: 127.0.0.1:0
          token: s3cret
        """

    static var geoData: String {
        let members = sites.map { #"{"address": "\#($0.address)", "latitude": \#($0.lat), "longitude": \#($0.lon)}"# }
        return #"{"pools": {"web": {"members": [\#(members.joined(separator: ", "))]}}}"#
    }

    static let networks = ["66.10.0.0/16", "47.144.0.0/16", "24.114.0.0/16", "81.2.69.0/24", "85.10.0.0/17",
                           "90.0.0.0/16", "126.16.0.0/16", "116.12.0.0/16", "49.32.0.0/16", "101.160.0.0/14",
                           "49.224.0.0/16", "177.32.0.0/14", "181.0.0.0/16", "41.0.0.0/16", "105.112.0.0/16",
                           "41.32.0.0/16", "130.10.0.0/24", "5.0.0.0/8"].map { IPNetwork($0)! }

    var live: LiveServer!
    var http: HTTPClient!
    var db: MaxMindDatabase!

    override func setUp() async throws {
        let fixture = LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")
        live = try await LiveServer.start(config: Self.config,
                                          files: ["geo.zone": Self.zone, "geo_data.json": Self.geoData],
                                          copies: ["geo.mmdb": fixture])
        http = HTTPClient(eventLoopGroupProvider: .singleton)
        db = try MaxMindDatabase(path: fixture.path, precomputeCoordinates: true)
        XCTAssertTrue(LiveServer.eventually(timeout: 10) { self.live.server.snapshotStore.answerMaps != nil },
                      "the answer maps are built after start")
    }

    override func tearDown() async throws {
        try await http.shutdown()
        await live.stop()
    }

    struct AskFailure: Error, CustomStringConvertible {
        var description: String
    }

    func ask(_ name: String, _ a: IPAddress, prefix: Int) throws -> (answers: [String], scope: Int?) {
        let ecs = ClientSubnet(address: a.masked(to: prefix), sourcePrefixLength: UInt8(prefix))
        let m: Message
        do {
            m = try live.udp(name, .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
        } catch {
            throw AskFailure(description: "\(name) A, ECS \(a.masked(to: prefix))/\(prefix): \(error)")
        }
        return (m.answerSection.map { $0.rdata.description }, m.edns?.clientSubnet.map { Int($0.scopePrefixLength) })
    }

    /// Where the server places `a`: the config overrides, else the database.
    func place(_ a: IPAddress) -> Coordinate? {
        if case .v4(let v) = a, v >> 24 == 5 {
            return v >> 23 & 1 == 0 ? Coordinate(latitude: 48.86, longitude: 2.35) : Coordinate(latitude: 48.80, longitude: 2.30)
        }
        return db.quickLocate(a)?.coordinate
    }

    /// Members within `band` of the nearest healthy one from `c`.
    func nearest(_ c: Coordinate, band: Double, down: Set<String> = []) -> Set<String> {
        let d = Self.sites.filter { !down.contains($0.address) }
            .map { ($0.address, haversineDistance(c, Coordinate(latitude: $0.lat, longitude: $0.lon))) }
        let best = d.map(\.1).min()!
        return Set(d.filter { $0.1 <= best * (1 + band) + 1e-9 }.map(\.0))
    }

    /// Sends `count` random /24s from the fixture networks; for each reply, asks for `inside`
    /// random addresses of its scope (ECS /32) and checks the answers. Returns the scopes seen.
    @discardableResult
    func checkScopes(_ name: String, band: Double, count: Int, inside: Int = 3, down: Set<String> = [],
                     file: StaticString = #filePath, line: UInt = #line) throws -> [Int] {
        var rng = SeededGenerator()
        var scopes: [Int] = []
        for _ in 0..<count {
            let net = Self.networks.randomElement(using: &rng)!
            guard case .v4(let base) = net.address else { continue }
            let a = IPAddress.v4((base | (UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32(net.prefixLength))) & ~0xff)
            let (answers, scope) = try ask(name, a, prefix: 24)
            guard let scope, let c = place(a) else {
                XCTFail("\(a)/24: no scope or not placed", file: file, line: line)
                continue
            }
            scopes.append(scope)
            let candidates = nearest(c, band: band, down: down)
            XCTAssertTrue(Set(answers).isSubset(of: candidates), "\(a)/24 → \(answers), nearest \(candidates)", file: file, line: line)
            let hostBits = UInt32(32 - scope)
            for _ in 0..<inside {
                let host = hostBits == 0 ? 0 : UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32(scope)
                guard case .v4(let v) = a.masked(to: scope) else { continue }
                let b = IPAddress.v4(v | host)
                guard let cb = place(b) else {
                    XCTFail("\(b) inside \(a)/\(scope) is not placed", file: file, line: line)
                    continue
                }
                // Same choice everywhere in the scope: the candidate set, not just one draw.
                XCTAssertEqual(nearest(cb, band: band, down: down), candidates, "\(b) inside \(a)/\(scope)", file: file, line: line)
                let (other, _) = try ask(name, b, prefix: 32)
                XCTAssertTrue(Set(other).isSubset(of: candidates), "\(b) inside \(a)/\(scope) → \(other)", file: file, line: line)
                if band < 0.06 && candidates.count == 1 {
                    XCTAssertEqual(other, answers, "\(b) inside \(a)/\(scope)", file: file, line: line)
                }
            }
        }
        return scopes
    }

    // RFC 7871 §7.2.1, issue #12.1: every address inside a returned scope is answered the same
    // nearest member; scopes are wider than the database's records where answers agree.
    func testEveryAddressInsideAReturnedScopeGetsTheNearestMember() throws {
        let scopes = try checkScopes("www.geo.test.", band: 0.05, count: 150)
        XCTAssertTrue(scopes.contains { $0 < 24 })
        // Merges: New York's records around Newark's /28 → one /16; the two Paris overrides → 5.0.0.0/8.
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("66.10.7.0")!, prefix: 24).scope, 16)
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("66.10.1.0")!, prefix: 24).scope, 16)
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("5.200.1.0")!, prefix: 24).scope, 8)
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("5.200.1.0")!, prefix: 24).answers, ["127.0.0.18"])
        // Not placed (a gap): today's path, the zone's last-resort record, scope of the gap.
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("8.8.8.0")!, prefix: 24).answers, ["192.0.2.200"])
    }

    // Issue #12.1 "per-query state": inside a wide tie band the answer is drawn per query; the scope
    // covers only clients whose set of equally near members is the same.
    func testDrawnAnswersKeepHonestScopes() throws {
        try checkScopes("tb.geo.test.", band: 0.5, count: 120)
        // Cairo: Frankfurt, Paris and London are within 50% of the nearest; several answers appear.
        var seen = Set<String>()
        for _ in 0..<64 { seen.formUnion(try ask("tb.geo.test.", IPAddress("41.32.5.0")!, prefix: 24).answers) }
        XCTAssertGreaterThan(seen.count, 1, "the draw still spreads the tie band")
    }

    func force(_ address: String, _ state: String) async throws {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(live.adminPort!)/backends/\(address)/force")
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        req.headers.add(name: "authorization", value: "Bearer s3cret")
        req.body = .bytes(ByteBuffer(string: #"{"state": "\#(state)"}"#))
        let r = try await http.execute(req, timeout: .seconds(5))
        XCTAssertEqual(r.status.code, 200)
    }

    // A health change rebuilds the maps: answers and scopes follow, and stay exact.
    func testHealthChangeRebuildsTheMap() async throws {
        let before = try XCTUnwrap(live.server.snapshotStore.answerMaps)
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("81.2.69.0")!, prefix: 24).answers, ["127.0.0.12"])
        try await force("127.0.0.12", "down")
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) {
            guard let maps = self.live.server.snapshotStore.answerMaps, maps !== before else { return false }
            return try self.ask("www.geo.test.", IPAddress("81.2.69.0")!, prefix: 24).answers == ["127.0.0.18"]
        }, "London down: a new map answers London's clients from Paris")
        try checkScopes("www.geo.test.", band: 0.05, count: 80, down: ["127.0.0.12"])
        try await force("127.0.0.12", "up")
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) {
            guard self.live.server.snapshotStore.answerMaps != nil else { return false }
            return try self.ask("www.geo.test.", IPAddress("81.2.69.0")!, prefix: 24).answers == ["127.0.0.12"]
        })
    }

    // A load report that moves no answer (no capacity, no least-load route here) keeps the maps:
    // the states change, the maps stay the same object, and no rebuild happens.
    func testLoadReportThatMovesNoAnswerKeepsTheMaps() async throws {
        let before = try XCTUnwrap(live.server.snapshotStore.answerMaps)
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(live.adminPort!)/load")
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        req.headers.add(name: "authorization", value: "Bearer s3cret")
        req.body = .bytes(ByteBuffer(string: #"{"ip": "127.0.0.12", "load": 0.97}"#))
        let r = try await http.execute(req, timeout: .seconds(5))
        XCTAssertEqual(r.status.code, 200)
        XCTAssertTrue(LiveServer.eventually(timeout: 5) {
            self.live.server.snapshotStore.current().states.status(of: IPAddress("127.0.0.12")!).lastLoad != nil
        })
        XCTAssertTrue(live.server.snapshotStore.answerMaps === before)
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("81.2.69.0")!, prefix: 24).answers, ["127.0.0.12"])
    }

    // Issue #12.3: a reload of only the zone files reuses the maps (same database object,
    // overrides, pools and settings): the new snapshot's set builds none.
    func testZoneReloadReusesTheMaps() throws {
        let before = try XCTUnwrap(live.server.snapshotStore.answerMaps)
        XCTAssertGreaterThan(before.builtCount, 0)
        try live.write("geo.zone", Self.zone.replacingOccurrences(of: "1 7200", with: "2 7200"))
        XCTAssertTrue(live.server.reload(reason: "test: zone only"))
        XCTAssertTrue(LiveServer.eventually(timeout: 10) {
            guard let maps = self.live.server.snapshotStore.answerMaps else { return false }
            return maps.snapshotGeneration != before.snapshotGeneration
        })
        XCTAssertEqual(live.server.snapshotStore.answerMaps?.builtCount, 0)
        XCTAssertEqual(try ask("www.geo.test.", IPAddress("66.10.7.0")!, prefix: 24).scope, 16)
    }

    // `route` (admin API and engine) reports the scope the server answers with.
    func testExplanationReportsTheMapScope() throws {
        for ecs in ["66.10.7.0/24", "81.2.69.0/24", "5.3.0.0/24", "8.8.8.0/24"] {
            let n = IPNetwork(ecs)!
            let served = try ask("www.geo.test.", n.address, prefix: 24)
            let cur = live.server.snapshotStore.current()
            let report = try XCTUnwrap(QueryEngine.explainRoute(
                name: try DomainName(parsing: "www.geo.test."), type: .a, source: IPAddress("127.0.0.1")!,
                ecs: ClientSubnet(address: n.address, sourcePrefixLength: 24), now: 0,
                snapshot: cur.snapshot, states: cur.states, answerMaps: cur.answerMaps))
            XCTAssertEqual(report.ecsScope.map(Int.init), served.scope, ecs)
        }
    }

    // `proxima route --ecs` without a server (the config loaded afresh) reports the same scope and
    // answer the server gives: it builds the maps as the server does.
    func testOfflineRouteReportsTheServedScope() async throws {
        guard case .success(let rt) = RuntimeLoader.load(configPath: live.directory.appendingPathComponent("proxima.yaml").path,
                                                         precomputeCoordinates: true) else {
            return XCTFail("the config loads")
        }
        for ecs in ["66.10.7.0/24", "66.10.1.0/24", "81.2.69.0/24", "5.3.0.0/24", "5.200.1.0/24", "8.8.8.0/24"] {
            let n = IPNetwork(ecs)!
            let served = try ask("www.geo.test.", n.address, prefix: 24)
            let report = try await RouteExplainer.explain(runtime: rt, name: try DomainName(parsing: "www.geo.test."),
                                                          type: .a, source: IPAddress("127.0.0.1")!,
                                                          ecs: ClientSubnet(address: n.address, sourcePrefixLength: 24))
            XCTAssertEqual(report.ecsScope.map(Int.init), served.scope, ecs)
            if ecs == "8.8.8.0/24" {
                // Not placed: the report says the zone answers (its last-resort record).
                XCTAssertTrue(report.answers.isEmpty, ecs)
                XCTAssertEqual(served.answers, ["192.0.2.200"], ecs)
            } else {
                XCTAssertEqual(report.answers.map(\.description), served.answers, ecs)
            }
        }
        // The command itself (`proxima route --ecs`), from the same files.
        for ecs in ["66.10.7.0/24", "5.3.0.0/24"] {
            let served = try ask("www.geo.test.", IPNetwork(ecs)!.address, prefix: 24)
            let (status, out, err) = try ServerProcess.run(["route", "127.0.0.1", "--ecs", ecs, "--json", "--name", "www.geo.test",
                                                            "--config", live.directory.appendingPathComponent("proxima.yaml").path])
            XCTAssertEqual(status, 0, err)
            let doc = try JSONDecoder().decode(RouteReportDocument.self, from: Data(out.utf8))
            XCTAssertEqual(doc.ecsScope.map(Int.init), served.scope, ecs)
        }
    }
}
