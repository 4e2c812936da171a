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
}
