import DNSWire
import DNSZone
import GeoRouting
import XCTest
@testable import QueryEngine

/// `synthesize:` rules in the engine: one table of query → expected answer, named after the RFC
/// behaviour each row checks (RFC 1034 §4.3.2 answers and referrals, RFC 2308 NXDOMAIN/NODATA
/// with the SOA, RFC 8020 empty non-terminals, RFC 4343 case, RFC 1035 §3.5 / RFC 3596 §2.5 PTR).
final class SynthesisTests: XCTestCase {
    static let forwardZone = """
        $ORIGIN example.test.
        $TTL 300
        @     SOA ns1 hostmaster 1 7200 3600 1209600 60
              NS  ns1
        ns1   A   192.0.2.53
        workstation7.office  A   192.0.2.7
        x.workstation8.office TXT "below: workstation8 is an empty non-terminal"
        sub   NS  ns.elsewhere.example.
        *.wild A  192.0.2.99
        """
    static let reverseV4Zone = """
        $ORIGIN 16.172.in-addr.arpa.
        @  SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 60
           NS  ns1.example.test.
        9.2 PTR custom.example.test.
        """
    static let reverse10Zone = """
        $ORIGIN 10.in-addr.arpa.
        @  SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 60
           NS  ns1.example.test.
        *.9 PTR wild.example.test.
        """
    static let reverseV6Zone = """
        $ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.
        @  SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 60
           NS  ns1.example.test.
        """

    static func template(_ t: String) -> NameTemplate { try! NameTemplate.parse(t).get() }

    static func rule(_ i: Int, _ name: String, _ kind: SynthesisRule.Kind, ttl: UInt32 = 300) -> SynthesisRule {
        SynthesisRule(name: template(name), kind: kind, ttl: ttl, source: SynthesisRuleSource(index: i, file: "test.yaml", line: 10 + i))
    }

    static let rules: [SynthesisRule] = [
        rule(0, "workstation{n}.office.example.test.", .forward(.number(range: 1...254, base: IPAddress("172.16.2.0")!))),
        rule(1, "ip-{ipv4}.hosts.example.test.", .forward(.address(within: [IPNetwork("10.0.0.0/8")!]))),
        rule(2, "ip-{ipv6}.hosts.example.test.", .forward(.address(within: [IPNetwork("2001:db8::/32")!]))),
        rule(3, "host{n}.sub.example.test.", .forward(.number(range: 1...10, base: IPAddress("10.9.9.0")!))),
        rule(4, "w{n}.wild.example.test.", .forward(.number(range: 1...10, base: IPAddress("10.8.8.0")!))),
        rule(5, "node{n}.office.example.test.", .forward(.number(range: 0...4095, base: IPAddress("2001:db8:1::")!))),
        rule(6, "lab{n}.office.example.test.", .forward(.number(range: 128...255, base: IPAddress("172.16.3.0")!))),
        rule(7, "workstation{n}.office.example.test.", .reverse(IPNetwork("172.16.2.0/24")!)),
        rule(8, "ip-{ipv4}.hosts.example.test.", .reverse(IPNetwork("10.0.0.0/8")!)),
        rule(9, "ip-{ipv6}.hosts.example.test.", .reverse(IPNetwork("2001:db8::/32")!)),
        rule(10, "lab{n}.office.example.test.", .reverse(IPNetwork("172.16.3.128/25")!)),
    ]

    static func snapshot() throws -> EngineSnapshot {
        let zones = try [(forwardZone, "example.test."), (reverseV4Zone, "16.172.in-addr.arpa."),
                         (reverse10Zone, "10.in-addr.arpa."), (reverseV6Zone, "8.b.d.0.1.0.0.2.ip6.arpa.")].map {
            try ZoneParser.parse(text: $0.0, file: $0.1, origin: try DomainName(parsing: $0.1))
        }
        return EngineSnapshot(zones: try ZoneSet(zones), routes: [:], geoData: nil, locator: NoLocator(),
                              settings: EngineSettings(), generation: 1, synthesis: rules)
    }

