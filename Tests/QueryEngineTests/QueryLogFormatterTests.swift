import DNSWire
import Foundation
@testable import QueryEngine
import XCTest

/// The query log's byte formatter against the `Message`-based formatter it replaced
/// (`QueryLogReference`, shared with `fuzz-querylog`): the same bytes for every exchange, and
/// every line valid JSON (checked with `JSONSerialization`), whatever bytes the names carry.
final class QueryLogFormatterTests: XCTestCase {
    static let geoHash: UInt64 = 0x1234_5678_9abc_def1
    static let labels = ReferenceLabels(
        routes: [(nameHash: geoHash, name: "www.geo.test.", pools: ["web", "spare"]),
                 (nameHash: 77, name: "q\"uote\\d.test.", pools: ["p\u{1}\u{e9}"])],
        members: ["web": [IPAddress("192.0.2.10")!: "lon", IPAddress("2001:db8::10")!: "lon6"],
                  "spare": [IPAddress("192.0.2.20")!: "spare \"one\""],
                  "p\u{1}\u{e9}": [IPAddress("192.0.2.30")!: "m\n\t\u{7f}\u{2603}"]])

    func name(_ text: String) -> DomainName { try! DomainName(parsing: text) }

    func name(labels: [[UInt8]]) -> DomainName { try! DomainName(labels: labels) }

    struct Exchange {
        var query: [UInt8]
        var response: [UInt8]
        var client = IPAddress("198.51.100.7")!
        var tcp = false
        var placement = PlacementKind.none
        var routeNameHash: UInt64 = 0
        var responseCut = false
        var seconds: Int64 = 1_700_000_000
        var nanoseconds: Int64 = 42_000_000
    }

    static func ecsOPT(_ address: String, _ source: UInt8, scope: UInt8 = 0) -> EDNS {
        let a = IPAddress(address)!.masked(to: Int(source))
        return EDNS(options: [.clientSubnet(ClientSubnet(address: a, sourcePrefixLength: source, scopePrefixLength: scope))])
    }

    /// A query and its response with the given sections.
    func exchange(_ qname: DomainName, _ qtype: RecordType, rcode: ResponseCode = .noError, ecs: (String, UInt8, UInt8)? = nil,
                  answers: [ResourceRecord] = [], authority: [ResourceRecord] = [], additional: [ResourceRecord] = [],
                  tc: Bool = false) -> Exchange {
        let question = Question(name: qname, type: qtype)
        var q = Message(header: Header(id: 7, recursionDesired: true), questions: [question])
        var r = Message(header: Header(id: 7, isResponse: true, authoritative: true, truncated: tc), questions: [question],
                        answerSection: answers, authoritySection: authority, additionalSection: additional)
        if let ecs {
            q.edns = Self.ecsOPT(ecs.0, ecs.1)
            r.edns = Self.ecsOPT(ecs.0, ecs.1, scope: ecs.2)
        }
        r.rcode = rcode
        return Exchange(query: q.serialized(), response: r.serialized())
    }

    func rr(_ owner: DomainName, _ rdata: RData, ttl: UInt32 = 60) -> ResourceRecord {
        ResourceRecord(name: owner, ttl: ttl, rdata: rdata)
    }

    /// Formats `x` both ways; they must agree byte for byte and parse as one JSON object.
    @discardableResult
    func check(_ x: Exchange, labels: ReferenceLabels? = labels, file: StaticString = #filePath,
               line: UInt = #line) -> [String: Any]? {
        var f = QueryLogFormatter(capacity: 64)
        let encoded = labels?.encoded
        var expected = ""
        x.query.withUnsafeBytes { q in
            x.response.withUnsafeBytes { r in
                let e = QueryLogEntry(seconds: x.seconds, nanoseconds: x.nanoseconds, client: x.client, port: 5353,
                                      tcp: x.tcp, placement: x.placement, routeNameHash: x.routeNameHash, query: q,
                                      response: r, responseCut: x.responseCut)
                expected = QueryLogReference.line(e, labels: labels) + "\n"
                f.append(e, labels: encoded)
                // A second line in the same buffer: the time cache and the buffer reuse.
                f.append(e, labels: encoded)
            }
        }
        let got = Array(f.bytes)
        XCTAssertEqual(String(decoding: got, as: UTF8.self), expected + expected, file: file, line: line)
        XCTAssertEqual(got.filter { $0 == 10 }.count, 2, "exactly one newline per line", file: file, line: line)
        let first = Data(got[..<(got.firstIndex(of: 10) ?? got.count)])
        do {
            return try XCTUnwrap(JSONSerialization.jsonObject(with: first) as? [String: Any], file: file, line: line)
        } catch {
            XCTFail("not JSON: \(error): \(String(decoding: first, as: UTF8.self))", file: file, line: line)
            return nil
        }
    }

