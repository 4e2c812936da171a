import DNSWire
import DNSZone
import XCTest

/// Every parse error names its file, line and token; parsing continues after a bad line.
final class ZoneErrorTests: XCTestCase {
    /// One bad line appended to a good zone (the header is 5 lines, so the bad line is line 6).
    func testParseErrorsNameLineAndToken() {
        let cases: [(body: String, expected: String)] = [
            ("www A 192.0.2.300", #"t.zone:6: bad IPv4 address "192.0.2.300" in A record"#),
            ("www A 2001:db8::1", #"t.zone:6: bad IPv4 address "2001:db8::1" in A record"#),
            ("www AAAA 192.0.2.1", #"t.zone:6: bad IPv6 address "192.0.2.1" in AAAA record"#),
            ("www AAAA 2001:db8::g", #"t.zone:6: bad IPv6 address "2001:db8::g" in AAAA record"#),
            ("www A", "t.zone:6: missing IPv4 address in A record"),
            ("www A 192.0.2.1 extra", #"t.zone:6: unexpected "extra" after the A RDATA"#),
            ("www", #"t.zone:6: missing record type after "www""#),
            ("www FOO 1", #"t.zone:6: unknown record type "FOO""#),
            ("www 1x A 192.0.2.1", #"t.zone:6: bad TTL "1x""#),
            ("www 2147483648 A 192.0.2.1", #"t.zone:6: TTL "2147483648" exceeds 2147483647 (RFC 2181 §8)"#),
            ("www CH A 192.0.2.1", "t.zone:6: class CH is not supported (only IN) for www.example.test. A"),
            ("www CLASS3 A 192.0.2.1", "t.zone:6: class CH is not supported (only IN) for www.example.test. A"),
            ("www AXFR x", "t.zone:6: type AXFR cannot appear in zone data"),
            ("www OPT x", "t.zone:6: type OPT cannot appear in zone data"),
            ("$INCLUDE other.zone", "t.zone:6: $INCLUDE is not available here (the zone was given as text, without file access)"),
            ("$GENERATE 1-10 h$ A 192.0.2.${300}", "t.zone:6: $GENERATE at 1: bad IPv4 address \"192.0.2.301\" in A record"),
            ("$FOO bar", #"t.zone:6: unknown directive "$FOO""#),
            ("$TTL", "t.zone:6: $TTL takes exactly one TTL"),
            ("$TTL 1y", #"t.zone:6: bad TTL "1y""#),
            ("$ORIGIN a..b", #"t.zone:6: bad $ORIGIN "a..b": empty label"#),
            ("a..b A 192.0.2.1", #"t.zone:6: bad owner name "a..b": empty label"#),
            ("\(String(repeating: "x", count: 64)) A 192.0.2.1", #"t.zone:6: bad owner name ""# + String(repeating: "x", count: 64) + #"": label longer than 63 octets"#),
            ("www TXT \"unterminated", "t.zone:6: unterminated quoted string"),
            ("www MX ( 10 mail", "t.zone:6: '(' is never closed"),
            ("www A 192.0.2.1 )", "t.zone:6: ')' without a matching '('"),
            ("www MX ( 10 ( mail ) )", "t.zone:6: nested '(' (the one on line 6 is still open)"),
            ("www MX 70000 mail", #"t.zone:6: bad preference "70000" in MX record (expected 0...65535)"#),
            ("www MX ten mail", #"t.zone:6: bad preference "ten" in MX record (expected 0...65535)"#),
            ("www MX 10", "t.zone:6: missing mail exchange in MX record"),
            ("www NS \"quoted\"", #"t.zone:6: bad name server "quoted" in NS record: a domain name cannot be a quoted string"#),
            ("www CNAME a..b", #"t.zone:6: bad canonical name "a..b" in CNAME record: empty label"#),
            ("www SRV 1 2 port target", #"t.zone:6: bad port "port" in SRV record (expected 0...65535)"#),
            ("www SOA ns h 1 2 3 4", "t.zone:6: missing minimum in SOA record"),
            ("www SOA ns h 4294967296 2 3 4 5", #"t.zone:6: bad serial "4294967296" in SOA record (expected 0...4294967295)"#),
            ("www TXT \(String(repeating: "y", count: 256))",
             "t.zone:6: TXT string of 256 octets exceeds 255 (RFC 1035 §3.3); split it into several strings"),
            (#"www TXT "\999""#, #"t.zone:6: bad string "\999" in TXT record: \DDD escape above 255"#),
            (#"www TXT "\12""#, #"t.zone:6: bad string "\12" in TXT record: \DDD escape needs three digits"#),
            ("www TXT", "t.zone:6: missing text in TXT record"),
            ("www CAA 0 is-sue \"x\"", #"t.zone:6: bad CAA tag "is-sue": letters and digits only (RFC 8659 §4.1.1)"#),
            ("www CAA 256 issue \"x\"", #"t.zone:6: bad flags "256" in CAA record (expected 0...255)"#),
            ("www TYPE65280 0a000001", ##"t.zone:6: RDATA of unknown type TYPE65280 must use the generic form \# <length> <hex> (RFC 3597 §5)"##),
            (##"www TYPE65280 \# 4 0a0000"##, ##"t.zone:6: \# RDATA of TYPE65280 record says 4 octets but has 3"##),
            (##"www TYPE65280 \# 2 0g00"##, ##"t.zone:6: bad hex "0g00" in \# RDATA of TYPE65280 record"##),
            (##"www TYPE65280 \# 2 000"##, ##"t.zone:6: odd number of hex digits in \# RDATA of TYPE65280 record"##),
            (##"www TYPE65280 \# x 00"##, ##"t.zone:6: bad RDATA length "x" after \# in TYPE65280 record"##),
            (##"www A \# 3 c00002"##, ##"t.zone:6: bad \# RDATA for A: RDATA too short"##),
            (##"www A \# 5 c000020101"##, ##"t.zone:6: bad \# RDATA for A: trailing bytes after the RDATA"##),
            (##"www NS \# 2 c000"##, ##"t.zone:6: bad \# RDATA for NS: compressed or extended label in RDATA"##),
            ("www HINFO cpu os", ##"t.zone:6: the text form of HINFO RDATA is not supported; write it as \# <length> <hex> (RFC 3597 §5)"##),
            ("www TLSA 3 1 1 abcd", ##"t.zone:6: the text form of TLSA RDATA is not supported; write it as \# <length> <hex> (RFC 3597 §5)"##),
        ]
        for c in cases {
            XCTAssertEqual(issues(header + c.body + "\n"), [c.expected], c.body)
        }
    }

    /// The message format the brief names, with the file name passed in.
    func testMessageFormatUsesFileName() throws {
        let text = header + String(repeating: "\n", count: 8) + "bad A 192.0.2.300\n"
        XCTAssertThrowsError(try ZoneParser.parse(text: text, file: "example.test.zone", origin: n("example.test."))) { error in
            XCTAssertEqual((error as? ZoneError)?.description, #"example.test.zone:14: bad IPv4 address "192.0.2.300" in A record"#)
            XCTAssertEqual((error as? ZoneError)?.issues.first?.code, .badRData)
        }
    }

    /// All problems are reported, in line order, not just the first; an error on a line inside
    /// parentheses names the line of the token.
    func testAllIssuesCollectedInLineOrder() {
        let text = header + """
        a A 192.0.2.999
        b A 192.0.2.1
        c MX ( 10
               bad..name )
        $INCLUDE x
        d ( A
        """
        XCTAssertEqual(issues(text), [
            #"t.zone:6: bad IPv4 address "192.0.2.999" in A record"#,
            #"t.zone:9: bad mail exchange "bad..name" in MX record: empty label"#,
            "t.zone:10: $INCLUDE is not available here (the zone was given as text, without file access)",
            "t.zone:11: '(' is never closed",
        ])
    }

    /// A blank-led line needs a previous owner; a failed owner does not leak to the next line.
    func testOmittedOwnerWithoutPreviousOwner() {
        XCTAssertEqual(issues("  A 192.0.2.1\n" + header), ["t.zone:1: line starts with a blank but there is no previous owner name"])
        XCTAssertEqual(issues(header + "a..b A 192.0.2.1\n  AAAA 2001:db8::1\n"), [
            #"t.zone:6: bad owner name "a..b": empty label"#,
            "t.zone:7: line starts with a blank but there is no previous owner name",
        ])
    }

    /// A record with no TTL and no SOA anywhere.
    func testNoTTLAndNoSOA() {
        XCTAssertEqual(issues("@ NS ns\nns A 192.0.2.1\n"), [
            "t.zone:1: no TTL for example.test. NS, no $TTL and no SOA to take a default from",
            "t.zone:2: no TTL for ns.example.test. A, no $TTL and no SOA to take a default from",
            "t.zone: no SOA record at the zone apex example.test.",
            "t.zone: no NS records at the zone apex example.test.",
        ])
    }
}
