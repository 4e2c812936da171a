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

    /// Synthesized names (`synthesize:`): the fast path writes positive A/AAAA answers directly from
    /// the packet and leaves everything else to the engine; every reply equals the engine's, for
    /// in-range, out-of-range, shadowed (zone data, wildcard, delegation), case-varied and reverse
    /// names, with and without EDNS, over both transports.
    func testSynthesizedAnswersEqualEngineAnswers() throws {
        let snap = try SynthesisTests.snapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1)
        var out = [UInt8](repeating: 0, count: 65535)
        let names = SynthesisTests.cases.map(\.1) + ["WORKSTATION99.office.example.test.", "node4095.office.example.test.",
                                                     "node4096.office.example.test.", "lab128.office.example.test."]
        let types: [RecordType] = [.a, .aaaa, .ptr, .txt]
        var checked = 0
        for round in 0..<2 {
            for name in names {
                for type in types {
                    for ednsOn in [false, true] {
                        for transport in [QueryTransport.udp, .tcp] {
                            let edns = ednsOn ? EDNS(udpPayloadSize: 1232, dnssecOK: round == 1) : nil
                            let q = query(name, type, id: UInt16(checked & 0xffff), edns: edns, rd: round == 0)
                            let r = q.withUnsafeBytes { qb in
                                out.withUnsafeMutableBytes { ob in
                                    cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: transport, now: 100,
                                                 states: BackendStates(), output: ob)
                                }
                            }
                            guard case .reply(let n) = r else { XCTFail("no reply for \(name) \(type)"); continue }
                            let ctx = QueryContext(source: IPAddress("127.0.0.1")!, transport: transport, now: 100)
                            guard case .response(let ref) = QueryEngine.respond(to: q, context: ctx, snapshot: snap, states: BackendStates()) else {
                                XCTFail("engine gave no response"); continue
                            }
                            XCTAssertEqual(Array(out[0..<n]), ref, "\(name) \(type) edns=\(ednsOn) \(transport) round \(round)")
                            // The rate limiter classes synthesized answers per zone, whichever path answered.
                            var routed = false
                            var zone: DomainName?
                            _ = QueryEngine.respond(to: q, context: ctx, snapshot: snap, states: BackendStates(), routed: &routed,
                                                    wildcardZone: &zone)
                            XCTAssertEqual(cache.lastWildcardZone, zone, "RRL class of \(name) \(type)")
                            checked += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 400)

        // Positive synthesized answers are written, not cached: 1,500 distinct names leave the
        // answer cache empty (they would otherwise evict the static answers).
        var fresh = AnswerCache(snapshot: snap, seed: 2)
        for i in 1...1500 {
            let (name, type): (String, RecordType)
            switch i % 3 {
            case 0: (name, type) = ("ip-10-0-\(i / 256)-\(i % 256).hosts.example.test.", .a)
            case 1: (name, type) = ("node\(i).office.example.test.", .aaaa)
            default: (name, type) = (SynthesisText.reverseName(.v6(0x2001_0db8_0000_0000, UInt64(i) << 20)).description, .ptr)
            }
            let q = query(name, type, id: 1, edns: EDNS(), rd: true)
            let r = q.withUnsafeBytes { qb in
                out.withUnsafeMutableBytes { ob in
                    fresh.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: .udp, now: 1, states: BackendStates(), output: ob)
                }
            }
            guard case .reply(let n) = r else { XCTFail("no reply for \(name)"); continue }
            XCTAssertEqual(try Message(parsing: Array(out[0..<n])).answerSection.count, 1, name)
        }
        XCTAssertTrue(fresh.entries.allSatisfy { $0 == nil }, "synthesized answers bypass the answer cache")
    }

    /// The answers the fast path remembers per client network follow health changes (a new states
    /// generation), load reports going stale (time) and never pin a drawn answer: every reply is
    /// still the engine's.
    func testRememberedAnswersFollowHealthLoadAndTime() throws {
        let lhr = IPAddress("192.0.2.1")!, nrt = IPAddress("192.0.2.2")!, jfk = IPAddress("192.0.2.3")!
        let tieA = IPAddress("192.0.2.41")!, tieB = IPAddress("192.0.2.42")!
        let geo = try GeoData(pools: [
            Pool(name: "default", members: [
                PoolMember(address: lhr, coordinate: Coordinate(latitude: 51.5, longitude: -0.12), capacity: 0.8),
                PoolMember(address: nrt, coordinate: Coordinate(latitude: 35.68, longitude: 139.69)),
                PoolMember(address: jfk, coordinate: Coordinate(latitude: 40.71, longitude: -74.0)),
            ]),
            // Two members equally far from (0, 0): every answer is a weighted draw.
            Pool(name: "tie", members: [
                PoolMember(address: tieA, coordinate: Coordinate(latitude: 0, longitude: 10)),
                PoolMember(address: tieB, coordinate: Coordinate(latitude: 0, longitude: -10)),
            ]),
        ])
        let base = try Self.snapshot()
        let snap = EngineSnapshot(zones: base.zones, routes: [
            try DomainName(parsing: "www.fp.test."): RouteSpec(pool: "default"),
            try DomainName(parsing: "mail.fp.test."): RouteSpec(pool: "tie", tieBand: 0.01),
        ], geoData: geo, locator: TableLocator(table: [
            (IPNetwork("81.2.69.0/24")!, Coordinate(latitude: 51.5, longitude: -0.1)),
            (IPNetwork("66.10.0.0/16")!, Coordinate(latitude: 40.7, longitude: -74.0)),
            (IPNetwork("66.10.1.16/28")!, Coordinate(latitude: 40.73, longitude: -74.17)),
            (IPNetwork("41.0.0.0/8")!, Coordinate(latitude: 0, longitude: 0)),
        ]), settings: EngineSettings(loadMaxAge: 30), generation: 1)
        var cache = AnswerCache(snapshot: snap, seed: 3)
        var out = [UInt8](repeating: 0, count: 65535)
        var id: UInt16 = 0

        /// Asks `name` from `subnet` three times (learn, remember, replay) and checks each reply
        /// against the engine; returns the answered addresses.
        func ask(_ name: String, _ subnet: String, prefix: UInt8 = 24, states: BackendStates, generation: UInt64, now: Double,
                 file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
            var answers: [String] = []
            for _ in 0..<3 {
                id &+= 1
                let ecs = ClientSubnet(address: IPAddress(subnet)!, sourcePrefixLength: prefix)
                let q = query(name, .a, id: id, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]), rd: false)
                let r = q.withUnsafeBytes { qb in
                    out.withUnsafeMutableBytes { ob in
                        cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: .udp, now: now, states: states,
                                     statesGeneration: generation, output: ob)
                    }
                }
                guard case .reply(let n) = r else { XCTFail("no reply", file: file, line: line); return [] }
                let reply = try Message(parsing: Array(out[0..<n]))
                answers.append(contentsOf: reply.answerSection.map { $0.rdata.description })
                if name.hasPrefix("www") {
                    let ctx = QueryContext(source: IPAddress("127.0.0.1")!, transport: .udp, now: now, entropy: 0)
                    guard case .response(let ref) = QueryEngine.respond(to: q, context: ctx, snapshot: snap, states: states) else {
                        XCTFail("engine gave no response", file: file, line: line); return []
                    }
                    XCTAssertEqual(Array(out[0..<n]), ref, "\(subnet) at \(now), generation \(generation)", file: file, line: line)
                }
            }
            return answers
        }

        let london = "81.2.69.0", newYork = "66.10.1.0"
        XCTAssertEqual(try ask("www.fp.test.", london, states: BackendStates(), generation: 1, now: 100), ["192.0.2.1", "192.0.2.1", "192.0.2.1"])
        // The London network's answer is remembered.
        let key = AnswerCache.locationKey(IPAddress(london)!).key
        let table = try XCTUnwrap(cache.locations)
        let slot = try XCTUnwrap(table.find(key, now: 100))
        XCTAssertNotEqual(table.base[slot].memoRoute, 0)
        XCTAssertEqual(table.base[slot].memoLo, 0xc000_0201)

        // A network narrower than /24 (66.10.1.16/28) is remembered per exact address.
        XCTAssertEqual(try ask("www.fp.test.", "66.10.1.16", prefix: 28, states: BackendStates(), generation: 1, now: 100),
                       ["192.0.2.3", "192.0.2.3", "192.0.2.3"])
        let exact = try XCTUnwrap(AnswerCache.exactKey(IPAddress("66.10.1.16")!))
        XCTAssertNotNil(table.find(exact, now: 100))
        XCTAssertNil(table.find(AnswerCache.locationKey(IPAddress("66.10.1.16")!).key, now: 100), "not for the whole /24")
        XCTAssertEqual(try ask("www.fp.test.", "66.10.1.0", states: BackendStates(), generation: 1, now: 100),
                       ["192.0.2.3", "192.0.2.3", "192.0.2.3"])

        // London reports load over its capacity (generation 2): New York until the report is stale.
        let full = BackendStates(byAddress: [lhr: BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 100))])
        XCTAssertEqual(try ask("www.fp.test.", london, states: full, generation: 2, now: 110), ["192.0.2.3", "192.0.2.3", "192.0.2.3"])
        XCTAssertEqual(try ask("www.fp.test.", london, states: full, generation: 2, now: 130), ["192.0.2.3", "192.0.2.3", "192.0.2.3"])
        // Same generation, 30.5 s after the report: stale, London again.
        XCTAssertEqual(try ask("www.fp.test.", london, states: full, generation: 2, now: 130.5), ["192.0.2.1", "192.0.2.1", "192.0.2.1"])
        // London's probe fails (generation 3).
        let down = BackendStates(byAddress: [lhr: BackendStatus(probeHealthy: false)])
        XCTAssertEqual(try ask("www.fp.test.", london, states: down, generation: 3, now: 131), ["192.0.2.3", "192.0.2.3", "192.0.2.3"])
        XCTAssertEqual(try ask("www.fp.test.", newYork, states: down, generation: 3, now: 131), ["192.0.2.3", "192.0.2.3", "192.0.2.3"])
        // Back up (generation 4).
        XCTAssertEqual(try ask("www.fp.test.", london, states: BackendStates(), generation: 4, now: 132), ["192.0.2.1", "192.0.2.1", "192.0.2.1"])

        // Drawn answers are never remembered: one network sees both tied members.
        _ = try ask("mail.fp.test.", "41.1.2.0", states: BackendStates(), generation: 4, now: 133)  // learned
        var seen = Set<String>()
        for _ in 0..<20 { seen.formUnion(try ask("mail.fp.test.", "41.1.2.0", states: BackendStates(), generation: 4, now: 133)) }
        XCTAssertEqual(seen, ["192.0.2.41", "192.0.2.42"])
    }

    /// Clients no locator places (no database record) are answered on the fast path, with the
    /// engine's rule: ranked with no coordinate (every healthy member of the best tier in the band:
    /// a draw), scoped to the source prefix or the network `locate` reported, remembered in the
    /// location table; a `nearest` name with zone records of its own still gets those (the engine).
    /// Each reply equals the engine's given the same entropy.
    func testUnplacedClientsAnsweredOnFastPathAsTheEngineDoes() throws {
        struct UnplacedLocator: ClientLocator {
            var unplacedIsFinal = true
            func locate(_ address: IPAddress) -> Placement {
                if IPNetwork("81.2.69.0/24")!.contains(address) {
                    return .located(Location(coordinate: Coordinate(latitude: 51.5, longitude: -0.1), source: .database,
                                             network: IPNetwork("81.2.69.0/24")!))
                }
                // A database network without coordinates (what GeoLite2 has for some ranges).
                if IPNetwork("10.20.0.0/16")!.contains(address) { return .unknown(network: IPNetwork("10.20.0.0/16")!) }
                return .unknown(network: nil)
            }
        }
        let lhr = IPAddress("192.0.2.1")!, nrt = IPAddress("192.0.2.2")!, jfk = IPAddress("192.0.2.3")!
        let base = try Self.snapshot()
        let zone = try ZoneParser.parse(text: Self.zoneText + "\ntwo 60 A 192.0.2.202\ntwo 60 A 192.0.2.201\n", file: "fp.zone",
                                        origin: try DomainName(parsing: "fp.test."))
        let snap = EngineSnapshot(zones: try ZoneSet([zone]), routes: [
            try DomainName(parsing: "www.fp.test."): RouteSpec(pool: "default"),   // has its own A record
            try DomainName(parsing: "two.fp.test."): RouteSpec(pool: "default"),   // two of its own
            try DomainName(parsing: "pool.fp.test."): RouteSpec(pool: "default"),  // only the pool
        ], geoData: base.geoData, locator: UnplacedLocator(), settings: EngineSettings(), generation: 1)
        var cache = AnswerCache(snapshot: snap, seed: 11)
        var out = [UInt8](repeating: 0, count: 65535)
        var id: UInt16 = 0

        /// Asks `name` with ECS `subnet`/24 over `transport`; checks the reply against the engine
        /// with the entropy the cache is about to use; returns (answers, scope).
        func ask(_ name: String, _ subnet: String, states: BackendStates, generation: UInt64 = 1,
                 transport: QueryTransport = .udp,
                 file: StaticString = #filePath, line: UInt = #line) throws -> ([String], UInt8?) {
            id &+= 1
            let ecs = ClientSubnet(address: IPAddress(subnet)!, sourcePrefixLength: 24)
            let q = query(name, .a, id: id, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]), rd: false)
            var probe = cache.rng
            probe ^= probe >> 12; probe ^= probe << 25; probe ^= probe >> 27
            let entropy = probe &* 0x2545_f491_4f6c_dd1d
            let r = q.withUnsafeBytes { qb in
                out.withUnsafeMutableBytes { ob in
                    cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: transport, now: 100, states: states,
                                 statesGeneration: generation, output: ob)
                }
            }
            guard case .reply(let n) = r else { XCTFail("no reply", file: file, line: line); return ([], nil) }
            let ctx = QueryContext(source: IPAddress("127.0.0.1")!, transport: transport, now: 100, entropy: entropy)
            guard case .response(let ref) = QueryEngine.respond(to: q, context: ctx, snapshot: cache.snapshot, states: states) else {
                XCTFail("engine gave no response", file: file, line: line); return ([], nil)
            }
            XCTAssertEqual(Array(out[0..<n]), ref, "\(name) from \(subnet) over \(transport)", file: file, line: line)
            let reply = try Message(parsing: Array(out[0..<n]))
            var scope: UInt8?
            for case .clientSubnet(let c) in reply.edns?.options ?? [] { scope = c.scopePrefixLength }
            return (reply.answerSection.map { $0.rdata.description }, scope)
        }

        // Every member healthy: a draw among all three, each reply the engine's for its entropy.
        var seen: Set<String> = []
        for k in 0..<60 {
            let (answers, scope) = try ask("pool.fp.test.", "198.18.\(k % 4).0", states: BackendStates(),
                                           transport: k % 3 == 0 ? .tcp : .udp)
            XCTAssertEqual(answers.count, 1)
            XCTAssertEqual(scope, 24, "no network from the locator: the source prefix")
            seen.formUnion(answers)
        }
        XCTAssertEqual(seen, ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        // The unplaced networks are remembered in the location table (the engine path never fills it).
        let table = try XCTUnwrap(cache.locations)
        let slot = try XCTUnwrap(table.find(AnswerCache.exactKey(IPAddress("198.18.1.0")!)!, now: 100))
        XCTAssertEqual(table.base[slot].placement, .unplaced)

        // A network the locator reports without coordinates scopes the answer to it (/16).
        let (_, wide) = try ask("pool.fp.test.", "10.20.30.0", states: BackendStates())
        XCTAssertEqual(wide, 16)

        // One healthy member: no draw, the same answer every time (and remembered).
        let onlyTokyo = BackendStates(byAddress: [lhr: BackendStatus(probeHealthy: false), jfk: BackendStatus(probeHealthy: false)])
        for _ in 0..<3 {
            XCTAssertEqual(try ask("pool.fp.test.", "198.18.7.0", states: onlyTokyo, generation: 2).0, [nrt.description])
        }

        // A name with zone records of its own: an unplaced client gets the zone's record.
        XCTAssertEqual(try ask("www.fp.test.", "198.18.9.0", states: BackendStates(), generation: 3).0, ["192.0.2.200"])
        for transport in [QueryTransport.udp, .tcp] {
            for subnet in ["198.18.9.0", "10.20.1.0"] {
                XCTAssertEqual(Set(try ask("two.fp.test.", subnet, states: BackendStates(), generation: 3, transport: transport).0),
                               ["192.0.2.201", "192.0.2.202"])
            }
        }
        XCTAssertEqual(try ask("www.fp.test.", "198.18.9.0", states: BackendStates(), generation: 3).0, ["192.0.2.200"])
        // A placed client still gets its nearest.
        XCTAssertEqual(try ask("pool.fp.test.", "81.2.69.0", states: BackendStates(), generation: 3).0, [lhr.description])

        // A locator with a remote fallback (ipstack) may place the address later: answered the
        // same way, but not remembered.
        let remote = EngineSnapshot(zones: snap.zones, routes: snap.routes, geoData: snap.geoData,
                                    locator: UnplacedLocator(unplacedIsFinal: false), settings: EngineSettings(), generation: 2)
        cache.replace(snapshot: remote)
        for _ in 0..<3 {
            XCTAssertEqual(try ask("pool.fp.test.", "198.18.7.0", states: onlyTokyo, generation: 4).0, [nrt.description])
        }
        XCTAssertNil(cache.locations.flatMap { $0.find(AnswerCache.exactKey(IPAddress("198.18.7.0")!)!, now: 100) })
    }

    /// The batch prefetch reads the ECS address a resolver puts at the end of the packet, and
    /// points at the location-table set the answer will read.
    func testPrefetchFindsTrailingClientSubnet() throws {
        func packet(_ ecs: ClientSubnet?) -> [UInt8] {
            query("www.fp.test.", .a, id: 9, edns: EDNS(options: ecs.map { [.clientSubnet($0)] } ?? []), rd: false)
        }
        func read(_ bytes: [UInt8]) -> IPAddress? { bytes.withUnsafeBytes { AnswerCache.trailingClientSubnetAddress($0) } }
        XCTAssertEqual(read(packet(ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24))), IPAddress("81.2.69.0"))
        XCTAssertEqual(read(packet(ClientSubnet(address: IPAddress("81.2.69.128")!, sourcePrefixLength: 25))), IPAddress("81.2.69.128"))
        XCTAssertEqual(read(packet(ClientSubnet(address: IPAddress("2001:db8:aa::")!, sourcePrefixLength: 48))), IPAddress("2001:db8:aa::"))
        XCTAssertEqual(read(packet(ClientSubnet(address: IPAddress("2001:db8:1:2:3::")!, sourcePrefixLength: 80))),
                       IPAddress("2001:db8:1:2:3::"))
        XCTAssertNil(read(packet(ClientSubnet(address: IPAddress("0.0.0.0")!, sourcePrefixLength: 0))), "source 0: use the packet's source")
        XCTAssertNil(read(packet(nil)))
        XCTAssertNil(read(query("www.fp.test.", .a, id: 9, edns: nil, rd: false)))

        var cache = AnswerCache(snapshot: try Self.snapshot(), seed: 1)
        let ecsPacket = packet(ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24))
        XCTAssertNil(ecsPacket.withUnsafeBytes { cache.locationPrefetchAddresses(query: $0, source: IPAddress("127.0.0.1")!) },
                     "no table before the first routed query")
        var out = [UInt8](repeating: 0, count: 65535)
        for _ in 0..<2 {
            _ = ecsPacket.withUnsafeBytes { qb in
                out.withUnsafeMutableBytes { ob in
                    cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: .udp, now: 1, states: BackendStates(),
                                 statesGeneration: 1, output: ob)
                }
            }
        }
        let table = try XCTUnwrap(cache.locations)
        let key = AnswerCache.locationKey(IPAddress("81.2.69.0")!).key
        let slot = try XCTUnwrap(table.find(key, now: 1))
        let lines = try XCTUnwrap(ecsPacket.withUnsafeBytes { cache.locationPrefetchAddresses(query: $0, source: IPAddress("127.0.0.1")!) })
        XCTAssertTrue([lines.0, lines.1].contains(UnsafeRawPointer(table.base + (slot & ~1))))
    }

    /// Two choices of set per key: at half load every network stays resident, and a key is always
    /// refreshed in place (one slot per key), where one fixed two-way set per key loses the networks of
    /// every set that three of them hash to.
    func testLocationTableKeepsHalfALoadResident() throws {
        let table = try XCTUnwrap(LocationTable(slots: 4096))
        // Scattered /24s (a fixed xorshift sequence), as ECS from many resolvers' clients arrive.
        var x: UInt64 = 0x9e37_79b9_7f4a_7c15
        var keys: [UInt64] = []
        while keys.count < 2048 {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            let k = AnswerCache.locationKey(.v4(UInt32(truncatingIfNeeded: x) & 0xffff_ff00)).key
            if !keys.contains(k) { keys.append(k) }
        }
        for k in keys {
            _ = table.insert(k, coordinate: Coordinate(latitude: 1, longitude: 2), networkPrefix: 24, expires: .infinity, now: 0)
        }
        let resident = keys.filter { table.find($0, now: 0) != nil }.count
        XCTAssertEqual(resident, keys.count)
        // Re-inserting (a stale refresh) reuses the key's slot instead of duplicating it.
        let before = table.find(keys[7], now: 0)
        XCTAssertEqual(table.insert(keys[7], coordinate: Coordinate(latitude: 3, longitude: 4), networkPrefix: 16,
                                    expires: .infinity, now: 0), before)
        XCTAssertEqual(table.base[before!].networkPrefix, 16)
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
