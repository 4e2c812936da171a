import DNSWire
import DNSZone
import GeoRouting
import XCTest
@testable import QueryEngine

/// A locator over a fixed table of networks: the engine's contract with the GeoIP shell, filled
/// with known places so ranking and ECS scope can be checked exactly.
struct TableLocator: ClientLocator {
    var table: [(IPNetwork, Coordinate)]
    func locate(_ address: IPAddress) -> Placement {
        let hits = table.filter { $0.0.contains(address) }.sorted { $0.0.prefixLength > $1.0.prefixLength }
        guard let h = hits.first else { return .unknown(network: nil) }
        return .located(Location(coordinate: h.1, source: .database, network: h.0))
    }
}

final class FastPathEquivalenceTests: XCTestCase {
    static let zoneText = """
        $ORIGIN fp.test.
        $TTL 300
        @     SOA ns1 hostmaster 1 7200 3600 1209600 60
              NS  ns1
              MX  10 mail
        ns1   A   192.0.2.53
        mail  A   192.0.2.25
        www   A   192.0.2.200
        www   TXT "routed name, static TXT"
        alias CNAME www
        *.w   A   192.0.2.99
        big   TXT "\(String(repeating: "x", count: 200))" "\(String(repeating: "y", count: 200))" "\(String(repeating: "z", count: 200))"
        """

    static func snapshot() throws -> EngineSnapshot {
        let zone = try ZoneParser.parse(text: zoneText, file: "fp.zone", origin: try DomainName(parsing: "fp.test."))
        let geo = try GeoData.parse(json: Array("""
            {"192.0.2.1": {"latitude": 51.5, "longitude": -0.12},
             "192.0.2.2": {"latitude": 35.68, "longitude": 139.69},
             "192.0.2.3": {"latitude": 40.71, "longitude": -74.0}}
            """.utf8), file: "geo.json", defaults: HealthCheckDefaults())
        let locator = TableLocator(table: [
            (IPNetwork("81.2.69.0/24")!, Coordinate(latitude: 51.5, longitude: -0.1)),
            (IPNetwork("126.16.0.0/16")!, Coordinate(latitude: 35.7, longitude: 139.7)),
            (IPNetwork("66.10.0.0/16")!, Coordinate(latitude: 40.7, longitude: -74.0)),
            (IPNetwork("66.10.1.16/28")!, Coordinate(latitude: 40.73, longitude: -74.17)),
        ])
        return EngineSnapshot(zones: try ZoneSet([zone]), routes: [try DomainName(parsing: "www.fp.test."): RouteSpec(pool: "default")],
                              geoData: geo, locator: locator, settings: EngineSettings(), generation: 1)
    }

    func query(_ name: String, _ type: RecordType, id: UInt16, edns: EDNS?, rd: Bool) -> [UInt8] {
        Message(header: Header(id: id, recursionDesired: rd), questions: [Question(name: try! DomainName(parsing: name), type: type)],
                edns: edns).serialized()
    }

    /// Every reply the fast path gives (cached replays and directly written routed answers) must be
    /// byte-for-byte what the reference engine answers for the same query.
    func testFastPathAnswersEqualEngineAnswers() throws {
        let snap = try Self.snapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1)
        var out = [UInt8](repeating: 0, count: 65535)
        let names = ["www.fp.test.", "WWW.Fp.TeSt.", "alias.fp.test.", "x.w.fp.test.", "nope.fp.test.", "fp.test.", "big.fp.test.",
                     "www.other.test."]
        let types: [RecordType] = [.a, .aaaa, .txt, .mx, .soa, .any]
        let ecsList: [ClientSubnet?] = [nil, ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24),
                                        ClientSubnet(address: IPAddress("126.16.5.0")!, sourcePrefixLength: 24),
                                        ClientSubnet(address: IPAddress("66.10.1.0")!, sourcePrefixLength: 24),
                                        ClientSubnet(address: IPAddress("0.0.0.0")!, sourcePrefixLength: 0)]
        var checked = 0
        for round in 0..<3 {
            for name in names {
                for type in types {
                    for ecs in ecsList {
                        for ednsOn in [false, true] {
                            if ecs != nil && !ednsOn { continue }
                            for transport in [QueryTransport.udp, .tcp] {
                                let edns = ednsOn ? EDNS(udpPayloadSize: 1232, dnssecOK: round == 1, options: ecs.map { [.clientSubnet($0)] } ?? []) : nil
                                let q = query(name, type, id: UInt16(checked & 0xffff), edns: edns, rd: round != 2)
                                let r = q.withUnsafeBytes { qb in
                                    out.withUnsafeMutableBytes { ob in
                                        cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: transport, now: 100,
                                                     states: BackendStates(), output: ob)
                                    }
                                }
                                guard case .reply(let n) = r else { XCTFail("no reply for \(name) \(type)"); continue }
                                // Routed nearest answers are deterministic (no ties here), so the engine's
                                // answer with any entropy must be identical.
                                let ctx = QueryContext(source: IPAddress("127.0.0.1")!, transport: transport, now: 100, entropy: 0)
                                guard case .response(let ref) = QueryEngine.respond(to: q, context: ctx, snapshot: snap, states: BackendStates()) else {
                                    XCTFail("engine gave no response"); continue
                                }
                                XCTAssertEqual(Array(out[0..<n]), ref, "\(name) \(type) ecs=\(String(describing: ecs)) edns=\(ednsOn) \(transport) round \(round)")
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 500)
    }

    // RFC 7871 §7.2.1: scope no longer than the located network; source 0 → scope 0.
    func testRFC7871_7_2_1_scopeFollowsLocatedNetwork() throws {
        let snap = try Self.snapshot()
        func scope(_ ecs: ClientSubnet) throws -> (UInt8?, [String]) {
            let q = query("www.fp.test.", .a, id: 1, edns: EDNS(options: [.clientSubnet(ecs)]), rd: false)
            guard case .response(let r) = QueryEngine.respond(to: q, context: QueryContext(source: IPAddress("127.0.0.1")!, transport: .udp),
                                                              snapshot: snap, states: BackendStates()) else { return (nil, []) }
            let m = try Message(parsing: r)
            return (m.edns?.clientSubnet?.scopePrefixLength, m.answerSection.map { $0.rdata.description })
        }
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24)).0, 24)
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24)).1, ["192.0.2.1"])
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("126.16.5.0")!, sourcePrefixLength: 24)).0, 16)
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("126.16.5.0")!, sourcePrefixLength: 24)).1, ["192.0.2.2"])
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("66.10.1.16")!, sourcePrefixLength: 28)).0, 28)
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("0.0.0.0")!, sourcePrefixLength: 0)).0, 0)
        // Unknown location for a routed name with a zone record: the zone's last-resort answer.
        XCTAssertEqual(try scope(ClientSubnet(address: IPAddress("8.8.8.0")!, sourcePrefixLength: 24)).1, ["192.0.2.200"])
    }
}
