import DNSWire
@testable import Forwarder
import XCTest

/// A thread's front for the shared forward cache (`ForwardLocalCache`): it serves exactly what the
/// shared cache served — same bytes, TTLs counted down from the same store time — and nothing past
/// the entry's expiry, after a reload, for another name, or beyond its size bound.
final class ForwarderLocalCacheTests: XCTestCase {
    func name(_ s: String) -> DomainName { try! DomainName(parsing: s) }

    func upstream(_ q: Question, answers: [ResourceRecord]) -> [UInt8] {
        let h = Header(id: 7, isResponse: true, authoritative: true, recursionDesired: true, recursionAvailable: true)
        return Message(header: h, questions: [q], answerSection: answers, edns: EDNS(udpPayloadSize: 4096)).serialized()
    }

    func answer(_ n: String, ttl: UInt32 = 60, bytes: Int = 0) throws -> (query: [UInt8], q: ForwardQuery, relayed: RelayedAnswer) {
        let question = Question(name: name(n), type: bytes > 0 ? .txt : .a)
        let rdata: RData = bytes > 0 ? .txt(Array(repeating: [UInt8](repeating: 65, count: 200), count: bytes / 200))
            : .a(IPAddress("192.0.2.9")!)
        let r = try RelayedAnswer(upstream: upstream(question, answers: [ResourceRecord(name: question.name, ttl: ttl, rdata: rdata)]),
                                  question: question, maxTTL: 86_400, negativeTTL: 300)
        let b = Message(header: Header(id: 0x4321, recursionDesired: true),
                        questions: [Question(name: name(n.uppercased()), type: question.type)],
                        edns: EDNS(udpPayloadSize: 1232)).serialized()
        return (b, try XCTUnwrap(b.withUnsafeBytes { ForwardQuery.parse($0) }), r)
    }

    func render(_ f: Forwarder, _ e: (query: [UInt8], q: ForwardQuery, relayed: RelayedAnswer), now: Double,
                generation: UInt64 = 1, local: inout ForwardLocalCache) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 65535)
        let n = e.query.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
            f.cachedAnswer(query: qb, q: e.q, now: now, generation: generation, limit: 65535, ourPayload: 1232, local: &local, output: ob) } }
        return n.map { Array(out[0..<$0]) }
    }

    func testLocalFrontServesTheSharedAnswerWithinItsLifetimeOnly() throws {
        let f = try Forwarder(configuration: .init(allow: [IPNetwork("127.0.0.0/8")!], upstreams: [(IPAddress("127.0.0.1")!, 9)]))
        var local = ForwardLocalCache()
        let e = try answer("a.example.org.")
        let key = e.query.withUnsafeBytes { e.q.key($0) }
        XCTAssertNil(render(f, e, now: 0, local: &local), "nothing cached yet")
        f.cache.insert(key: key, hash: e.q.hash, answer: e.relayed, now: 10, generation: 1)
        // First from the shared cache (kept locally), then from the local front: the same bytes,
        // the TTL counted down from the shared entry's store time.
        let shared = try XCTUnwrap(render(f, e, now: 20, local: &local))
        XCTAssertTrue(local.meta.contains { $0.used }, "kept in the local front")
        var out = [UInt8](repeating: 0, count: 65535)
        let direct = e.query.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
            local.answer(query: qb, q: e.q, now: 20, generation: 1, limit: 65535, ourPayload: 1232, output: ob) } }
        XCTAssertEqual(direct.map { Array(out[0..<$0]) }, shared, "the local front gives the shared cache's answer")
        let later = try XCTUnwrap(render(f, e, now: 45, local: &local))
        let m = try Message(parsing: later)
        XCTAssertEqual(m.answerSection.first?.ttl, 25, "60 s stored at 10, asked at 45")
        XCTAssertEqual(m.header.id, 0x4321)
        XCTAssertEqual(m.questions.first?.name.description, "A.EXAMPLE.ORG.", "the question's case")
        XCTAssertEqual(f.stats.cacheHits.load(ordering: .relaxed), 2)
        // Expired at stored + TTL, and not served under another snapshot generation.
        XCTAssertNil(e.query.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
            local.answer(query: qb, q: e.q, now: 70, generation: 1, limit: 65535, ourPayload: 1232, output: ob) } })
        XCTAssertNil(render(f, e, now: 70, local: &local), "expired in both")
        f.cache.insert(key: key, hash: e.q.hash, answer: e.relayed, now: 100, generation: 1)
        XCTAssertNotNil(render(f, e, now: 101, local: &local))
        XCTAssertNil(render(f, e, now: 102, generation: 2, local: &local), "a reload invalidates both")
        // Another name in the same slot is not this one's answer.
        var other = try answer("b.example.org.")
        other.q.hash = e.q.hash
        f.cache.insert(key: key, hash: e.q.hash, answer: e.relayed, now: 100, generation: 1)
        XCTAssertNotNil(render(f, e, now: 101, local: &local))
        XCTAssertNil(other.query.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
            local.answer(query: qb, q: other.q, now: 101, generation: 1, limit: 65535, ourPayload: 1232, output: ob) } },
                     "the key is compared, not only the hash")
        local.removeAll()
        XCTAssertFalse(local.meta.contains { $0.used })
    }

    func testLocalFrontKeepsOnlySmallAnswers() throws {
        let f = try Forwarder(configuration: .init(allow: [IPNetwork("127.0.0.0/8")!], upstreams: [(IPAddress("127.0.0.1")!, 9)]))
        var local = ForwardLocalCache()
        let big = try answer("big.example.org.", bytes: 3000)
        XCTAssertGreaterThan(big.relayed.bytes.count, ForwardLocalCache.maxBytes)
        f.cache.insert(key: big.query.withUnsafeBytes { big.q.key($0) }, hash: big.q.hash, answer: big.relayed, now: 0, generation: 1)
        XCTAssertNotNil(render(f, big, now: 1, local: &local), "served from the shared cache")
        XCTAssertFalse(local.meta.contains { $0.used }, "too big for the local front")
    }
}