    enum Expect {
        case answer([String])
        case noData
        case nxDomain
        case referral
    }

    static let v6Reverse1 = "1." + String(repeating: "0.", count: 23) + "8.b.d.0.1.0.0.2.ip6.arpa."

    static let cases: [(String, String, RecordType, Expect)] = [
        ("RFC1034 4.3.2 in range", "workstation42.office.example.test.", .a, .answer(["172.16.2.42"])),
        ("RFC1034 4.3.2 lowest", "workstation1.office.example.test.", .a, .answer(["172.16.2.1"])),
        ("RFC1034 4.3.2 highest", "workstation254.office.example.test.", .a, .answer(["172.16.2.254"])),
        ("RFC2308 2.1 below range", "workstation0.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 above range", "workstation255.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 leading zero", "workstation042.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 plus sign", "workstation+42.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 minus sign", "workstation-42.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 too many digits", "workstation0042.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 more digits than range", "workstation1000.office.example.test.", .a, .nxDomain),
        ("RFC2308 2.1 no digits", "workstation.office.example.test.", .a, .nxDomain),
        ("RFC4343 case-insensitive", "WorkStation42.OFFICE.Example.TEST.", .a, .answer(["172.16.2.42"])),
        ("RFC2308 2.2 other type", "workstation42.office.example.test.", .aaaa, .noData),
        ("RFC2308 2.2 TXT", "workstation42.office.example.test.", .txt, .noData),
        ("RFC8482 ANY", "workstation42.office.example.test.", .any, .answer(["172.16.2.42"])),
        ("RFC2308 2.1 no children", "a.workstation42.office.example.test.", .a, .nxDomain),
        ("RFC1034 4.3.2 zone data wins", "workstation7.office.example.test.", .a, .answer(["192.0.2.7"])),
        ("RFC8020 zone ENT wins", "workstation8.office.example.test.", .a, .noData),
        ("RFC8020 synthesized ENT", "office.example.test.", .a, .noData),
        ("RFC1034 4.3.2 referral below cut", "host3.sub.example.test.", .a, .referral),
        ("RFC4592 wildcard wins", "w3.wild.example.test.", .a, .answer(["192.0.2.99"])),
        ("within ipv4", "ip-10-1-2-3.hosts.example.test.", .a, .answer(["10.1.2.3"])),
        ("within ipv4 outside", "ip-11-1-2-3.hosts.example.test.", .a, .nxDomain),
        ("ipv4 leading zero", "ip-10-01-2-3.hosts.example.test.", .a, .nxDomain),
        ("ipv4 octet too big", "ip-10-1-2-256.hosts.example.test.", .a, .nxDomain),
        ("ipv4 three octets", "ip-10-1-2.hosts.example.test.", .a, .nxDomain),
        ("within ipv6", "ip-2001-db8--1.hosts.example.test.", .aaaa, .answer(["2001:db8::1"])),
        ("ipv6 upper case", "IP-2001-DB8--1.hosts.example.test.", .aaaa, .answer(["2001:db8::1"])),
        ("RFC5952 not compressed", "ip-2001-db8-0-0-0-0-0-1.hosts.example.test.", .aaaa, .nxDomain),
        ("RFC5952 leading zero", "ip-2001-0db8--1.hosts.example.test.", .aaaa, .nxDomain),
        ("RFC5952 one group compressed", "ip-2001-db8-1-1-1-1--1.hosts.example.test.", .aaaa, .nxDomain),
        ("RFC5952 full form", "ip-2001-db8-1-1-1-1-1-1.hosts.example.test.", .aaaa, .answer(["2001:db8:1:1:1:1:1:1"])),
        ("within ipv6 outside", "ip-2001-db9--1.hosts.example.test.", .aaaa, .nxDomain),
        ("ipv6 name asked A", "ip-2001-db8--1.hosts.example.test.", .a, .noData),
        ("ipv6 number rule", "node10.office.example.test.", .aaaa, .answer(["2001:db8:1::a"])),
        ("RFC1035 3.5 reverse v4", "42.2.16.172.in-addr.arpa.", .ptr, .answer(["workstation42.office.example.test."])),
        ("RFC1035 3.5 reverse of zone data", "7.2.16.172.in-addr.arpa.", .ptr, .nxDomain),
        ("RFC1035 3.5 zone PTR wins", "9.2.16.172.in-addr.arpa.", .ptr, .answer(["custom.example.test."])),
        ("RFC4592 reverse wildcard wins", "1.2.9.10.in-addr.arpa.", .ptr, .answer(["wild.example.test."])),
        ("RFC1035 3.5 reverse within, wildcard elsewhere", "3.2.8.10.in-addr.arpa.", .ptr, .answer(["ip-10-8-2-3.hosts.example.test."])),
        ("RFC1035 3.5 reverse case", "42.2.16.172.IN-ADDR.ARPA.", .ptr, .answer(["workstation42.office.example.test."])),
        ("RFC3596 2.5 reverse v6 upper nibble", "A." + String(repeating: "0.", count: 23) + "8.B.D.0.1.0.0.2.ip6.arpa.", .ptr,
         .answer(["ip-2001-db8--a.hosts.example.test."])),
        ("RFC3596 2.5 reverse v6 zeros", "0." + String(repeating: "0.", count: 23) + "8.b.d.0.1.0.0.2.ip6.arpa.", .ptr,
         .answer(["ip-2001-db8--.hosts.example.test."])),
        ("RFC1035 3.5 reverse out of range", "255.2.16.172.in-addr.arpa.", .ptr, .nxDomain),
        ("RFC1035 3.5 reverse other type", "42.2.16.172.in-addr.arpa.", .a, .noData),
        ("RFC1035 3.5 reverse leading zero", "042.2.16.172.in-addr.arpa.", .ptr, .nxDomain),
        ("RFC8020 reverse ENT", "2.16.172.in-addr.arpa.", .ptr, .noData),
        ("RFC1035 3.5 reverse non-octet", "200.3.16.172.in-addr.arpa.", .ptr, .answer(["lab200.office.example.test."])),
        ("RFC1035 3.5 reverse outside /25", "100.3.16.172.in-addr.arpa.", .ptr, .nxDomain),
        ("RFC1035 3.5 reverse within", "3.2.1.10.in-addr.arpa.", .ptr, .answer(["ip-10-1-2-3.hosts.example.test."])),
        ("RFC3596 2.5 reverse v6", v6Reverse1, .ptr, .answer(["ip-2001-db8--1.hosts.example.test."])),
    ]

