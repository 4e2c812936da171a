#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import DNSZone
import GeoRouting
import XCTest
@testable import QueryEngine

/// The response rate limiter's state machine (token buckets per source network, response class and
/// name; slip), driven with engine responses and explicit times. Over real sockets: RRLTests.
final class ResponseRateLimiterTests: XCTestCase {
    let snap = try! ProtocolCornerTests.snapshot()

    func response(_ name: String, _ type: RecordType = .a) -> [UInt8] {
        let q = Message(header: Header(id: 9), questions: [Question(name: try! DomainName(parsing: name), type: type)],
                        edns: EDNS()).serialized()
        guard case .response(let r) = QueryEngine.respond(to: q, context: QueryContext(source: ProtocolCornerTests.client, transport: .udp),
                                                          snapshot: snap, states: BackendStates()) else { return [] }
        return r
    }

    func decide(_ l: inout ResponseRateLimiter, _ r: [UInt8], _ source: String = "198.51.100.7", at now: Double) -> RateLimitAction {
        r.withUnsafeBytes { l.decide(response: $0, source: IPAddress(source)!, now: now) }
    }

    func counts(_ l: inout ResponseRateLimiter, _ r: [UInt8], n: Int, at now: Double, source: String = "198.51.100.7")
        -> (send: Int, truncate: Int, drop: Int) {
        var c = (send: 0, truncate: 0, drop: 0)
        for _ in 0..<n {
            switch decide(&l, r, source, at: now) {
            case .send: c.send += 1
            case .truncate: c.truncate += 1
            case .drop: c.drop += 1
            }
        }
        return c
    }

    // Token bucket: a second of burst, refilled at `rate`; every slip-th limited reply is truncated.
    func testTokenBucketAndSlip() {
        var l = ResponseRateLimiter(settings: RateLimitSettings(rate: 5, slip: 2))
        let r = response("pc.test.")
        let first = counts(&l, r, n: 20, at: 10)
        XCTAssertEqual(first.send, 5)
        XCTAssertEqual(first.truncate, 7)
        XCTAssertEqual(first.drop, 8)
        // 0.4 s later two tokens have come back; a full second refills to the burst, not beyond.
        XCTAssertEqual(counts(&l, r, n: 10, at: 10.4).send, 2)
        XCTAssertEqual(counts(&l, r, n: 10, at: 100).send, 5)
    }

    func testSlipZeroDropsAllAndSlipOneTruncatesAll() {
        var none = ResponseRateLimiter(settings: RateLimitSettings(rate: 1, slip: 0))
        var all = ResponseRateLimiter(settings: RateLimitSettings(rate: 1, slip: 1))
        let r = response("pc.test.")
        XCTAssertEqual(counts(&none, r, n: 10, at: 0).drop, 9)
        XCTAssertEqual(counts(&all, r, n: 10, at: 0).truncate, 9)
    }

    // Knot/NSD classes: answers are per QNAME and QTYPE; NXDOMAIN and NODATA per zone, so random
    // subdomains share one bucket; referrals per cut.
    func testResponseClassesKeyTheBuckets() {
        let settings = RateLimitSettings(rate: 3, slip: 0)
        var answers = ResponseRateLimiter(settings: settings)
        XCTAssertEqual(counts(&answers, response("pc.test."), n: 3, at: 0).send, 3)
        XCTAssertEqual(counts(&answers, response("mail.pc.test."), n: 3, at: 0).send, 3, "another name: another bucket")
        XCTAssertEqual(counts(&answers, response("pc.test.", .mx), n: 3, at: 0).send, 3, "another type: another bucket")

        var nx = ResponseRateLimiter(settings: settings)
        let random = (0..<10).map { response("r\($0).pc.test.") }
        XCTAssertEqual(try Message(parsing: random[0]).rcode, .nxDomain)
        let sent = random.filter { decide(&nx, $0, at: 0) == .send }.count
        XCTAssertEqual(sent, 3, "random NXDOMAIN names share the zone's bucket")

        var referrals = ResponseRateLimiter(settings: settings)
        let refs = (0..<10).map { response("h\($0).big.pc.test.") }
        XCTAssertEqual(refs.filter { decide(&referrals, $0, at: 0) == .send }.count, 3, "referrals share the cut's bucket")
        XCTAssertEqual(refs[0].withUnsafeBytes { ResponseRateLimiter.classify($0).0 }, .referral)
    }

    // Knot's wildcard class: answers synthesized from a wildcard (RFC 4592) share the zone's
    // bucket, so random names under a wildcard cannot each get a fresh one. Through the UDP path.
    func testWildcardAnswersShareTheZonesBucket() throws {
        let snap = try ProtocolCornerTests.snapshot(settings: EngineSettings(rateLimit: RateLimitSettings(rate: 3, slip: 0)))
        var cache = AnswerCache(snapshot: snap, seed: 1)
        var out = [UInt8](repeating: 0, count: 65535)
        var answered = 0
        for i in 0..<20 {
            let q = Message(header: Header(id: 1), questions: [Question(name: try DomainName(parsing: "r\(i).w.pc.test."), type: .a)]).serialized()
            let r = q.withUnsafeBytes { qb in out.withUnsafeMutableBytes { cache.answer(query: qb, source: ProtocolCornerTests.client, transport: .udp, now: 5, states: BackendStates(), output: $0) } }
            if case .reply(let n) = r {
                XCTAssertEqual(try Message(parsing: Array(out[0..<n])).answerSection.count, 1)
                answered += 1
            }
        }
        XCTAssertEqual(answered, 3)
    }

