import DNSWire
import DNSZone
import FuzzSupport
import GeoRouting
import QueryEngine

#if canImport(Glibc)
import Glibc
#endif

// Differential fuzzing of the UDP fast path (`AnswerCache`: cached replays, directly written routed
// answers, remembered picks) against the reference engine (`QueryEngine.respond`). Every reply the
// fast path gives must be byte-for-byte the engine's for the same query, client, time, backend
// states and entropy; a difference traps so libFuzzer reports it.
//
// Input: byte 0 picks the scenario, the rest is the query packet.
//   bit 0     transport (0 UDP, 1 TCP)
//   bits 1-2  packet source: 127.0.0.1, 81.2.69.7 (London), 2001:db8:aa::5 (Sydney), 100.64.1.1
//             (needs a remote lookup)
//   bits 3-4  backend states: all up; London down and pool `down` forced down; load reports;
//             London forced down, `down` and one `tie` member down, loads
//   bits 5-6  time step before this input: 0, 1, 7 or 31 s (load reports go stale after 30 s)
//   bit 7     no states generation (the fast path resolves states every time)
// The packet is asked twice (learn, then replay). The fast path's caches live across inputs, as
// they do in a worker thread, so they hold what earlier inputs taught them; they are reset every
// 256 inputs, and a difference writes out the inputs since the last reset so it can be replayed.

/// A locator over fixed tables, the engine's contract with the GeoIP shell: config overrides
/// first, then "database" networks, a range that needs a remote (ipstack) lookup, else unknown.
/// Like a MaxMind leaf and `LocationOverrides.lookup`, the network it reports for an address is
/// the block around it that holds no more specific entry of the same table (the fast path keys
/// its location table on that promise).
struct TableLocator: ClientLocator {
    var overrides: [(IPNetwork, Coordinate)]
    var database: [(IPNetwork, Coordinate)]
    var remote: [IPNetwork]

    /// Whether a database network is also narrowed around the overrides inside it (an override
    /// wins there, so the database answer does not hold for the whole network), as `GeoLocator`
    /// and `LocatorAdapter` do. Without it the fast path answers the database location for the
    /// whole /24 it remembered, override or not (found by this fuzzer, fixed in GeoIP).
    var databaseExcludesOverrides = true

    func find(_ address: IPAddress) -> (IPNetwork, Coordinate, LocationSource)? {
        if let hit = longest(overrides, address) { return (hit.0, hit.1, .override) }
        if let hit = longest(database, address, alsoExcluding: databaseExcludesOverrides ? overrides.map(\.0) : []) {
            return (hit.0, hit.1, .database)
        }
        return nil
    }

    func longest(_ table: [(IPNetwork, Coordinate)], _ address: IPAddress,
                 alsoExcluding others: [IPNetwork] = []) -> (IPNetwork, Coordinate)? {
        var best: (IPNetwork, Coordinate)?
        for entry in table where entry.0.contains(address) {
            if best == nil || entry.0.prefixLength > best!.0.prefixLength { best = entry }
        }
        guard let (network, coordinate) = best else { return nil }
        var prefix = network.prefixLength
        for inner in table.map(\.0) + others where inner.prefixLength > network.prefixLength && network.contains(inner.address) {
            // A block of `address` excludes `inner` once it is longer than their common prefix.
            prefix = max(prefix, min(inner.prefixLength, commonPrefixLength(address, inner.address) + 1))
        }
        return (IPNetwork(address: address.masked(to: prefix), prefixLength: prefix), coordinate)
    }

    func commonPrefixLength(_ a: IPAddress, _ b: IPAddress) -> Int {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return (x ^ y).leadingZeroBitCount
        case (.v6(let xh, let xl), .v6(let yh, let yl)):
            return xh != yh ? (xh ^ yh).leadingZeroBitCount : 64 + (xl ^ yl).leadingZeroBitCount
        default: return 0
        }
    }

    func locate(_ address: IPAddress) -> Placement {
        if let (network, coordinate, source) = find(address) {
            return .located(Location(coordinate: coordinate, source: source, network: network))
        }
        if remote.contains(where: { $0.contains(address) }) { return .needsRemote }
        return .unknown(network: nil)
    }

    func quickLocate(_ address: IPAddress) -> (coordinate: Coordinate, networkPrefix: Int)? {
        guard let (network, coordinate, _) = find(address) else { return nil }
        return (coordinate, network.prefixLength)
    }
}