    func ask(_ snap: EngineSnapshot, _ name: String, _ type: RecordType) throws -> Message {
        let q = Message(header: Header(id: 7), questions: [Question(name: try DomainName(parsing: name), type: type)]).serialized()
        var bytes: [UInt8]?
        if case .response(let r) = QueryEngine.respond(to: q, context: QueryContext(source: IPAddress("192.0.2.9")!, transport: .tcp),
                                                       snapshot: snap, states: BackendStates()) {
            bytes = r
        }
        return try Message(parsing: XCTUnwrap(bytes, "no response for \(name) \(type)"))
    }

    func testSynthesisTable() throws {
        let snap = try Self.snapshot()
        for (label, name, type, expect) in Self.cases {
            let m = try ask(snap, name, type)
            let what = "\(label): \(name) \(type)"
            switch expect {
            case .answer(let rdata):
                XCTAssertEqual(m.rcode, .noError, what)
                XCTAssertTrue(m.header.authoritative, what)
                XCTAssertEqual(m.answerSection.map { $0.rdata.description }, rdata, what)
                // Answered with the question's case (RFC 4343 §4.1 leaves it to us; we echo it).
                for rr in m.answerSection { XCTAssertEqual(rr.name.wire, try DomainName(parsing: name).wire, what) }
            case .noData:
                XCTAssertEqual(m.rcode, .noError, what)
                XCTAssertEqual(m.answerSection.count, 0, what)
                XCTAssertEqual(m.authoritySection.map(\.type), [.soa], what)
            case .nxDomain:
                XCTAssertEqual(m.rcode, .nxDomain, what)
                XCTAssertEqual(m.answerSection.count, 0, what)
                XCTAssertEqual(m.authoritySection.map(\.type), [.soa], what)
                XCTAssertEqual(m.authoritySection.first?.ttl, 60, "\(what): RFC 2308 §3 negative TTL")
            case .referral:
                XCTAssertEqual(m.rcode, .noError, what)
                XCTAssertFalse(m.header.authoritative, what)
                XCTAssertEqual(m.authoritySection.map(\.type), [.ns], what)
            }
        }
    }

