import DNSWire
import Foundation
import GeoIP
import GeoRouting
import XCTest

/// Issue #12.1: the answer map over the fixture database (built by Scripts/mmdb/build_mmdb.py),
/// with overrides laid over it. Every block must be exact: each address in it gets the block's
/// answer key, computed independently from the address's own location.
final class AnswerMapTests: XCTestCase {
    static let sites: [(String, Double, Double)] = [
        ("127.0.0.11", 40.71, -74.01),   // New York
        ("127.0.0.12", 51.51, -0.13),    // London
        ("127.0.0.13", 50.11, 8.68),     // Frankfurt
        ("127.0.0.14", 35.68, 139.69),   // Tokyo
        ("127.0.0.15", -33.87, 151.21),  // Sydney
        ("127.0.0.16", -23.55, -46.63),  // São Paulo
        ("127.0.0.17", -26.20, 28.04),   // Johannesburg
        ("2001:db8::12", 51.51, -0.13),
        ("2001:db8::13", 50.11, 8.68),
    ]

    static func geo(_ sites: [(String, Double, Double)] = sites) throws -> GeoData {
        let members = sites.map { PoolMember(address: IPAddress($0.0)!, coordinate: Coordinate(latitude: $0.1, longitude: $0.2)) }
        return try GeoData(pools: [Pool(name: "web", members: members)])
    }

    /// The fixture networks (IPv4), where random located addresses are drawn from.
    static let networks = ["66.10.0.0/16", "47.144.0.0/16", "24.114.0.0/16", "81.2.69.0/24", "85.10.0.0/17",
                           "90.0.0.0/16", "126.16.0.0/16", "116.12.0.0/16", "49.32.0.0/16", "101.160.0.0/14",
                           "49.224.0.0/16", "177.32.0.0/14", "181.0.0.0/16", "41.0.0.0/16", "105.112.0.0/16",
                           "41.32.0.0/16", "130.10.0.0/24", "89.160.20.0/24"].map { IPNetwork($0)! }

    struct Setup {
        var db: MaxMindDatabase
        var overrides: LocationOverrides
        var geo: GeoData
        var route: RouteSpec
        var states: ResolvedBackendStates

        /// What the locator's quick path says about `a`, as a key (nil: not placed).
        func expectedKey(_ a: IPAddress, answer: AddressFamily) -> AnswerKey? {
            let coordinate: Coordinate?
            if let o = overrides.lookup(a) {
                coordinate = o.coordinate
            } else {
                coordinate = db.quickLocate(a)?.coordinate
            }
            return coordinate.flatMap {
                Router.answerKey(route: route, pools: geo, client: $0, family: answer, states: states, now: 0, loadMaxAge: 30)
            }
        }

        func map(client: AddressFamily, answer: AddressFamily) -> AnswerMap {
            AnswerMap.build(source: db, family: client, overrides: overrides.entries) { c in
                Router.answerKey(route: route, pools: geo, client: c, family: answer, states: states, now: 0, loadMaxAge: 30)
            }
        }
    }

    func setup(overrides: [LocationOverride] = [], states: BackendStates = BackendStates(),
               route: RouteSpec = RouteSpec(pool: "web"), sites: [(String, Double, Double)] = sites) throws -> Setup {
        let geo = try Self.geo(sites)
        return Setup(db: try MaxMindDatabase(path: Fixtures.cityV6, precomputeCoordinates: true),
                     overrides: try LocationOverrides(overrides), geo: geo, route: route,
                     states: ResolvedBackendStates(states, for: geo))
    }

    /// A random address inside `network`.
    func random(in network: IPNetwork, _ rng: inout SeededGenerator) -> IPAddress {
        switch network.address {
        case .v4(let v):
            let host: UInt32 = network.prefixLength >= 32 ? 0 : UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32(network.prefixLength)
            return .v4(v | host)
        case .v6(let hi, let lo):
            let p = network.prefixLength
            let rh = UInt64.random(in: 0...UInt64.max, using: &rng)
            let rl = UInt64.random(in: 0...UInt64.max, using: &rng)
            if p >= 128 { return .v6(hi, lo) }
            if p >= 64 { return .v6(hi, lo | (p == 64 ? rl : rl >> UInt64(p - 64))) }
            return .v6(hi | (p == 0 ? rh : rh >> UInt64(p)), rl)
        }
    }

    /// Looks up `samples` addresses; for each, checks the block's class against the address's
    /// own key, then `inside` more random addresses of the block. Returns the prefixes seen.
    @discardableResult
    func checkExact(_ s: Setup, _ map: AnswerMap, answer: AddressFamily, addresses: [IPAddress], inside: Int = 8,
                    file: StaticString = #filePath, line: UInt = #line) -> [IPAddress: Int] {
        var rng = SeededGenerator()
        var prefixes: [IPAddress: Int] = [:]
        for a in addresses {
            let (cls, prefix) = map.lookup(a)
            prefixes[a] = prefix
            let key = map.isPlaced(cls) ? map.keys[Int(cls)] : nil
            XCTAssertEqual(key, s.expectedKey(a, answer: answer), "\(a)", file: file, line: line)
            let block = IPNetwork(address: a.masked(to: prefix), prefixLength: prefix)
            for _ in 0..<inside {
                let b = random(in: block, &rng)
                XCTAssertEqual(s.expectedKey(b, answer: answer), key, "\(b) inside \(block) (from \(a))", file: file, line: line)
                XCTAssertEqual(map.lookup(b).cls, cls, "\(b) inside \(block)", file: file, line: line)
            }
        }
        return prefixes
    }