    // Sources are grouped per /24 (IPv4) and /56 (IPv6); exempt networks are never limited.
    func testSourceNetworksAndExemptions() {
        var l = ResponseRateLimiter(settings: RateLimitSettings(rate: 2, slip: 0, exempt: [IPNetwork("203.0.113.0/24")!]))
        let r = response("pc.test.")
        XCTAssertEqual(counts(&l, r, n: 2, at: 0, source: "192.0.2.1").send, 2)
        XCTAssertEqual(counts(&l, r, n: 2, at: 0, source: "192.0.2.200").send, 0, "same /24")
        XCTAssertEqual(counts(&l, r, n: 2, at: 0, source: "192.0.3.1").send, 2, "another /24")
        XCTAssertEqual(counts(&l, r, n: 2, at: 0, source: "2001:db8:0:100::1").send, 2)
        XCTAssertEqual(counts(&l, r, n: 2, at: 0, source: "2001:db8:0:1ff::2").send, 0, "same /56")
        XCTAssertEqual(counts(&l, r, n: 2, at: 0, source: "2001:db8:0:200::1").send, 2, "another /56")
        XCTAssertEqual(counts(&l, r, n: 50, at: 0, source: "203.0.113.5").send, 50, "exempt")
    }

    // A slipped reply is the header and question with TC=1 and no records (RFC 1035 §4.1.1).
    func testTruncatedReplyIsHeaderAndQuestionWithTC() throws {
        var r = response("pc.test.", .mx)
        let n = r.withUnsafeMutableBytes { ResponseRateLimiter.truncate($0, length: $0.count) }
        let m = try Message(parsing: Array(r[0..<n]))
        XCTAssertTrue(m.header.truncated)
        XCTAssertEqual(m.header.id, 9)
        XCTAssertEqual(m.questions.first?.type, .mx)
        XCTAssertTrue(m.answerSection.isEmpty && m.authoritySection.isEmpty && m.additionalSection.isEmpty)
        XCTAssertNil(m.edns)
    }

    // The UDP path applies it; TCP is never limited.
    func testAnswerCacheLimitsUDPOnly() throws {
        let settings = EngineSettings(rateLimit: RateLimitSettings(rate: 2, slip: 0))
        let snap = try ProtocolCornerTests.snapshot(settings: settings)
        var cache = AnswerCache(snapshot: snap, seed: 1)
        let q = Message(header: Header(id: 1), questions: [Question(name: try DomainName(parsing: "pc.test."), type: .a)]).serialized()
        var out = [UInt8](repeating: 0, count: 65535)
        func send(_ t: QueryTransport) -> Bool {
            let r = q.withUnsafeBytes { qb in out.withUnsafeMutableBytes { cache.answer(query: qb, source: ProtocolCornerTests.client, transport: t, now: 5, states: BackendStates(), output: $0) } }
            if case .reply = r { return true }
            return false
        }
        XCTAssertEqual((0..<10).filter { _ in send(.udp) }.count, 2)
        XCTAssertEqual((0..<10).filter { _ in send(.tcp) }.count, 10)
    }

    /// Buckets from zero-filled memory (not written at creation, issue #12.3) decide exactly as
    /// buckets from the standard allocator; memory that cannot be had falls back to it.
    func testBucketsFromZeroFilledOrFailingMemoryDecideTheSame() {
        let zeroed = TableMemory(allocate: { calloc(1, $0) }, deallocate: { p, _ in free(p) }, zeroFilled: true)
        let failing = TableMemory(allocate: { _ in nil }, deallocate: { _, _ in XCTFail("nothing was allocated") })
        let settings = RateLimitSettings(rate: 5, slip: 2, tableSize: 1024)
        var limiters = [ResponseRateLimiter(settings: settings), ResponseRateLimiter(settings: settings, memory: zeroed),
                        ResponseRateLimiter(settings: settings, memory: failing)]
        let responses = [response("www.example.test."), response("nope.example.test."), response("mail.example.test.", .mx)]
        for step in 0..<60 {
            let now = 100 + Double(step / 12) * 0.5
            let r = responses[step % responses.count]
            let source = step % 5 == 0 ? "203.0.113.9" : "198.51.100.7"
            let actions = limiters.indices.map { decide(&limiters[$0], r, source, at: now) }
            XCTAssertEqual(Set(actions).count, 1, "step \(step): \(actions)")
        }
        XCTAssertEqual(counts(&limiters[1], responses[0], n: 20, at: 200).send, 5)
    }
}