    func testSynthesizedTTLIsTheRules() throws {
        let m = try ask(try Self.snapshot(), "workstation5.office.example.test.", .a)
        XCTAssertEqual(m.answerSection.first?.ttl, 300)
    }

    /// Each address has exactly one name: the printer and the parser agree, and only the printed
    /// form parses (RFC 5952 §4).
    func testRFC5952_4_oneNamePerAddress() throws {
        for text in ["::", "::1", "1::", "2001:db8::1", "2001:db8:0:1:1:1:1:1", "2001:0:0:1::1", "1:0:0:2:0:0:0:3",
                     "::ffff:10.1.2.3", "fe80::abcd:ef01", "1:2:3:4:5:6:7:8"] {
            let a = try XCTUnwrap(IPAddress(text))
            let label = SynthesisText.label(a)
            let parsed = label.withUnsafeBytes { SynthesisText.ipv6($0) }
            XCTAssertEqual(parsed, a, "\(text) → \(String(decoding: label, as: UTF8.self))")
        }
        for bad in ["2001-db8-0--1", "--0-1", "1--2-0-0-0-3", "0--", "1-2-3-4-5-6-7-8-9", "1--2--3", "-1", "1-"] {
            XCTAssertNil(Array(bad.utf8).withUnsafeBytes { SynthesisText.ipv6($0) }, bad)
        }
    }

    /// Uniqueness both ways, over many generated texts (fixed seed): whatever text parses is the
    /// printed form of the address it parses to, so no address answers to two names; and random
    /// addresses round-trip.
    func testRFC5952_4_everyAcceptedTextIsTheCanonicalOne() {
        var x: UInt64 = 0x2545_f491_4f6c_dd1d
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        let v6Alphabet = Array("0123456789abcdef-".utf8), v4Alphabet = Array("0123456789-".utf8)
        var accepted = 0
        for i in 0..<40_000 {
            let alphabet = i % 2 == 0 ? v6Alphabet : v4Alphabet
            // Mostly zeros, separators and short groups, so that many candidates are valid.
            let length = 2 + Int(next() % 20)
            let text = (0..<length).map { _ in next() % 3 == 0 ? UInt8(ascii: "0") : alphabet[Int(next() % UInt64(alphabet.count))] }
            let parsed = text.withUnsafeBytes { i % 2 == 0 ? SynthesisText.ipv6($0) : SynthesisText.ipv4($0) }
            if let parsed {
                accepted += 1
                XCTAssertEqual(SynthesisText.label(parsed), text, String(decoding: text, as: UTF8.self))
            }
            let v6 = IPAddress.v6(next() & 0xffff_0000_ffff_0000, next() & 0x0000_ffff_0000_ffff)
            XCTAssertEqual(SynthesisText.label(v6).withUnsafeBytes { SynthesisText.ipv6($0) }, v6)
            let v4 = IPAddress.v4(UInt32(truncatingIfNeeded: next()))
            XCTAssertEqual(SynthesisText.label(v4).withUnsafeBytes { SynthesisText.ipv4($0) }, v4)
            // The fast path's in-place writer prints the same text.
            for value in [SynthesisValue.address(v6), .address(v4), .number(next() % 100_000)] {
                var buffer = [UInt8](repeating: 0, count: 64)
                let n = buffer.withUnsafeMutableBytes { SynthesisText.write(value, into: $0, at: 3) }
                let expected: [UInt8]
                if case .number(let k) = value { expected = Array(String(k).utf8) } else if case .address(let a) = value {
                    expected = SynthesisText.label(a)
                } else { expected = [] }
                XCTAssertEqual(Array(buffer[3..<(3 + n)]), expected)
            }
        }
        XCTAssertGreaterThan(accepted, 10, "the generator produces valid texts too (deterministic: fixed seed)")
    }