    // RFC 7871 §7.2.1 (scope = the network the answer holds for), issue #12.1: every address inside
    // a block gets the block's answer, for located networks, gaps and records without coordinates.
    func testEveryAddressInsideABlockHasTheBlocksAnswer() throws {
        let s = try setup(overrides: [LocationOverride(network: IPNetwork("66.10.1.0/24")!,
                                                       coordinate: Coordinate(latitude: 35.68, longitude: 139.69))])
        let map = s.map(client: .v4, answer: .v4)
        var rng = SeededGenerator()
        var addresses: [IPAddress] = []
        for _ in 0..<1500 { addresses.append(random(in: Self.networks.randomElement(using: &rng)!, &rng)) }
        for _ in 0..<500 { addresses.append(.v4(UInt32.random(in: 0...UInt32.max, using: &rng))) }
        checkExact(s, map, answer: .v4, addresses: addresses)
        // IPv6 clients (their own tree, the IPv4 subtree aliased at ::ffff:0:0/96 and 2002::/16).
        let v6 = s.map(client: .v6, answer: .v4)
        var six: [IPAddress] = []
        for n in ["2a02:c7f::/32", "2600:1f18::/32", "2406:da14::/32", "2a01:4f8::/32", "2001:67c:2e8::/48", "2002::/16", "::/0"] {
            for _ in 0..<60 { six.append(random(in: IPNetwork(n)!, &rng)) }
        }
        checkExact(s, v6, answer: .v4, addresses: six)
        // AAAA answers from the IPv6 members, for IPv4 clients.
        checkExact(s, s.map(client: .v4, answer: .v6), answer: .v6, addresses: Array(addresses.prefix(400)))
    }

    // Issue #12.1: adjacent networks with the same answer merge into the widest aligned block.
    func testNetworksWithTheSameAnswerMergeIntoAlignedBlocks() throws {
        func o(_ n: String, _ lat: Double, _ lon: Double) -> LocationOverride {
            LocationOverride(network: IPNetwork(n)!, coordinate: Coordinate(latitude: lat, longitude: lon))
        }
        let s = try setup(overrides: [
            o("5.0.0.0/9", 48.86, 2.35),      // Paris → London
            o("5.128.0.0/9", 51.51, -0.13),   // London → London: merges with 5.0.0.0/9 into 5.0.0.0/8
            o("7.0.0.0/8", 51.51, -0.13),     // London, and 8.0.0.0/8 London too, but 7/8 and 8/8 are
            o("8.0.0.0/8", 51.51, -0.13),     // not one aligned block: each stays a /8
            o("6.0.0.0/8", 35.68, 139.69),    // Tokyo: its own /8
        ])
        let map = s.map(client: .v4, answer: .v4)
        func scope(_ a: String) -> Int { map.lookup(IPAddress(a)!).prefix }
        func answer(_ a: String) -> [String]? { map.fixedAnswer(map.lookup(IPAddress(a)!).cls).map { $0.map(\.description) } }
        XCTAssertEqual(scope("5.1.2.3"), 8)
        XCTAssertEqual(scope("5.200.2.3"), 8)
        XCTAssertEqual(answer("5.1.2.3"), ["127.0.0.12"])
        XCTAssertEqual(scope("7.1.2.3"), 8)
        XCTAssertEqual(scope("8.1.2.3"), 8)
        XCTAssertEqual(scope("6.1.2.3"), 8)
        XCTAssertEqual(answer("6.1.2.3"), ["127.0.0.14"])
        // The database: New York's /16 is several records around Newark's /28, all nearest New York:
        // one /16 block (the records' own networks are /17.../28).
        XCTAssertEqual(scope("66.10.7.1"), 16)
        XCTAssertEqual(scope("66.10.1.20"), 16)
        XCTAssertEqual(answer("66.10.1.20"), ["127.0.0.11"])
        // Gaps are not placed and never merge with placed networks.
        XCTAssertFalse(map.isPlaced(map.lookup(IPAddress("66.11.0.1")!).cls))
        XCTAssertEqual(scope("81.2.69.7"), 24)
        // IPv6 clients: Helsinki's /48 inside Frankfurt's /32, both nearest Frankfurt: one /32.
        let v6 = s.map(client: .v6, answer: .v6)
        XCTAssertEqual(v6.lookup(IPAddress("2a01:4f8:1c0c::1")!).prefix, 32)
        XCTAssertEqual(v6.fixedAnswer(v6.lookup(IPAddress("2a01:4f8:1c0c::1")!).cls).map { $0.map(\.description) },
                       ["2001:db8::13"])
        // Fewer classes than records: answers, not places.
        XCTAssertLessThanOrEqual(map.classCount, Self.sites.count * 2 + 1)
    }