enum Fixture {
    static let zoneText = """
        $ORIGIN fz.test.
        $TTL 300
        @      SOA ns1 hostmaster 1 7200 3600 1209600 60
               NS  ns1
               MX  10 mail
        ns1    A   192.0.2.53
        ns1    AAAA 2001:db8::53
        mail   A   192.0.2.25
        near   A   192.0.2.200
        near   AAAA 2001:db8::200
        near   TXT "routed name, static TXT"
        www    CNAME near
        chain  CNAME www
        multi  A   192.0.2.201
        *.w    A   192.0.2.99
        sub    NS  ns.sub
        ns.sub A   192.0.2.77
        big    TXT "\(String(repeating: "x", count: 250))" "\(String(repeating: "y", count: 250))" "\(String(repeating: "z", count: 250))"
        """

    static let london = Coordinate(latitude: 51.5, longitude: -0.12)
    static let tokyo = Coordinate(latitude: 35.68, longitude: 139.69)
    static let newYork = Coordinate(latitude: 40.71, longitude: -74.0)
    static let sydney = Coordinate(latitude: -33.87, longitude: 151.21)

    static func address(_ text: String) -> IPAddress { IPAddress(text)! }
    static func network(_ text: String) -> IPNetwork { IPNetwork(text)! }
    static func name(_ text: String) -> DomainName { try! DomainName(parsing: text) }

    static func snapshot() -> EngineSnapshot {
        let zone = try! ZoneParser.parse(text: zoneText, file: "fz.zone", origin: name("fz.test."))
        let geo = try! GeoData(pools: [
            Pool(name: "world", members: [
                PoolMember(address: address("192.0.2.1"), coordinate: london, name: "lhr", capacity: 0.8),
                PoolMember(address: address("192.0.2.2"), coordinate: tokyo, name: "nrt", weight: 2),
                PoolMember(address: address("192.0.2.3"), coordinate: newYork, name: "jfk"),
                PoolMember(address: address("192.0.2.4"), coordinate: sydney, name: "syd", weight: 3, capacity: 0.5),
                PoolMember(address: address("2001:db8::1"), coordinate: london, capacity: 0.8),
                PoolMember(address: address("2001:db8::2"), coordinate: tokyo, weight: 2),
                PoolMember(address: address("2001:db8::3"), coordinate: newYork),
            ]),
            // Equally far from (0, 0): nearest answers from there are weighted draws.
            Pool(name: "tie", members: [
                PoolMember(address: address("192.0.2.41"), coordinate: Coordinate(latitude: 0, longitude: 10)),
                PoolMember(address: address("192.0.2.42"), coordinate: Coordinate(latitude: 0, longitude: -10), weight: 4),
                PoolMember(address: address("2001:db8::41"), coordinate: Coordinate(latitude: 0, longitude: 10)),
                PoolMember(address: address("2001:db8::42"), coordinate: Coordinate(latitude: 0, longitude: -10)),
            ]),
            Pool(name: "down", members: [
                PoolMember(address: address("192.0.2.61"), coordinate: london),
                PoolMember(address: address("192.0.2.62"), coordinate: tokyo),
                PoolMember(address: address("2001:db8::61"), coordinate: newYork),
            ]),
            Pool(name: "backup", members: [
                PoolMember(address: address("192.0.2.81"), coordinate: newYork),
                PoolMember(address: address("2001:db8::81"), coordinate: newYork),
            ]),
        ])
        let routes: [DomainName: RouteSpec] = [
            name("near.fz.test."): RouteSpec(pool: "world"),
            name("multi.fz.test."): RouteSpec(pool: "world", answers: 3, ttl: 30),
            name("rr.fz.test."): RouteSpec(pool: "world", policy: .roundRobin, answers: 2),
            name("rand.fz.test."): RouteSpec(pool: "world", policy: .random),
            name("wtd.fz.test."): RouteSpec(pool: "world", policy: .weighted, answers: 2),
            name("least.fz.test."): RouteSpec(pool: "world", policy: .leastLoad),
            name("tie.fz.test."): RouteSpec(pool: "tie", tieBand: 0.05),
            name("sf.fz.test."): RouteSpec(pool: "down", allDown: .servfail),
            name("fb.fz.test."): RouteSpec(pool: "down", answers: 2, allDown: .fallback(pool: "backup")),
            name("open.fz.test."): RouteSpec(pool: "down", policy: .random, answers: 8),
            name("x.w.fz.test."): RouteSpec(pool: "world", policy: .weighted),
        ]
        let locator = TableLocator(
            overrides: [
                (network("10.0.0.0/8"), london),
                (network("10.20.0.0/16"), tokyo),
                // Inside the database's 81.2.69.0/24 (London).
                (network("81.2.69.128/25"), tokyo),
                (network("fd00::/8"), newYork),
            ],
            database: [
                (network("81.2.69.0/24"), Coordinate(latitude: 51.5, longitude: -0.1)),
                (network("126.16.0.0/16"), Coordinate(latitude: 35.7, longitude: 139.7)),
                (network("66.10.0.0/16"), Coordinate(latitude: 40.7, longitude: -74.0)),
                (network("66.10.1.16/28"), Coordinate(latitude: 40.73, longitude: -74.17)),
                (network("41.0.0.0/8"), Coordinate(latitude: 0, longitude: 0)),
                (network("2001:db8:aa::/48"), Coordinate(latitude: -33.9, longitude: 151.2)),
                (network("2a00::/12"), Coordinate(latitude: 48.85, longitude: 2.35)),
                (network("2a02:1000::/24"), Coordinate(latitude: 0, longitude: 0)),
            ],
            remote: [network("100.64.0.0/10"), network("2c0f::/16")])
        let routeSpecs = routes
        return EngineSnapshot(zones: try! ZoneSet([zone]), routes: routeSpecs, geoData: geo, locator: locator,
                              settings: EngineSettings(maxUDPPayload: 1232, loadMaxAge: 30), generation: 1)
    }

