import DNSWire
import GeoRouting
import Synchronization
import XCTest
@testable import QueryEngine

/// The per-thread location table's size comes from a budget, and a table that cannot be
/// allocated degrades to answering without it (#8.7): same answers, no crash.
final class FastPathMemoryTests: XCTestCase {
    func testLocationSlotsForBudget() {
        XCTAssertEqual(AnswerCache.maxLocationTableBytes, 32 << 20)
        let cases: [(Int, Int)] = [
            (64 << 20, 1 << 19),        // capped at 32 MiB
            (32 << 20, 1 << 19),
            (20 << 20, 1 << 18),        // rounded down to a power of two: 16 MiB
            (1 << 20, 1 << 14),
            (64 << 10, 1 << 10),        // the smallest table worth having
            ((64 << 10) - 1, 0),
            (0, 0),
        ]
        for (bytes, slots) in cases {
            XCTAssertEqual(AnswerCache.locationSlots(forBytes: bytes), slots, "\(bytes) bytes")
        }
    }

    /// Routed answers with ECS from several networks, answered by caches whose table is the
    /// full size, small, absent (budget 0) or failed to allocate: all equal the engine's.
    func testAnswersWithoutALocationTableEqualTheEngine() throws {
        let snap = try FastPathEquivalenceTests.snapshot()
        final class Attempts: Sendable { let count = Atomic<Int>(0) }
        let attempts = Attempts()
        let failing = TableMemory(allocate: { _ in attempts.count.add(1, ordering: .relaxed); return nil },
                                  deallocate: { _, _ in XCTFail("nothing was allocated") })
        var caches = [
            ("full", AnswerCache(snapshot: snap, seed: 1)),
            ("small", AnswerCache(snapshot: snap, seed: 1, locationTableBytes: 64 << 10)),
            ("none", AnswerCache(snapshot: snap, seed: 1, locationTableBytes: 0)),
            ("failed", AnswerCache(snapshot: snap, seed: 1, tableMemory: failing)),
        ]
        let subnets = ["81.2.69.0", "126.16.5.0", "66.10.1.0", "66.10.1.16"].map {
            ClientSubnet(address: IPAddress($0)!, sourcePrefixLength: 24)
        }
        var out = [UInt8](repeating: 0, count: 65535)
        var checked = 0
        for round in 0..<3 {
            for subnet in subnets {
                for type in [RecordType.a, .aaaa] {
                    let q = Message(header: Header(id: UInt16(checked), recursionDesired: true),
                                    questions: [Question(name: try DomainName(parsing: "www.fp.test."), type: type)],
                                    edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(subnet)])).serialized()
                    let ctx = QueryContext(source: IPAddress("127.0.0.1")!, transport: .udp, now: 100, entropy: 0)
                    guard case .response(let reference) = QueryEngine.respond(to: q, context: ctx, snapshot: snap,
                                                                              states: BackendStates()) else {
                        return XCTFail("engine gave no response")
                    }
                    for i in caches.indices {
                        let r = q.withUnsafeBytes { qb in
                            out.withUnsafeMutableBytes { ob in
                                caches[i].1.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: .udp, now: 100,
                                                   states: BackendStates(), output: ob)
                            }
                        }
                        guard case .reply(let n) = r else { XCTFail("\(caches[i].0): no reply"); continue }
                        XCTAssertEqual(Array(out[0..<n]), reference, "\(caches[i].0) \(subnet) \(type) round \(round)")
                    }
                    checked += 1
                }
            }
        }
        XCTAssertTrue(caches[3].1.locationTableUnavailable)
        XCTAssertEqual(attempts.count.load(ordering: .relaxed), 1, "a failed allocation is not retried per query")
        XCTAssertFalse(caches[0].1.locationTableUnavailable)
        XCTAssertEqual(caches[2].1.locationSlots, 0)
    }

    /// A snapshot whose locator places two whole /8s (65,536 client /24s each).
    static func wideSnapshot() throws -> EngineSnapshot {
        let base = try FastPathEquivalenceTests.snapshot()
        let locator = TableLocator(table: [
            (IPNetwork("20.0.0.0/8")!, Coordinate(latitude: 51.5, longitude: -0.1)),
            (IPNetwork("21.0.0.0/8")!, Coordinate(latitude: 35.7, longitude: 139.7)),
        ])
        return EngineSnapshot(zones: base.zones, routes: base.routes, geoData: base.geoData, locator: locator,
                              settings: EngineSettings(), generation: 1)
    }

    func ask(_ cache: inout AnswerCache, _ client: IPAddress, id: UInt16, out: inout [UInt8]) -> [UInt8]? {
        let q = Message(header: Header(id: id, recursionDesired: true),
                        questions: [Question(name: try! DomainName(parsing: "www.fp.test."), type: .a)],
                        edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ClientSubnet(address: client, sourcePrefixLength: 24))]))
            .serialized()
        let r = q.withUnsafeBytes { qb in
            out.withUnsafeMutableBytes { ob in
                cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: .udp, now: 100,
                             states: BackendStates(), output: ob)
            }
        }
        guard case .reply(let n) = r else { return nil }
        return Array(out[0..<n])
    }

    /// Issue #12.3: the table starts at 4096 entries and doubles when half full, up to the
    /// budget's size; the networks it held before a doubling are still found after, and every
    /// answer equals the engine's.
    func testLocationTableGrowsAsItFillsUpToItsBudget() throws {
        let snap = try Self.wideSnapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1, locationTableBytes: 1 << 20)  // 16,384 entries at most
        XCTAssertEqual(cache.locationSlots, 1 << 14)
        XCTAssertEqual(cache.locationTableSlots, 0, "nothing is allocated before the first routed query")
        var out = [UInt8](repeating: 0, count: 65535)
        var sizes: [Int] = []
        var clients: [IPAddress] = []
        for i in 0..<12_000 {
            if i == 8_000 {
                // Under half the table at its largest: through two doublings, all but the few a
                // two-choice table evicts near half load (a fraction of a percent) are still found.
                let table = try XCTUnwrap(cache.locations)
                let found = clients.filter { AnswerCache.findLocation(table, $0, now: 100) != nil }.count
                XCTAssertGreaterThanOrEqual(found, 7_920, "networks survive the doublings")
            }
            let client = IPAddress.v4((i & 1 == 0 ? 20 << 24 : 21 << 24) | UInt32(i >> 1) << 8)
            clients.append(client)
            let reply = try XCTUnwrap(ask(&cache, client, id: UInt16(truncatingIfNeeded: i), out: &out), "\(client)")
            if i % 97 == 0 {
                let q = Message(header: Header(id: UInt16(truncatingIfNeeded: i), recursionDesired: true),
                                questions: [Question(name: try DomainName(parsing: "www.fp.test."), type: .a)],
                                edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ClientSubnet(address: client, sourcePrefixLength: 24))]))
                    .serialized()
                let ctx = QueryContext(source: IPAddress("127.0.0.1")!, transport: .udp, now: 100, entropy: 0)
                guard case .response(let reference) = QueryEngine.respond(to: q, context: ctx, snapshot: snap,
                                                                          states: BackendStates()) else {
                    return XCTFail("engine gave no response")
                }
                XCTAssertEqual(reply, reference, "\(client)")
            }
            if sizes.last != cache.locationTableSlots { sizes.append(cache.locationTableSlots) }
        }
        // 0 until the first routed answer (the first query of a name goes to the engine).
        XCTAssertEqual(sizes.filter { $0 > 0 }, [1 << 12, 1 << 13, 1 << 14], "4096, doubled when half full, capped at the budget")
    }

    /// A doubling whose memory cannot be had leaves the table at its size, is not retried per
    /// query, and answers stay the engine's.
    func testGrowthWithoutMemoryKeepsTheTable() throws {
        let snap = try Self.wideSnapshot()
        final class Budget: Sendable { let calls = Atomic<Int>(0) }
        let budget = Budget()
        // The first allocation (the 4,096-entry table) succeeds, every later one fails.
        let once = TableMemory(allocate: { bytes in
            budget.calls.add(1, ordering: .relaxed).newValue == 1 ? TableMemory.standard.allocate(bytes) : nil
        }, deallocate: { p, bytes in TableMemory.standard.deallocate(p, bytes) })
        var cache = AnswerCache(snapshot: snap, seed: 1, tableMemory: once)
        var out = [UInt8](repeating: 0, count: 65535)
        for i in 0..<5_000 {
            _ = try XCTUnwrap(ask(&cache, .v4(20 << 24 | UInt32(i) << 8), id: 1, out: &out))
        }
        XCTAssertEqual(cache.locationTableSlots, 1 << 12)
        XCTAssertTrue(cache.locationTableGrowthFailed)
        XCTAssertEqual(budget.calls.load(ordering: .relaxed), 2, "one failed doubling, not one per query")
    }

    /// When answer maps arrive where there were none, a grown table is let go (the maps answer
    /// located clients from now on); the next query that needs it starts a small one. Answers
    /// stay the engine's.
    func testGrownTableIsReleasedWhenAnswerMapsArrive() throws {
        let snap = try Self.wideSnapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1)
        var out = [UInt8](repeating: 0, count: 65535)
        for i in 0..<3_000 {
            _ = try XCTUnwrap(ask(&cache, .v4(20 << 24 | UInt32(i) << 8), id: 1, out: &out))
        }
        XCTAssertEqual(cache.locationTableSlots, 1 << 13)
        let maps = AnswerMapSet(snapshotGeneration: snap.generation, maps: [], inputs: [], validUntil: .infinity,
                                basis: .init(source: nil, overrides: [], loadMaxAge: 30, routes: [], members: []),
                                builtCount: 0)
        cache.install(answerMaps: maps)
        XCTAssertEqual(cache.locationTableSlots, 0)
        let reply = try XCTUnwrap(ask(&cache, .v4(21 << 24 | 5 << 8), id: 2, out: &out))
        XCTAssertEqual(cache.locationTableSlots, 1 << 12)
        XCTAssertEqual(reply[3] & 0x0f, 0)
        // Installing maps again (a rebuild) keeps the table that is there now.
        cache.install(answerMaps: maps)
        XCTAssertEqual(cache.locationTableSlots, 1 << 12)
    }
}