    // An override narrower than a database record splits the record's block around it.
    func testOverrideInsideARecordSplitsItsBlock() throws {
        let s = try setup(overrides: [LocationOverride(network: IPNetwork("66.10.1.0/24")!,
                                                       coordinate: Coordinate(latitude: 35.68, longitude: 139.69))])
        let map = s.map(client: .v4, answer: .v4)
        let inside = map.lookup(IPAddress("66.10.1.5")!)
        XCTAssertEqual(inside.prefix, 24)
        XCTAssertEqual(map.fixedAnswer(inside.cls).map { $0.map(\.description) }, ["127.0.0.14"])
        XCTAssertTrue(map.placedByOverride(inside.cls))
        // 66.10.7.1 is in 66.10.4.0/22, the widest aligned block without the override.
        XCTAssertEqual(map.lookup(IPAddress("66.10.7.1")!).prefix, 22)
        XCTAssertEqual(map.lookup(IPAddress("66.10.200.1")!).prefix, 17)
        XCTAssertFalse(map.placedByOverride(map.lookup(IPAddress("66.10.200.1")!).cls))
    }

    // DESIGN §3 tie band, issue #12.1: answers drawn per query key by the set drawn from, so a scope
    // holds only clients with the same choice; a client near one member alone gets a fixed answer.
    func testTieBandClassesAreKeyedByTheCandidateSet() throws {
        let sites = [("127.0.0.1", 50.0, 8.0), ("127.0.0.2", 50.0, 8.2), ("127.0.0.3", -33.87, 151.21)]
        let s = try setup(overrides: [
            LocationOverride(network: IPNetwork("9.0.0.0/8")!, coordinate: Coordinate(latitude: 50.0, longitude: 8.0)),
        ], sites: sites)
        let map = s.map(client: .v4, answer: .v4)
        let far = map.lookup(IPAddress("66.10.7.1")!)   // New York: the two German members tie
        XCTAssertNil(map.fixedAnswer(far.cls))
        XCTAssertEqual(map.keys[Int(far.cls)]?.codes, [-2, 0, 1])
        let near = map.lookup(IPAddress("9.1.2.3")!)    // at member 1: no tie
        XCTAssertEqual(map.fixedAnswer(near.cls).map { $0.map(\.description) }, ["127.0.0.1"])
        XCTAssertNotEqual(far.cls, near.cls)
        let sydney = map.lookup(IPAddress("101.161.0.1")!)
        XCTAssertEqual(map.fixedAnswer(sydney.cls).map { $0.map(\.description) }, ["127.0.0.3"])
        checkExact(s, map, answer: .v4, addresses: ["66.10.7.1", "9.1.2.3", "101.161.0.1", "85.10.3.3", "90.0.1.1"].map { IPAddress($0)! })
        // least-load without load reports: distance order, no draw, fixed answers.
        let ll = try setup(route: RouteSpec(pool: "web", policy: .leastLoad), sites: sites)
        let llMap = ll.map(client: .v4, answer: .v4)
        XCTAssertEqual(llMap.fixedAnswer(llMap.lookup(IPAddress("66.10.7.1")!).cls).map { $0.map(\.description) }, ["127.0.0.1"])
    }

    // Health changes answers: with London down, London's clients get Frankfurt, and the map says so.
    func testDownMemberChangesTheMap() throws {
        let down = BackendStates(byAddress: [IPAddress("127.0.0.12")!: BackendStatus(probeHealthy: false)])
        let up = try setup()
        let s = try setup(states: down)
        let before = up.map(client: .v4, answer: .v4)
        let after = s.map(client: .v4, answer: .v4)
        let london = IPAddress("81.2.69.7")!
        XCTAssertEqual(before.fixedAnswer(before.lookup(london).cls).map { $0.map(\.description) }, ["127.0.0.12"])
        XCTAssertEqual(after.fixedAnswer(after.lookup(london).cls).map { $0.map(\.description) }, ["127.0.0.13"])
        XCTAssertTrue(Router.mappable(route: s.route, pools: s.geo, family: .v4, states: s.states))
        var rng = SeededGenerator()
        checkExact(s, after, answer: .v4, addresses: (0..<300).map { _ in random(in: Self.networks.randomElement(using: &rng)!, &rng) })
        // Every member down: nothing to map (fail-open and SERVFAIL are the same for every client).
        let all = BackendStates(byAddress: Dictionary(uniqueKeysWithValues: Self.sites.map {
            (IPAddress($0.0)!, BackendStatus(probeHealthy: false)) }))
        let none = try setup(states: all)
        XCTAssertFalse(Router.mappable(route: none.route, pools: none.geo, family: .v4, states: none.states))
    }
}