    // MARK: RFC 1035 §3.4.1 A, RFC 3596 AAAA, RFC 7871 ECS

    func testRoutedAWithECSAndScope() {
        var x = exchange(name("www.geo.test."), .a, ecs: ("81.2.69.0", 24, 20),
                         answers: [rr(name("www.geo.test."), .a(IPAddress("192.0.2.10")!))])
        x.routeNameHash = Self.geoHash
        x.placement = .database
        let o = check(x)
        XCTAssertEqual(o?["ecs"] as? String, "81.2.69.0/24")
        XCTAssertEqual(o?["ecs_scope"] as? Int, 20)
        XCTAssertEqual(o?["answer"] as? [String], ["A 192.0.2.10"])
        XCTAssertEqual(o?["member"] as? String, "lon")
        XCTAssertEqual(o?["pool"] as? String, "web")
        XCTAssertEqual(o?["placement"] as? String, "database")
        XCTAssertEqual(o?["time"] as? String, "2023-11-14T22:13:20.042Z")
    }

    func testRoutedAAAAWithIPv6ECSFromTheFallbackPoolOrNoPool() {
        var x = exchange(name("www.geo.test."), .aaaa, ecs: ("2001:db8:ab00::", 40, 48),
                         answers: [rr(name("www.geo.test."), .aaaa(IPAddress("2001:db8::10")!)),
                                   rr(name("www.geo.test."), .aaaa(IPAddress("2001:db8::11")!))])
        x.routeNameHash = Self.geoHash
        x.client = IPAddress("2001:db8:0:0:1::5")!
        x.tcp = true
        x.placement = .override
        XCTAssertEqual(check(x)?["member"] as? String, "lon6")
        // The fallback pool names 192.0.2.20; an address no pool holds is named by itself.
        var y = exchange(name("www.geo.test."), .a, answers: [rr(name("www.geo.test."), .a(IPAddress("192.0.2.20")!))])
        y.routeNameHash = Self.geoHash
        XCTAssertEqual(check(y)?["pool"] as? String, "spare")
        var z = exchange(name("www.geo.test."), .a, answers: [rr(name("www.geo.test."), .a(IPAddress("192.0.2.99")!))])
        z.routeNameHash = Self.geoHash
        z.placement = .unplaced
        let o = check(z)
        XCTAssertEqual(o?["pool"] as? String, "")
        XCTAssertEqual(o?["member"] as? String, "192.0.2.99")
        // A hash no route has (counted before a reload) gives no routed fields.
        z.routeNameHash = 99
        XCTAssertNil(check(z)?["routed_name"])
        // Labels with quotes, control characters and non-ASCII text.
        var w = exchange(name("quote.test."), .a, answers: [rr(name("quote.test."), .a(IPAddress("192.0.2.30")!))])
        w.routeNameHash = 77
        XCTAssertEqual(check(w)?["member"] as? String, "m\n\t\u{7f}\u{2603}")
        XCTAssertNil(check(w, labels: nil)?["member"], "no labels yet: no routed fields")
    }

    func testClientAndECSAddressForms() {
        for client in ["::", "::1", "2001:db8::", "1:0:0:1::1", "1:0:1:1:1:1:0:1", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1", "fe80::1:0:0:0",
                       "0.0.0.0", "255.255.255.255"] {
            var x = exchange(name("a.test."), .a, ecs: ("::ffff:10.0.0.0", 104, 104))
            x.client = IPAddress(client)!
            XCTAssertEqual(check(x)?["client"] as? String, client)
        }
        for (a, p) in [("0.0.0.0", UInt8(0)), ("10.1.2.3", 32), ("2001:db8::", 128), ("::", 0), ("10.128.0.0", 9)] {
            XCTAssertEqual(check(exchange(name("a.test."), .a, ecs: (a, p, 0)))?["ecs"] as? String, "\(a)/\(p)")
        }
    }

    // MARK: RFC 1034 §4.3.2 CNAME chains, RFC 2308 negative answers