    func testTemplatesRejectPlaceholdersOutsideTheFirstLabel() {
        XCTAssertNil(try? NameTemplate.parse("host.{n}.example.test.").get())
        XCTAssertNil(try? NameTemplate.parse("host{n}{n}.example.test.").get())
        XCTAssertNil(try? NameTemplate.parse("host{n}.example.test").get(), "relative")
        XCTAssertNil(try? NameTemplate.parse("host.example.test.").get(), "no placeholder")
        XCTAssertNotNil(try? NameTemplate.parse("a{n}b.example.test.").get())
    }

    func testOverlapDetection() {
        let r = Self.rules
        XCTAssertFalse(r[0].overlaps(r[5]), "different prefixes that cannot meet")
        XCTAssertTrue(r[0].overlaps(Self.rule(11, "workstation{n}.office.example.test.",
                                              .forward(.number(range: 200...300, base: IPAddress("172.16.9.0")!)))))
        XCTAssertFalse(r[0].overlaps(Self.rule(11, "workstation{n}.office.example.test.",
                                               .forward(.number(range: 255...300, base: IPAddress("172.16.9.0")!)))))
        XCTAssertFalse(r[0].overlaps(Self.rule(11, "work{n}.office.example.test.",
                                               .forward(.number(range: 1...2, base: IPAddress("172.16.9.0")!)))),
                       "'station' is not digits")
        XCTAssertTrue(Self.rule(11, "ws{n}.a.test.", .forward(.number(range: 1...99, base: IPAddress("10.0.0.0")!)))
            .overlaps(Self.rule(12, "ws1{n}.a.test.", .forward(.number(range: 1...99, base: IPAddress("10.0.1.0")!)))))
        XCTAssertFalse(r[1].overlaps(r[2]), "{ipv4} and {ipv6} texts never coincide")
        XCTAssertTrue(r[7].overlaps(Self.rule(11, "x{n}.a.test.", .reverse(IPNetwork("172.16.2.128/25")!))))
        XCTAssertFalse(r[7].overlaps(r[10]))
    }

    /// `proxima explain` is the engine's own resolution with the deciding step named.
    func testExplainNamesTheDecidingRule() throws {
        let snap = try Self.snapshot()
        func kinds(_ name: String, _ type: RecordType = .a) throws -> [String] {
            QueryEngine.explain(name: try DomainName(parsing: name), type: type, snapshot: snap, states: BackendStates())
                .document.steps.map(\.kind)
        }
        let e = QueryEngine.explain(name: try DomainName(parsing: "workstation42.office.example.test."), type: .a,
                                    snapshot: snap, states: BackendStates())
        XCTAssertEqual(e.document.steps.first?.rule, 0)
        XCTAssertEqual(e.document.steps.first?.ruleLine, 10)
        XCTAssertEqual(e.document.answer.count, 1)
        XCTAssertTrue(e.text().contains("synthesize[0]"), e.text())
        XCTAssertEqual(try kinds("workstation7.office.example.test."), ["zone-answer"])
        XCTAssertEqual(try kinds("workstation0.office.example.test."), ["synthesized"])
        XCTAssertEqual(try kinds("nothing.example.test."), ["nxdomain"])
        XCTAssertEqual(try kinds("ns1.example.test.", .txt), ["nodata"])
        XCTAssertEqual(try kinds("host3.sub.example.test."), ["delegation"])
        XCTAssertEqual(try kinds("w3.wild.example.test."), ["wildcard-answer"])
        XCTAssertEqual(try kinds("www.elsewhere.test."), ["not-ours"])
    }
}
