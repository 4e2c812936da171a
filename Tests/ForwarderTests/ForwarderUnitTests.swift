import DNSWire
@testable import Forwarder
import XCTest

/// Pure parts of the forwarder: the question parser, the relayed form of upstream answers
/// (RFC 2308 negative caching, TTL count-down, RFC 6891 size limits), the LRU cache, resolv.conf.
final class ForwarderUnitTests: XCTestCase {
    func name(_ s: String) -> DomainName { try! DomainName(parsing: s) }

    func query(_ n: String, _ t: RecordType, id: UInt16 = 0x1234, edns: EDNS? = EDNS(udpPayloadSize: 1232)) -> [UInt8] {
        Message(header: Header(id: id, recursionDesired: true), questions: [Question(name: name(n), type: t)], edns: edns).serialized()
    }

    func upstream(_ q: Question, rcode: ResponseCode = .noError, answers: [ResourceRecord] = [],
                  authority: [ResourceRecord] = []) -> [UInt8] {
        var h = Header(id: 7, isResponse: true, authoritative: true, recursionDesired: true, recursionAvailable: true)
        h.rcodeLow = UInt8(rcode.rawValue)
        return Message(header: h, questions: [q], answerSection: answers, authoritySection: authority,
                       edns: EDNS(udpPayloadSize: 4096)).serialized()
    }

    func soa(_ zone: String, ttl: UInt32, minimum: UInt32) -> ResourceRecord {
        ResourceRecord(name: name(zone), ttl: ttl, rdata: .soa(SOAData(mname: name("ns.\(zone)"), rname: name("h.\(zone)"),
                                                                     serial: 1, refresh: 1, retry: 1, expire: 1, minimum: minimum)))
    }

