import DNSWire
@testable import DNSZone
import XCTest

/// BIND's `$GENERATE` (BIND 9 ARM, "The $GENERATE Directive"; not in any RFC, and Knot 3.2 does
/// not read it), checked against the behaviour of BIND 9's `genname` and `nibbles`.
final class ZoneGenerateTests: XCTestCase {
    /// `$` substitution and `${offset,width,base}` modifiers, one value each.
    func testBIND9Generate_modifiers() throws {
        let cases: [(template: String, value: Int, expected: String)] = [
            ("host$", 7, "host7"),
            ("$.$", 12, "12.12"),
            ("h${0}", 3, "h3"),
            ("h${10}", 3, "h13"),
            ("h${-2}", 3, "h1"),
            ("h${-5}", 3, "h-2"),                 // BIND prints a negative decimal with its sign
            ("h${0,3}", 7, "h007"),
            ("h${0,3,d}", 7, "h007"),
            ("h${-20,3,d}", 27, "h007"),          // the ARM's own example: ${-20,3,d}
            ("h${0,5,d}", -0, "h00000"),
            ("h${-8,5}", 3, "h-0005"),            // printf("%05d", -5)
            ("h${0,0,o}", 8, "h10"),
            ("h${0,4,o}", 8, "h0010"),
            ("h${0,0,x}", 255, "hff"),
            ("h${0,0,X}", 255, "hFF"),
            ("h${0,4,x}", 171, "h00ab"),
            ("${0,0,n}", 0x1a, "a.1"),            // least significant nibble first
            ("${0,0,N}", 0x1a, "A.1"),
            ("${0,3,n}", 0x1a, "a.1"),
            ("${0,5,n}", 0x1a, "a.1.0"),          // zero nibbles fill the width, dots included
            ("${0,8,n}", 0x1a, "a.1.0.0."),       // an even width ends in a dot, as in BIND
            ("${0,0,n}", 0, "0"),
            ("a$$b", 1, "a$b"),                   // $$ is a literal dollar
            (#"a\$b"#, 1, #"a\$b"#),              // \$ is kept for the name/RDATA parser
            (#"a\\$"#, 4, #"a\\4"#),              // an escaped backslash does not escape the $
            ("no-dollar", 9, "no-dollar"),
        ]
        for c in cases {
            let template = try GenerateTemplate(Array(c.template.utf8))
            var out: [UInt8] = []
            try template.render(c.value, into: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), c.expected, "\(c.template) at \(c.value)")
        }
    }

    /// Malformed modifiers are refused with the reason.
    func testBIND9Generate_badModifiers() {
        let cases: [(template: String, expected: String)] = [
            ("h${1", "\"${\" without a closing \"}\""),
            ("h${}", #"bad offset in "${}": expected a decimal number such as -20 or 5"#),
            ("h${,3}", #"bad offset in "${,3}": expected a decimal number such as -20 or 5"#),
            ("h${0,x}", #"bad width in "${0,x}": expected a decimal number"#),
            ("h${0,3,q}", #"bad base in "${0,3,q}": expected one of d, o, x, X, n, N"#),
            ("h${0,3,d,1}", #"bad modifier "${0,3,d,1}": expected ${offset[,width[,base]]}"#),
            ("h${0,256}", #"width 256 in "${0,256}" exceeds 255"#),
        ]
        for c in cases {
            XCTAssertThrowsError(try GenerateTemplate(Array(c.template.utf8)), c.template) { error in
                XCTAssertEqual((error as? TextProblem)?.message, c.expected, c.template)
            }
        }
    }

    /// Whole directives: the records each one makes (the ARM's examples among them).
    func testBIND9Generate_directives() throws {
        let cases: [(name: String, body: String, owner: String, type: String, expected: [String])] = [
            ("A records, iterator in owner and RDATA", "$GENERATE 1-3 host$ A 192.0.2.$\n",
             "host2.example.test.", "A", ["host2.example.test. 3600 A 192.0.2.2"]),
            ("step", "$GENERATE 0-10/5 s$ A 192.0.2.$\n", "s10.example.test.", "A", ["s10.example.test. 3600 A 192.0.2.10"]),
            ("explicit TTL and class, either order", "$GENERATE 1-2 t$ 300 IN A 192.0.2.$\n$GENERATE 3-4 t$ IN 301 A 192.0.2.$\n",
             "t4.example.test.", "A", ["t4.example.test. 301 A 192.0.2.4"]),
            ("ARM: CNAME into a classless reverse zone", "$ORIGIN rev.example.test.\n$GENERATE 1-2 $ CNAME $.1-2\n",
             "2.rev.example.test.", "CNAME", ["2.rev.example.test. 3600 CNAME 2.1-2.rev.example.test."]),
            ("PTR with offset and width", "$GENERATE 1-4 ptr$ PTR host${100,4}.example.net.\n",
             "ptr3.example.test.", "PTR", ["ptr3.example.test. 3600 PTR host0103.example.net."]),
            ("nibble owners, as for ip6.arpa", "$ORIGIN 8.b.d.0.example.test.\n$GENERATE 10-11 ${0,3,n} PTR h$.example.net.\n",
             "a.0.8.b.d.0.example.test.", "PTR", ["a.0.8.b.d.0.example.test. 3600 PTR h10.example.net."]),
            ("quoted MX RDATA with a blank", "$GENERATE 1-2 m$ MX \"1$ mx$\"\n",
             "m2.example.test.", "MX", ["m2.example.test. 3600 MX 12 mx2.example.test."]),
            ("TXT with a quoted string inside the template", #"$GENERATE 5-5 t$ TXT "\"v=$ ok\" x$""# + "\n",
             "t5.example.test.", "TXT", [#"t5.example.test. 3600 TXT "v=5 ok" "x5""#]),
            ("SRV", "$GENERATE 1-1 _s$._tcp SRV \"0 0 80$ w$\"\n",
             "_s1._tcp.example.test.", "SRV", ["_s1._tcp.example.test. 3600 SRV 0 0 801 w1.example.test."]),
            ("AAAA with hex", "$GENERATE 254-255 v6-$ AAAA 2001:db8::${0,0,x}\n",
             "v6-255.example.test.", "AAAA", ["v6-255.example.test. 3600 AAAA 2001:db8::ff"]),
            ("NS delegations", "$GENERATE 1-2 c$ NS ns.c$\n$GENERATE 1-2 ns.c$ A 192.0.2.$\n",
             "c1.example.test.", "NS", ["c1.example.test. 3600 NS ns.c1.example.test."]),
            ("DNAME via the generic form", "$GENERATE 1-1 d$ DNAME \"\\# 1 00\"\n",
             "d1.example.test.", "DNAME", [##"d1.example.test. 3600 DNAME \# 1 00"##]),
            ("literal dollar in TXT", #"$GENERATE 1-1 lit TXT a\$$"# + "\n", "lit.example.test.", "TXT", [#"lit.example.test. 3600 TXT "a$1""#]),
            ("$GENERATE does not change the previous owner", "prev A 192.0.2.9\n$GENERATE 1-2 g$ A 192.0.2.$\n  AAAA 2001:db8::9\n",
             "prev.example.test.", "AAAA", ["prev.example.test. 3600 AAAA 2001:db8::9"]),
            ("a range of one at the 32-bit top", "$GENERATE 2147483647-2147483647 big$ TXT $\n",
             "big2147483647.example.test.", "TXT", [#"big2147483647.example.test. 3600 TXT "2147483647""#]),
        ]
        for c in cases {
            guard let zone = load(header + c.body) else { XCTFail(c.name); continue }
            XCTAssertEqual(show(zone.records(at: n(c.owner), type: type(c.type))), c.expected, c.name)
        }
        // Generated DNAMEs get the same warning as written ones, once per directive.
        let dname = load(header + "$GENERATE 1-3 d$ DNAME \"\\# 1 00\"\n")
        XCTAssertEqual(dname?.warnings.map(\.description),
                       ["t.zone:6: DNAME at d1.example.test. is served as plain data; names below it are not rewritten (RFC 6672)"])
    }

    /// RFC 1035 §5.1 TTL rules apply to generated records as to written ones: no `$TTL` means the
    /// last explicit TTL, then the SOA MINIMUM.
    func testRFC1035_5_1_GeneratedRecordsFollowTTLRules() throws {
        let body = """
        @ 600 SOA ns1 hostmaster 1 7200 900 1209600 300
          NS ns1
        ns1 A 192.0.2.53
        $GENERATE 1-2 g$ A 192.0.2.$
        $GENERATE 3-4 g$ 42 A 192.0.2.$
        after A 192.0.2.99

        """
        let zone = try XCTUnwrap(load("$ORIGIN example.test.\n" + body))
        XCTAssertEqual(show(zone.records(at: n("g1.example.test."), type: .a)), ["g1.example.test. 600 A 192.0.2.1"])
        XCTAssertEqual(show(zone.records(at: n("g4.example.test."), type: .a)), ["g4.example.test. 42 A 192.0.2.4"])
        XCTAssertEqual(show(zone.records(at: n("after.example.test."), type: .a)), ["after.example.test. 42 A 192.0.2.99"])
        XCTAssertEqual(zone.recordCount, 3 + 4 + 1)
    }

    /// Every `$GENERATE` problem names the file and the directive's line.
    func testBIND9Generate_errorsNameFileAndLine() {
        let big = Limits.maxGenerateRecords
        let cases: [(body: String, expected: String)] = [
            ("$GENERATE 1-3 h$ A", "t.zone:6: $GENERATE needs a range, an owner, a type and RDATA: $GENERATE start-stop[/step] owner [ttl] [class] type rdata"),
            ("$GENERATE 3-1 h$ A 192.0.2.$", #"t.zone:6: bad $GENERATE range "3-1": expected start-stop[/step] with 0 <= start <= stop <= 2147483647 and step >= 1"#),
            ("$GENERATE 1-3/0 h$ A 192.0.2.$", #"t.zone:6: bad $GENERATE range "1-3/0": expected start-stop[/step] with 0 <= start <= stop <= 2147483647 and step >= 1"#),
            ("$GENERATE -1-3 h$ A 192.0.2.$", #"t.zone:6: bad $GENERATE range "-1-3": expected start-stop[/step] with 0 <= start <= stop <= 2147483647 and step >= 1"#),
            ("$GENERATE 1-2147483648 h$ A 192.0.2.$", #"t.zone:6: bad $GENERATE range "1-2147483648": expected start-stop[/step] with 0 <= start <= stop <= 2147483647 and step >= 1"#),
            ("$GENERATE a-b h$ A 192.0.2.$", #"t.zone:6: bad $GENERATE range "a-b": expected start-stop[/step] with 0 <= start <= stop <= 2147483647 and step >= 1"#),
            ("$GENERATE 0-\(big) h$ TXT $", #"t.zone:6: $GENERATE range "0-\#(big)" makes \#(big + 1) records; at most \#(big) per directive"#),
            ("$GENERATE 1-3 h$ FOO x", #"t.zone:6: unknown record type "FOO""#),
            ("$GENERATE 1-3 h$ CH A 192.0.2.$", "t.zone:6: class CH is not supported (only IN) for h$ A"),
            ("$GENERATE 1-3 h$ MX 10 mx$", #"t.zone:6: $GENERATE takes the RDATA as one field; quote it when it has blanks, e.g. "10 mail$" (unexpected "mx$")"#),
            ("$GENERATE 1-3 h${0,x} A 192.0.2.$", #"t.zone:6: bad $GENERATE template: bad width in "${0,x}": expected a decimal number"#),
            ("$GENERATE 1-3 h$ A 192.0.2.${254}", #"t.zone:6: $GENERATE at 2: bad IPv4 address "192.0.2.256" in A record"#),
            ("$GENERATE 1-3 h$..x A 192.0.2.$", #"t.zone:6: $GENERATE at 1: bad owner name "h1..x": empty label"#),
            ("$GENERATE 1-3 h$ MX \"$\"", "t.zone:6: $GENERATE at 1: missing mail exchange in MX record"),
            ("$GENERATE 1-3 h${-2,0,x} A 192.0.2.$", "t.zone:6: $GENERATE at 1: 1 + offset -2 is negative; only base d can show it"),
            ("$GENERATE 1-3 h$ TXT \"\\\"open\"", #"t.zone:6: $GENERATE at 1: RDATA ""open": unterminated quoted string"#),
            ("$GENERATE 1-3 h$ HINFO \"a b\"", ##"t.zone:6: $GENERATE at 1: the text form of HINFO RDATA is not supported; write it as \# <length> <hex> (RFC 3597 §5)"##),
            ("$GENERATE 1-1 other.test. A 192.0.2.$", "t.zone:6: other.test. A is out of zone (not at or below example.test.)"),
        ]
        for c in cases {
            XCTAssertEqual(issues(header + c.body + "\n"), [c.expected], c.body)
        }
    }

    /// The per-directive bound is inclusive: 65,536 records load.
    func testBIND9Generate_largestDirectiveLoads() throws {
        let zone = try XCTUnwrap(load(header + "$GENERATE 0-65535 r$ TXT $\n"))
        XCTAssertEqual(zone.recordCount, 3 + Limits.maxGenerateRecords)
        XCTAssertEqual(show(zone.records(at: n("r65535.example.test."), type: .txt)), [#"r65535.example.test. 3600 TXT "65535""#])
    }

    /// The per-zone bounds (records and text) stop the directive that would cross them, at its
    /// line; the directives before it stand. Checked with small budgets so the test stays fast.
    func testBIND9Generate_zoneTotalsAreBounded() throws {
        XCTAssertEqual(Limits.maxGeneratedRecordsPerZone, 4 * Limits.maxGenerateRecords)
        var state = ParserState(file: "t.zone", origin: n("example.test."))
        state.maxGeneratedRecords = 5
        state.run(header + "$GENERATE 1-3 a$ TXT x\n$GENERATE 1-2 b$ TXT x\n$GENERATE 1-1 c$ TXT x\n")
        XCTAssertEqual(state.issues.map(\.description), ["t.zone:8: $GENERATE would take the zone past 5 generated records"])
        XCTAssertEqual(state.records.count, 3 + 5)

        var text = ParserState(file: "t.zone", origin: n("example.test."))
        text.maxGeneratedText = 100
        text.run(header + "$GENERATE 1-100 a$ TXT 0123456789\n")
        XCTAssertEqual(text.issues.map(\.description), ["t.zone:6: $GENERATE would expand the zone's templates past 100 characters"])
    }
}