    func testCNAMEChainNXDomainAndNoData() {
        let soa = rr(name("geo.test."), .soa(SOAData(mname: name("ns1.geo.test."), rname: name("hostmaster.geo.test."),
                                                     serial: 2_026_113_001, refresh: 7200, retry: 3600,
                                                     expire: 1_209_600, minimum: 300)))
        let chain = exchange(name("alias.geo.test."), .a, answers: [
            rr(name("alias.geo.test."), .cname(name("www.geo.test."))),
            rr(name("www.geo.test."), .a(IPAddress("192.0.2.10")!)),
        ])
        XCTAssertEqual(check(chain)?["answer"] as? [String], ["CNAME www.geo.test.", "A 192.0.2.10"])
        let nx = check(exchange(name("nope.geo.test."), .a, rcode: .nxDomain, ecs: ("81.2.69.0", 24, 0), authority: [soa]))
        XCTAssertEqual(nx?["rcode"] as? String, "NXDOMAIN")
        XCTAssertEqual(nx?["answer"] as? [String], [])
        XCTAssertEqual(nx?["ecs_scope"] as? Int, 0)
        check(exchange(name("geo.test."), .txt, authority: [soa]))
        XCTAssertEqual(check(exchange(name("geo.test."), .soa, answers: [soa]))?["answer"] as? [String],
                       ["SOA ns1.geo.test. hostmaster.geo.test. 2026113001 7200 3600 1209600 300"])
        for code in [ResponseCode.refused, .servFail, .formErr, .notImp, .notAuth, .badVers, ResponseCode(rawValue: 11),
                     ResponseCode(rawValue: 4095), ResponseCode(rawValue: 6)] {
            check(exchange(name("example.org."), .a, rcode: code, ecs: ("192.0.2.0", 24, 0)))
        }
        check(exchange(name("big.geo.test."), .a, tc: true))
    }

    // MARK: RFC 1035 §5.1 presentation format, RFC 8259 §7 JSON strings

    func testNamesNeedingEscapes() {
        let odd: [[UInt8]] = [
            Array("q\"uote".utf8), Array("back\\slash".utf8), [0, 1, 9, 10, 13, 31, 32, 127],
            Array("caf\u{e9}".utf8), [0xff, 0xfe, 0x80], Array("dot.in.label".utf8), Array(";()$@".utf8),
            Array("{\"json\":[1]}".utf8), Array("\u{2028}".utf8),
        ]
        for label in odd {
            let n = name(labels: [label, Array("test".utf8)])
            let o = check(exchange(n, .a, answers: [rr(n, .cname(n)), rr(n, .txt([label, [], Array("ok".utf8)]))]))
            XCTAssertEqual(o?["name"] as? String, n.description, "the log names the query in presentation format")
        }
        check(exchange(name("."), .ns, answers: [rr(name("."), .ns(name("a.root-servers.net.")))]))
    }

    func testEveryRDataForm() {
        let n = name("all.test.")
        let records: [RData] = [
            .a(IPAddress("192.0.2.1")!), .aaaa(IPAddress("2001:db8::1")!), .ns(name("ns.test.")), .ptr(name("p.test.")),
            .mx(preference: 10, exchange: name("mx.all.test.")), .srv(priority: 1, weight: 65535, port: 5060, target: name("sip.test.")),
            .txt([Array("v=spf1 -all".utf8), [0x22, 0x5c, 0x00, 0xff, 0x20]]), .txt([[]]),
            .caa(flags: 128, tag: Array("issue".utf8), value: Array("ca.example; \"x\"".utf8)),
            .caa(flags: 0, tag: [0xff, 0x22, 0x0a, 0x63], value: []),
            .unknown(RecordType(rawValue: 65280), [0xde, 0xad, 0x00]), .unknown(RecordType(rawValue: 99), []),
            .unknown(.dname, name("x.test.").wire), .unknown(.hinfo, [1, 0x41, 1, 0x42]),
        ]
        let o = check(exchange(n, .any, answers: records.map { rr(n, $0) }))
        XCTAssertEqual((o?["answer"] as? [String])?.count, records.count)
        for t in [RecordType.a, .aaaa, .mx, .srv, .caa, .ds, .rrsig, .nsec, .dnskey, .ixfr, .axfr, .opt,
                  RecordType(rawValue: 0), RecordType(rawValue: 65535)] {
            check(exchange(n, t))
        }
    }

    // MARK: what the first formatter took without parsing

