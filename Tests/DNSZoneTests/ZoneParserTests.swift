import DNSWire
@testable import DNSZone
import XCTest

/// Master-file syntax (RFC 1035 §5.1, RFC 2308 §4, RFC 3597 §5): what each feature parses to.
final class ZoneParserTests: XCTestCase {
    /// Tests/Fixtures/zones/syntax.zone uses every feature once; check the records it yields.
    func testRFC1035Section5_1_fixtureRecords() throws {
        let zone = try Fixture.zone("Tests/Fixtures/zones/syntax.zone", origin: "syntax.test.")
        let cases: [(owner: String, type: String, expected: [String])] = [
            ("syntax.test.", "SOA", ["syntax.test. 93600 SOA ns.syntax.test. hostmaster.syntax.test. 2024060101 3600 900 604800 300"]),
            ("syntax.test.", "NS", ["syntax.test. 93600 NS ns.syntax.test.", "syntax.test. 93600 NS ns.elsewhere.example."]),
            ("ns.syntax.test.", "A", ["ns.syntax.test. 300 A 192.0.2.53"]),
            ("ns.syntax.test.", "AAAA", ["ns.syntax.test. 600 AAAA 2001:db8::53"]),
            ("mixed.case.syntax.test.", "A", ["Mixed.Case.syntax.test. 93600 A 192.0.2.10", "Mixed.Case.syntax.test. 93600 A 192.0.2.11"]),
            ("txt.syntax.test.", "TXT", [#"txt.syntax.test. 93600 TXT "quoted "escapes" \ A" "unquoted word" """#]),
            ("long.syntax.test.", "TXT", [#"long.syntax.test. 93600 TXT "a" "b" "c""#]),
            ("mx.syntax.test.", "MX", ["mx.syntax.test. 93600 MX 0 ."]),
            ("srv._tcp.syntax.test.", "SRV", ["srv._tcp.syntax.test. 93600 SRV 1 2 3 target.syntax.test."]),
            ("caa.syntax.test.", "CAA", [#"caa.syntax.test. 93600 CAA 128 issue "ca.example.net; account=1""#,
                                         #"caa.syntax.test. 93600 CAA 0 issuewild ";""#]),
            ("ptr.syntax.test.", "PTR", ["ptr.syntax.test. 93600 PTR ptr.target.example."]),
            ("generic.syntax.test.", "TYPE65280", [##"generic.syntax.test. 93600 TYPE65280 \# 3 abcdef"##]),
            ("generic2.syntax.test.", "TYPE65281", [##"generic2.syntax.test. 93600 TYPE65281 \# 0 "##]),
            ("a-generic.syntax.test.", "A", ["a-generic.syntax.test. 93600 A 192.0.2.1"]),
            ("mx-generic.syntax.test.", "MX", ["mx-generic.syntax.test. 93600 MX 10 mx."]),
            ("typ.syntax.test.", "A", ["typ.syntax.test. 93600 A 192.0.2.31"]),
            ("rel.sub.syntax.test.", "A", ["rel.sub.syntax.test. 93600 A 192.0.2.40"]),
            ("sub.syntax.test.", "A", ["sub.syntax.test. 93600 A 192.0.2.41"]),
            ("short.sub.syntax.test.", "A", ["short.sub.syntax.test. 60 A 192.0.2.42"]),
            (#"escaped\.dot.sub.syntax.test."#, "A", [#"escaped\.dot.sub.syntax.test. 60 A 192.0.2.43"#]),
        ]
        for c in cases {
            XCTAssertEqual(show(zone.records(at: n(c.owner), type: type(c.type))), c.expected, "\(c.owner) \(c.type)")
        }
        XCTAssertEqual(zone.recordCount, 24)
        XCTAssertEqual(zone.warnings, [])
        // The escaped dot stays inside one label.
        XCTAssertEqual(n(#"escaped\.dot.sub.syntax.test."#).labelCount, 4)
    }

    /// Owner, TTL and class omission and ordering rules, one small zone per case.
    func testRFC1035Section5_1_ownerTTLClassRules() {
        let cases: [(name: String, body: String, owner: String, type: String, expected: [String])] = [
            ("blank line start repeats the previous owner", "www A 192.0.2.1\n  AAAA 2001:db8::1\n",
             "www.example.test.", "AAAA", ["www.example.test. 3600 AAAA 2001:db8::1"]),
            ("TTL then class", "t 120 IN A 192.0.2.1\n", "t.example.test.", "A", ["t.example.test. 120 A 192.0.2.1"]),
            ("class then TTL", "t IN 120 A 192.0.2.1\n", "t.example.test.", "A", ["t.example.test. 120 A 192.0.2.1"]),
            ("TTL units", "t 1w2d3h4m5s A 192.0.2.1\n", "t.example.test.", "A", ["t.example.test. 788645 A 192.0.2.1"]),
            ("upper-case units", "t 1H30M A 192.0.2.1\n", "t.example.test.", "A", ["t.example.test. 5400 A 192.0.2.1"]),
            ("CLASS1 is IN (RFC 3597 §5)", "t CLASS1 A 192.0.2.1\n", "t.example.test.", "A", ["t.example.test. 3600 A 192.0.2.1"]),
            ("TYPE28 uses the AAAA text form", "t TYPE28 2001:db8::2\n", "t.example.test.", "AAAA", ["t.example.test. 3600 AAAA 2001:db8::2"]),
            ("@ is the current origin", "$ORIGIN o.example.test.\n@ A 192.0.2.3\n", "o.example.test.", "A", ["o.example.test. 3600 A 192.0.2.3"]),
            ("$ORIGIN relative to the previous one", "$ORIGIN o\nx A 192.0.2.4\n", "x.o.example.test.", "A", ["x.o.example.test. 3600 A 192.0.2.4"]),
            ("absolute owner", "abs.example.test. A 192.0.2.5\n", "abs.example.test.", "A", ["abs.example.test. 3600 A 192.0.2.5"]),
            ("wildcard owner", "*.w A 192.0.2.6\n", "*.w.example.test.", "A", ["*.w.example.test. 3600 A 192.0.2.6"]),
            ("comment inside parentheses", "t MX ( 10 ; pref\n mail ) ; target\n", "t.example.test.", "MX", ["t.example.test. 3600 MX 10 mail.example.test."]),
            ("TXT string of exactly 255 octets", "t TXT \(String(repeating: "x", count: 255))\n", "t.example.test.", "TXT",
             ["t.example.test. 3600 TXT \"\(String(repeating: "x", count: 255))\""]),
            ("escaped semicolon and parenthesis in a word", #"t TXT a\;b\(c"# + "\n", "t.example.test.", "TXT", [#"t.example.test. 3600 TXT "a;b(c""#]),
            ("CRLF line ends", "t A 192.0.2.7\r\nu A 192.0.2.8\r\n", "u.example.test.", "A", ["u.example.test. 3600 A 192.0.2.8"]),
            ("duplicate RRs collapse (RFC 2181 §5)", "t A 192.0.2.9\nt A 192.0.2.9\n", "t.example.test.", "A", ["t.example.test. 3600 A 192.0.2.9"]),
            ("SOA numbers with units", "", "example.test.", "SOA", ["example.test. 3600 SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300"]),
            ("CAA unquoted value", "t CAA 0 issue ca.example.net\n", "t.example.test.", "CAA", [#"t.example.test. 3600 CAA 0 issue "ca.example.net""#]),
            ("SRV root target", "_x._tcp SRV 0 0 0 .\n", "_x._tcp.example.test.", "SRV", ["_x._tcp.example.test. 3600 SRV 0 0 0 ."]),
            ("AAAA with embedded IPv4", "t AAAA ::ffff:192.0.2.1\n", "t.example.test.", "AAAA", ["t.example.test. 3600 AAAA ::ffff:192.0.2.1"]),
            ("known extra mnemonic in generic form", "t TLSA \\# 3 030101\n", "t.example.test.", "TYPE52", [##"t.example.test. 3600 TYPE52 \# 3 030101"##]),
        ]
        for c in cases {
            let text = header.replacingOccurrences(of: "1 7200 900 1209600 300", with: "1 2h 15m 2w 5m") + c.body
            guard let zone = load(text) else { XCTFail(c.name); continue }
            XCTAssertEqual(show(zone.records(at: n(c.owner), type: type(c.type))), c.expected, c.name)
        }
    }

    /// RFC 2308 §4 and BIND: omitted TTL = $TTL; without $TTL the last explicit TTL (RFC 1035);
    /// without either, the SOA MINIMUM with a warning.
    func testRFC2308Section4_defaultTTL() throws {
        let cases: [(name: String, text: String, expected: [String: UInt32], warned: Bool)] = [
            ("$TTL wins over the last explicit TTL",
             "$TTL 100\n@ SOA ns h 1 2 3 4 5\n NS ns\nns 200 A 192.0.2.1\nb A 192.0.2.2\n",
             ["ns": 200, "b": 100], false),
            ("no $TTL: the last explicit TTL (RFC 1035 §5.1)",
             "@ 300 SOA ns h 1 2 3 4 5\n NS ns\nns 200 A 192.0.2.1\nb A 192.0.2.2\n",
             ["@": 300, "ns": 200, "b": 200], false),
            ("nothing given: the SOA MINIMUM",
             "@ SOA ns h 1 2 3 4 77\n NS ns\nns A 192.0.2.1\n",
             ["@": 77, "ns": 77], true),
            ("records before the SOA get the SOA MINIMUM too",
             "ns A 192.0.2.1\n@ SOA ns h 1 2 3 4 66\n NS ns\n",
             ["ns": 66, "@": 66], true),
            ("$TTL later in the file applies from there",
             "@ 300 SOA ns h 1 2 3 4 5\n NS ns\nns A 192.0.2.1\n$TTL 50\nb A 192.0.2.2\n",
             ["ns": 300, "b": 50], false),
        ]
        for c in cases {
            let zone = try ZoneParser.parse(text: c.text, file: "t.zone", origin: n("example.test."))
            for (owner, ttl) in c.expected {
                let name = owner == "@" ? n("example.test.") : n(owner + ".example.test.")
                XCTAssertEqual(zone.rrsets(at: name).first?.ttl, ttl, "\(c.name): \(owner)")
            }
            XCTAssertEqual(zone.warnings.contains { $0.code == .ttl }, c.warned, c.name)
        }
    }

    /// The lexer keeps escapes raw, handles quotes and parentheses, and reports the line.
    func testLexerTokensAndLines() {
        var problems: [ZoneIssue] = []
        let text = "a  1 IN TXT \"x y\" ; c\n  ( b\n c ) d\n\n; only a comment\ne\\ f g\n"
        let entries = ZoneLexer.entries(of: text, file: "t", issues: &problems)
        XCTAssertEqual(problems, [])
        XCTAssertEqual(entries.map { $0.tokens.map(\.text) }, [["a", "1", "IN", "TXT", "x y"], ["b", "c", "d"], ["e\\ f", "g"]])
        XCTAssertEqual(entries.map(\.line), [1, 2, 6])
        XCTAssertEqual(entries.map(\.startsWithBlank), [false, true, false])
        XCTAssertEqual(entries[0].tokens[4].quoted, true)
        XCTAssertEqual(entries[1].tokens.map(\.line), [2, 3, 3])
    }

    /// BIND duration syntax.
    func testTTLUnits() {
        let cases: [(String, UInt64?)] = [
            ("0", 0), ("3600", 3600), ("1s", 1), ("1m", 60), ("1h", 3600), ("1d", 86400), ("1w", 604_800),
            ("1h30", 3630), ("2w1d", 1_296_000), ("4294967295", 4_294_967_295), ("4294967296", nil),
            ("h", nil), ("1x", nil), ("", nil), ("-1", nil), ("1hh", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(parseDuration(Array(text.utf8)), expected, text)
        }
    }

    /// RFC 3597 §5: generic RDATA of known types decodes to the typed form.
    func testRFC3597Section5_genericKnownTypes() {
        let cases: [(String, String, String)] = [
            (##"t NS \# 12 026e73076578616d706c6500"##, "NS", "t.example.test. 3600 NS ns.example."),
            (##"t CNAME \# 3 017800"##, "CNAME", "t.example.test. 3600 CNAME x."),
            (##"t AAAA \# 16 20010db8000000000000000000000001"##, "AAAA", "t.example.test. 3600 AAAA 2001:db8::1"),
            (##"t TXT \# 6 026869017a00"##, "TXT", #"t.example.test. 3600 TXT "hi" "z" """#),
            (##"t SRV \# 9 000100020003017400"##, "SRV", "t.example.test. 3600 SRV 1 2 3 t."),
            (##"t CAA \# 8 0005697373756578"##, "CAA", #"t.example.test. 3600 CAA 0 issue "x""#),
            (##"t PTR \# 1 00"##, "PTR", "t.example.test. 3600 PTR ."),
        ]
        for (line, t, expected) in cases {
            guard let zone = load(header + line + "\n") else { continue }
            XCTAssertEqual(show(zone.records(at: n("t.example.test."), type: type(t))), [expected], line)
        }
    }
}
