import DNSWire
import DNSZone
import GeoRouting
import QueryEngine
import XCTest

/// Random and mutated packets for a bounded time: the engine must answer or drop, never trap or
/// loop, and the live server must keep answering (DESIGN "bad input never crashes").
final class FuzzTests: XCTestCase {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    static func seeds() -> [[UInt8]] {
        let ecs = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24)
        return [
            DNSTestClient.query("www.battery.test.", .a),
            DNSTestClient.query("alias2.battery.test.", .a, edns: nil),
            DNSTestClient.query("x.wild.battery.test.", .aaaa, edns: EDNS(udpPayloadSize: 512, dnssecOK: true, options: [.clientSubnet(ecs)])),
            DNSTestClient.query("host.sub.battery.test.", .any),
        ]
    }

    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var p = seed
        switch rng.below(5) {
        case 0:  // random bytes of random length
            return (0..<rng.below(80)).map { _ in rng.byte() }
        case 1:  // flip bytes
            for _ in 0..<(1 + rng.below(6)) where !p.isEmpty { p[rng.below(p.count)] = rng.byte() }
        case 2:  // truncate
            p = Array(p.prefix(rng.below(p.count + 1)))
        case 3:  // extend with garbage
            p += (0..<rng.below(40)).map { _ in rng.byte() }
        default: // plant compression pointers
            for _ in 0..<(1 + rng.below(3)) where p.count > 13 {
                let at = 12 + rng.below(p.count - 13)
                p[at] = 0xc0 | (rng.byte() & 0x3f); p[at + 1] = rng.byte()
            }
        }
        return p
    }

    func testEngineSurvivesRandomAndMutatedPackets() throws {
        let snapshot = EngineSnapshot(zones: try QueryBatteryTests.batteryZone(), routes: [:], geoData: nil, locator: NoLocator(),
                                      settings: EngineSettings(), generation: 1)
        var cache = AnswerCache(snapshot: snapshot, seed: 42)
        var out = [UInt8](repeating: 0, count: 65535)
        var rng = SplitMix(state: 0xdead_beef)
        let seeds = Self.seeds()
        // A fixed number of packets, not "as many as fit in 4 s": the same work on a busy machine.
        // (Scripts/fuzz runs coverage-guided fuzzing of the fast path against the engine.)
        var answered = 0
        for _ in 0..<20_000 {
            let p = Self.mutate(seeds[rng.below(seeds.count)], &rng)
            let r = p.withUnsafeBytes { q in
                out.withUnsafeMutableBytes { o in
                    cache.answer(query: q, source: IPAddress("127.0.0.1")!, transport: .udp, now: 0,
                                 states: BackendStates(), output: o)
                }
            }
            if case .reply(let n) = r {
                answered += 1
                // Every answer must itself be a well-formed message with QR set and the same ID.
                let m = try Message(parsing: Array(out[0..<n]))
                XCTAssertTrue(m.header.isResponse)
                XCTAssertEqual(m.header.id, UInt16(p[0]) << 8 | UInt16(p[1]))
                XCTAssertLessThanOrEqual(n, 1232)
            }
        }
        XCTAssertGreaterThan(answered, 0)
    }

    func testLiveServerSurvivesGarbage() async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(),
                                              copies: ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")])
        var rng = SplitMix(state: 7)
        let seeds = Self.seeds()
        for _ in 0..<3000 {
            let p = Self.mutate(seeds[rng.below(seeds.count)], &rng)
            _ = try DNSTestClient.udpRaw(p, to: live.v4, port: live.port, timeout: 0.002)
        }
        // Garbage over TCP: a bogus length prefix and random bytes, then close.
        _ = try? DNSTestClient.tcpRaw([(0..<300).map { _ in rng.byte() }], to: live.v4, port: live.port, timeout: 0.3)
        XCTAssertEqual(try live.udp("www.battery.test.", .a).answerSection.count, 1)
        XCTAssertEqual(try live.tcp("www.battery.test.", .a).answerSection.count, 1)
        await live.stop()
    }
}