    func testParseAcceptsCookieOptionAndRejectsOddShapes() throws {
        // dig sends a COOKIE option: accepted (and not forwarded).
        let cookie = EDNS(udpPayloadSize: 1232, options: [.unknown(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])])
        let q = query("WWW.Example.ORG.", .a, edns: cookie)
        let parsed = try XCTUnwrap(q.withUnsafeBytes { ForwardQuery.parse($0) })
        XCTAssertTrue(parsed.hasEDNS)
        XCTAssertEqual(parsed.udpPayload, 1232)
        let lower = query("www.example.org.", .a, edns: nil)
        let parsedLower = try XCTUnwrap(lower.withUnsafeBytes { ForwardQuery.parse($0) })
        XCTAssertEqual(parsed.hash, parsedLower.hash, "the key is case-insensitive")
        XCTAssertEqual(q.withUnsafeBytes { parsed.key($0) }, lower.withUnsafeBytes { parsedLower.key($0) })
        XCTAssertEqual(parsedLower.udpPayload, 512)
        // Transfers, OPT-type and responses are not forwarded.
        for bad in [query("example.org.", .axfr), query("example.org.", .ixfr), query("example.org.", .opt),
                    query("example.org.", RecordType(rawValue: 253))] {
            XCTAssertNil(bad.withUnsafeBytes { ForwardQuery.parse($0) })
        }
        // Data types above the meta range are ordinary questions (CAA is 257), as is ANY.
        for good in [query("example.org.", .caa), query("example.org.", .any), query("example.org.", RecordType(rawValue: 65))] {
            XCTAssertNotNil(good.withUnsafeBytes { ForwardQuery.parse($0) })
        }
        var response = query("example.org.", .a)
        response[2] |= 0x80
        XCTAssertNil(response.withUnsafeBytes { ForwardQuery.parse($0) })
    }

    /// RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA MINIMUM), capped by
    /// negative_ttl; without an SOA it is not cached. Positive answers for the smallest TTL, capped.
    func testCacheLifetimes() throws {
        let q = Question(name: name("x.example.org."), type: .a)
        let a = ResourceRecord(name: q.name, ttl: 300, rdata: .a(IPAddress("192.0.2.1")!))
        let b = ResourceRecord(name: q.name, ttl: 200, rdata: .a(IPAddress("192.0.2.2")!))
        XCTAssertEqual(try RelayedAnswer(upstream: upstream(q, answers: [a, b]), question: q, maxTTL: 86_400, negativeTTL: 300).cacheSeconds, 200)
        XCTAssertEqual(try RelayedAnswer(upstream: upstream(q, answers: [a]), question: q, maxTTL: 60, negativeTTL: 300).cacheSeconds, 60)
        let nx = upstream(q, rcode: .nxDomain, authority: [soa("example.org.", ttl: 3600, minimum: 120)])
        let relayed = try RelayedAnswer(upstream: nx, question: q, maxTTL: 86_400, negativeTTL: 300)
        XCTAssertEqual(relayed.cacheSeconds, 120)
        XCTAssertEqual(relayed.rcode, .nxDomain)
        XCTAssertEqual(try RelayedAnswer(upstream: nx, question: q, maxTTL: 86_400, negativeTTL: 30).cacheSeconds, 30)
        XCTAssertEqual(try RelayedAnswer(upstream: upstream(q, rcode: .nxDomain), question: q, maxTTL: 86_400, negativeTTL: 300).cacheSeconds, 0)
        XCTAssertEqual(try RelayedAnswer(upstream: upstream(q, rcode: .servFail), question: q, maxTTL: 86_400, negativeTTL: 300).cacheSeconds, 0)
        XCTAssertThrowsError(try RelayedAnswer(upstream: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], question: q,
                                               maxTTL: 1, negativeTTL: 1))
    }

    /// Relayed to a client: its ID and question case, RA set, AA clear, TTLs reduced by the age,
    /// our OPT for an EDNS client, TC with the question only when over the client's size.
    func testRenderCountsDownAndTruncates() throws {
        let q = Question(name: name("x.example.org."), type: .txt)
        let big = ResourceRecord(name: q.name, ttl: 300, rdata: .txt([[UInt8](repeating: 65, count: 200), [UInt8](repeating: 66, count: 200),
                                                                      [UInt8](repeating: 67, count: 200)]))
        let relayed = try RelayedAnswer(upstream: upstream(q, answers: [big]), question: q, maxTTL: 86_400, negativeTTL: 300)
        let client = query("X.example.ORG.", .txt, id: 0xbeef, edns: EDNS(udpPayloadSize: 4096))
        let cq = try XCTUnwrap(client.withUnsafeBytes { ForwardQuery.parse($0) })
        var out = [UInt8](repeating: 0, count: 65535)
        let n = try XCTUnwrap(client.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
            relayed.render(query: qb, q: cq, age: 100, limit: 1232, ourPayload: 1232, output: ob) } })
        let m = try Message(parsing: Array(out[0..<n]))
        XCTAssertEqual(m.header.id, 0xbeef)
        XCTAssertTrue(m.header.recursionAvailable)
        XCTAssertFalse(m.header.authoritative)
        XCTAssertFalse(m.header.truncated)
        XCTAssertEqual(m.questions.first?.name.description.contains("X.example.ORG"), true)
        XCTAssertEqual(m.answerSection.first?.ttl, 200)
        XCTAssertEqual(m.edns?.udpPayloadSize, 1232)
        // 512 without EDNS: does not fit, TC and the question only.
        let plain = query("x.example.org.", .txt, edns: nil)
        let pq = try XCTUnwrap(plain.withUnsafeBytes { ForwardQuery.parse($0) })
        let t = try XCTUnwrap(plain.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
            relayed.render(query: qb, q: pq, age: 0, limit: pq.sizeLimit(tcp: false, maxUDPPayload: 1232), ourPayload: 1232, output: ob) } })
        XCTAssertLessThanOrEqual(t, 512)
        let tm = try Message(parsing: Array(out[0..<t]))
        XCTAssertTrue(tm.header.truncated)
        XCTAssertTrue(tm.answerSection.isEmpty)
        XCTAssertNil(tm.edns)
    }

    func testCacheEvictsLeastRecentlyUsedAndHonoursExpiryAndGeneration() throws {
        let cache = ForwardCache(maxEntries: 64)   // one entry per stripe
        var out = [UInt8](repeating: 0, count: 4096)
        func entry(_ n: String) throws -> ([UInt8], ForwardQuery, RelayedAnswer) {
            let qq = Question(name: name(n), type: .a)
            let r = try RelayedAnswer(upstream: upstream(qq, answers: [ResourceRecord(name: qq.name, ttl: 60, rdata: .a(IPAddress("192.0.2.9")!))]),
                                      question: qq, maxTTL: 86_400, negativeTTL: 300)
            let b = query(n, .a)
            return (b, b.withUnsafeBytes { ForwardQuery.parse($0)! }, r)
        }
        func hit(_ b: [UInt8], _ q: ForwardQuery, now: Double, generation: UInt64 = 1) -> Bool {
            b.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
                cache.answer(query: qb, q: q, now: now, generation: generation, limit: 1232, ourPayload: 1232, output: ob) } } != nil
        }
        let (b1, q1, r1) = try entry("a.example.org.")
        cache.insert(key: b1.withUnsafeBytes { q1.key($0) }, hash: q1.hash, answer: r1, now: 0, generation: 1)
        XCTAssertTrue(hit(b1, q1, now: 59))
        XCTAssertFalse(hit(b1, q1, now: 10, generation: 2), "a reload invalidates")
        cache.insert(key: b1.withUnsafeBytes { q1.key($0) }, hash: q1.hash, answer: r1, now: 0, generation: 1)
        XCTAssertFalse(hit(b1, q1, now: 60), "expired at its TTL")
        // Fill far past capacity: the bound holds.
        for i in 0..<1000 {
            let (b, q, r) = try entry("n\(i).example.org.")
            cache.insert(key: b.withUnsafeBytes { q.key($0) }, hash: q.hash, answer: r, now: 0, generation: 1)
        }
        XCTAssertLessThanOrEqual(cache.count, cache.capacity)
        XCTAssertGreaterThan(cache.count, 0)
        // Within one stripe of capacity 2: touching the older keeps it, the untouched one goes.
        let small = ForwardCache(maxEntries: 128)
        var sameStripe: [([UInt8], ForwardQuery, RelayedAnswer)] = []
        var i = 0
        while sameStripe.count < 3 {
            let e = try entry("s\(i).example.org.")
            let h = e.1.hash
            if Int(truncatingIfNeeded: (h >> 58) ^ h) & 63 == 0 { sameStripe.append(e) }
            i += 1
        }
        func put(_ e: ([UInt8], ForwardQuery, RelayedAnswer)) {
            small.insert(key: e.0.withUnsafeBytes { e.1.key($0) }, hash: e.1.hash, answer: e.2, now: 0, generation: 1)
        }
        func smallHit(_ e: ([UInt8], ForwardQuery, RelayedAnswer)) -> Bool {
            e.0.withUnsafeBytes { qb in out.withUnsafeMutableBytes { ob in
                small.answer(query: qb, q: e.1, now: 1, generation: 1, limit: 1232, ourPayload: 1232, output: ob) } } != nil
        }
        put(sameStripe[0]); put(sameStripe[1])
        XCTAssertTrue(smallHit(sameStripe[0]))
        put(sameStripe[2])
        XCTAssertTrue(smallHit(sameStripe[0]))
        XCTAssertFalse(smallHit(sameStripe[1]), "least recently used evicted")
        XCTAssertTrue(smallHit(sameStripe[2]))
    }

    func testResolvConf() {
        let text = """
        # comment
        search example.org
        nameserver 127.0.0.53
        nameserver   ::1
        nameserver 192.0.2.1 # trailing
        nameserver bogus
        nameserver fe80::1%eth0
        options edns0
        nameserver 127.0.0.53
        """
        XCTAssertEqual(ResolvConf.nameservers(text), [IPAddress("127.0.0.53")!, IPAddress("::1")!, IPAddress("192.0.2.1")!])
        let ups = ResolvConf.upstreams(text, excluding: [(IPAddress("127.0.0.53")!, 53), (IPAddress("::")!, 53)])
        XCTAssertEqual(ups.map { $0.0 }, [IPAddress("192.0.2.1")!], "our address and, under ::, IPv6 loopback")
        // 0.0.0.0:53 covers loopback and the host's own addresses, not every IPv4 resolver.
        let wildcard = ResolvConf.upstreams(text, excluding: [(IPAddress("0.0.0.0")!, 53)],
                                            localAddresses: [IPAddress("192.0.2.1")!])
        XCTAssertEqual(wildcard.map { $0.0 }, [IPAddress("::1")!])
        XCTAssertEqual(ResolvConf.upstreams(text, excluding: [(IPAddress("0.0.0.0")!, 53)]).map { $0.0 },
                       [IPAddress("::1")!, IPAddress("192.0.2.1")!])
        XCTAssertEqual(ResolvConf.upstreams(text, excluding: [(IPAddress("127.0.0.53")!, 5353)]).count, 3)
    }
}