    func testMalformedCutAndShortMessages() {
        let good = exchange(name("www.geo.test."), .a, ecs: ("81.2.69.0", 24, 24),
                            answers: [rr(name("www.geo.test."), .a(IPAddress("192.0.2.10")!))])
        var cut = good
        cut.responseCut = true
        let o = check(cut)
        XCTAssertNil(o?["answer"], "a cut response logs no answer")
        XCTAssertEqual(o?["rcode"] as? String, "NOERROR")
        var garbageQuery = good
        garbageQuery.query = Array(good.query.prefix(20))
        XCTAssertEqual(check(garbageQuery)?["name"] as? String, "www.geo.test.", "the name from the response")
        for n in [0, 2, 3, 4, 11, 12, 13] {
            var short = good
            short.response = Array(good.response.prefix(n))
            short.query = Array(good.query.prefix(n))
            check(short)
        }
        var trailing = good
        trailing.response.append(0)
        check(trailing)
        // Times at the edges of the cache and of the millisecond clamp.
        for (s, ns) in [(Int64(0), Int64(0)), (1, 999_999_999), (86_399, 1_000_000_000), (951_782_400, -5), (4_102_444_800, 1)] {
            var t = good
            t.seconds = s
            t.nanoseconds = ns
            check(t)
        }
    }

    /// Thousands of damaged messages (bytes flipped, cut, extended), seeded: both formatters agree
    /// on every one (same acceptance as `Message(parsing:)`), and every line is JSON.
    func testDamagedMessagesAgreeWithTheReference() {
        let soa = rr(name("geo.test."), .soa(SOAData(mname: name("ns1.geo.test."), rname: name("h.geo.test."),
                                                     serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5)))
        let bases = [
            exchange(name("www.geo.test."), .a, ecs: ("81.2.69.0", 24, 24), answers: [
                rr(name("www.geo.test."), .cname(name("w2.geo.test."))), rr(name("w2.geo.test."), .a(IPAddress("192.0.2.10")!)),
            ]),
            exchange(name("nope.geo.test."), .aaaa, rcode: .nxDomain, ecs: ("2001:db8::", 48, 32), authority: [soa]),
            exchange(name("m.geo.test."), .mx, answers: [rr(name("m.geo.test."), .mx(preference: 5, exchange: name("x.geo.test."))),
                                                         rr(name("m.geo.test."), .txt([[1, 2, 0x22]])),
                                                         rr(name("m.geo.test."), .caa(flags: 0, tag: [0x69], value: [0x41]))],
                     additional: [rr(name("x.geo.test."), .aaaa(IPAddress("2001:db8::10")!))]),
        ]
        var rng = SeededGenerator(seed: 0x51_0c)
        var checked = 0
        for round in 0..<3000 {
            var x = bases[round % bases.count]
            x.routeNameHash = round % 2 == 0 ? Self.geoHash : 0
            x.placement = PlacementKind(rawValue: UInt8(round % 5))!
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                switch rng.next() % 5 {
                case 0 where !x.response.isEmpty:
                    x.response[Int(rng.next() % UInt64(x.response.count))] = UInt8(truncatingIfNeeded: rng.next())
                case 1 where !x.query.isEmpty:
                    x.query[Int(rng.next() % UInt64(x.query.count))] = UInt8(truncatingIfNeeded: rng.next())
                case 2:
                    x.response = Array(x.response.prefix(Int(rng.next() % UInt64(x.response.count + 1))))
                case 3 where x.response.count > 12:
                    // A compression pointer at a random place: loops, forward and header targets.
                    let at = 12 + Int(rng.next() % UInt64(x.response.count - 12))
                    x.response[at] = 0xc0 | UInt8(truncatingIfNeeded: rng.next() & 0x3f)
                default:
                    x.response.append(UInt8(truncatingIfNeeded: rng.next()))
                }
            }
            if check(x) != nil { checked += 1 }
        }
        XCTAssertEqual(checked, 3000)
    }

    func testTheScanUsesDNSWiresLimits() {
        XCTAssertEqual(WireScan.maxNameLength, Limits.maxNameLength)
        XCTAssertEqual(WireScan.maxCompressionPointers, Limits.maxCompressionPointers)
        XCTAssertEqual(WireScan.maxRecordsPerSection, Limits.maxRecordsPerSection)
    }

    func testQuotedStringsAreEscapedAsJSON() {
        XCTAssertEqual(String(decoding: QueryLogFormatter.jsonQuoted("a\"b\\c\n\u{1}\u{e9}"), as: UTF8.self),
                       #""a\"b\\c\n\u0001"# + "\u{e9}\"")
    }
}