    static let sources = [address("127.0.0.1"), address("81.2.69.7"), address("2001:db8:aa::5"), address("100.64.1.1")]

    /// The backend states of scenario `index`, load reports received at `now`.
    static func states(_ index: Int, now: Double) -> BackendStates {
        func load(_ l: Double) -> BackendStatus { BackendStatus(lastLoad: LoadReport(load: l, receivedAt: now)) }
        let down = BackendStatus(probeHealthy: false)
        let forcedDown = BackendStatus(forced: .down)
        switch index {
        case 1:
            return BackendStates(byAddress: [
                address("192.0.2.1"): down, address("2001:db8::1"): down,
                address("192.0.2.61"): forcedDown, address("192.0.2.62"): down, address("2001:db8::61"): down,
            ])
        case 2:
            return BackendStates(byAddress: [
                address("192.0.2.1"): load(0.9), address("192.0.2.2"): load(0.1), address("192.0.2.3"): load(0.5),
                address("192.0.2.4"): load(0.7), address("2001:db8::1"): load(0.2), address("2001:db8::3"): load(0.05),
            ])
        case 3:
            return BackendStates(byAddress: [
                address("192.0.2.1"): forcedDown, address("192.0.2.2"): load(0.3),
                address("192.0.2.61"): down, address("192.0.2.62"): down, address("2001:db8::61"): forcedDown,
                address("192.0.2.41"): down, address("2001:db8::42"): down,
                address("2001:db8::2"): BackendStatus(probeHealthy: false, forced: .up, lastLoad: LoadReport(load: 0.4, receivedAt: now)),
            ])
        default:
            return BackendStates()
        }
    }
}

/// The worker-thread state the fast path keeps between packets.
struct Harness {
    /// Inputs between two resets of the caches. A difference can depend on what earlier inputs
    /// taught the caches, so every input since the last reset is kept and written out with it.
    static let inputsPerReset = 256

    let snapshot = Fixture.snapshot()
    /// The fast path's output buffer (a transport's maximum message size).
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65535, alignment: 16)
    var cache: AnswerCache
    var now = 1000.0
    var scenario = 0
    var states = BackendStates()
    var generation: UInt64 = 1
    var history: [[UInt8]] = []

    init() { cache = AnswerCache(snapshot: snapshot, seed: 0x5eed) }

    mutating func reset() {
        cache = AnswerCache(snapshot: snapshot, seed: 0x5eed)
        now = 1000
        scenario = 0
        states = BackendStates()
        generation = 1
        history = []
    }

    /// The entropies the next three `nextEntropy()` calls of `cache` return.
    func upcomingEntropies() -> [UInt64] {
        var probe = cache
        return [probe.nextEntropy(), probe.nextEntropy(), probe.nextEntropy()]
    }

    mutating func run(_ input: [UInt8]) {
        guard let control = input.first else { return }
        if history.count == Harness.inputsPerReset { reset() }
        history.append(input)
        let packet = Array(input.dropFirst())
        let transport: QueryTransport = control & 1 == 0 ? .udp : .tcp
        let source = Fixture.sources[Int(control >> 1) & 3]
        now += [0, 1, 7, 31][Int(control >> 5) & 3]
        let wanted = Int(control >> 3) & 3
        if wanted != scenario {
            scenario = wanted
            states = Fixture.states(wanted, now: now)
            generation += 1
        }
        let statesGeneration: UInt64? = control & 0x80 == 0 ? generation : nil
        for round in 0..<2 {
            check(packet, source: source, transport: transport, statesGeneration: statesGeneration, round: round)
        }
    }

    mutating func check(_ packet: [UInt8], source: IPAddress, transport: QueryTransport, statesGeneration: UInt64?,
                        round: Int) {
        let entropies = upcomingEntropies()
        let states = self.states, now = self.now
        let output = self.output
        let result = packet.withUnsafeBytes { query in
            cache.answer(query: query, source: source, transport: transport, now: now, states: states,
                         statesGeneration: statesGeneration, output: output)
        }
        // Which entropy the fast path drew last (it draws at most twice: a routed attempt, then
        // the engine); the engine is given the same one.
        let next = upcomingEntropies()[0]
        let entropy: UInt64
        switch next {
        case entropies[0]: entropy = 0
        case entropies[1]: entropy = entropies[0]
        case entropies[2]: entropy = entropies[1]
        default: fail(packet, "the fast path drew more than two entropies for one query", source, transport, round)
        }
        let context = QueryContext(source: source, transport: transport, now: now, entropy: entropy)
        let reference = QueryEngine.respond(to: packet, context: context, snapshot: snapshot, states: states)
        switch (result, reference) {
        case (.reply(let n), .response(let bytes)):
            let fast = Array(output[0..<n])
            if fast != bytes {
                fail(packet, "fast path \(hex(fast))\n  engine    \(hex(bytes))", source, transport, round)
            }
            // Equal is not enough: the reply must be a message a resolver can read, answer this
            // query's ID, and fit the transport (RFC 1035 §4.1, RFC 6891 §6.2.5: never above our
            // configured UDP maximum).
            guard let reply = try? Message(parsing: fast) else {
                fail(packet, "reply does not parse: \(hex(fast))", source, transport, round)
            }
            if reply.header.id != UInt16(packet[0]) << 8 | UInt16(packet[1]) || !reply.header.isResponse {
                fail(packet, "reply ID or QR wrong: \(hex(fast))", source, transport, round)
            }
            if transport == .udp && n > snapshot.settings.maxUDPPayload {
                fail(packet, "UDP reply of \(n) bytes: \(hex(fast))", source, transport, round)
            }
        case (.drop, .drop):
            break
        case (.needsRemote(let a), .needsRemoteLocation(let b)) where a == b:
            break
        default:
            fail(packet, "fast path \(result), engine \(reference)", source, transport, round)
        }
    }

    func fail(_ packet: [UInt8], _ what: String, _ source: IPAddress, _ transport: QueryTransport, _ round: Int) -> Never {
        fatalError("""
            fast path and engine disagree (round \(round), source \(source), \(transport), now \(now), \
            scenario \(scenario), generation \(generation))
              query     \(hex(packet[...]))
              \(what)
            \(writeHistory())
            """)
    }

    /// Writes the inputs since the last reset, numbered, to a new directory (under
    /// `$PROXIMA_FUZZ_ARTIFACTS`, else the working directory); replaying them in order in a fresh
    /// process repeats the difference.
    func writeHistory() -> String {
        let base = getenv("PROXIMA_FUZZ_ARTIFACTS").map { String(cString: $0) } ?? "."
        let dir = "\(base)/fuzz-query-sequence-\(getpid())"
        guard mkdir(dir, 0o755) == 0 else { return "(could not create \(dir) to keep the input sequence)" }
        for (i, input) in history.enumerated() {
            let digits = String(i)
            let path = dir + "/" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
            guard let f = fopen(path, "wb") else { return "(could not write \(path))" }
            _ = input.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
        }
        return "the \(history.count) inputs since the caches were last reset are in \(dir); replay them in order: fuzz-query \(dir)/*"
    }

    func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
    func hex(_ bytes: [UInt8]) -> String { hex(bytes[...]) }
}

nonisolated(unsafe) var harness = Harness()

@_cdecl("LLVMFuzzerTestOneInput")
public func queryFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    harness.run(FuzzDriver.bytes(data, size))
    return 0
}

@main
struct QueryFuzzer {
    static func main() { FuzzDriver.main(queryFuzzerTestOneInput) }
}
