import DNSWire
import DNSZone
import XCTest

/// RFC 4592 §2.2.1: the RFC's example zone and its table of which queries the wildcards match.
final class RFC4592Tests: XCTestCase {
    func testRFC4592Section2_2_1_exampleTable() throws {
        let zone = try Fixture.zone("Tests/Fixtures/zones/rfc4592.zone", origin: "example.")
        let cases: [(qname: String, qtype: String, expected: String, why: String)] = [
            // "The following responses would be synthesized from one of the wildcards in the zone"
            ("host3.example.", "MX", "WILDCARD host3.example. 3600 MX 10 host1.example.",
             "host3.example. does not exist; *.example. owns MX"),
            ("host3.example.", "A", "NODATA",
             "the wildcard matches but has no A RRset: no error, no data"),
            ("foo.bar.example.", "TXT", #"WILDCARD foo.bar.example. 3600 TXT "this is a wildcard""#,
             "bar.example. does not exist, so the closest encloser is example."),
            // "The following responses would not be synthesized from any of the wildcards"
            ("host1.example.", "MX", "NODATA", "host1.example. exists"),
            ("sub.*.example.", "MX", "NODATA", "sub.*.example. exists"),
            ("_telnet._tcp.host1.example.", "SRV", "NXDOMAIN",
             "_tcp.host1.example. exists (without data): it is the closest encloser and has no wildcard"),
            ("host.subdel.example.", "A",
             "REFERRAL subdel.example. 3600 NS ns.example.com. | subdel.example. 3600 NS ns.example.net. GLUE ",
             "subdel.example. is a zone cut"),
            ("ghost.*.example.", "MX", "NXDOMAIN",
             "*.example. exists, so it is the closest encloser; *.*.example. does not exist"),
            // And the obvious neighbours.
            ("*.example.", "TXT", #"ANSWER *.example. 3600 TXT "this is a wildcard""#, "the wildcard owner asked directly"),
            ("sub.*.example.", "TXT", #"ANSWER sub.*.example. 3600 TXT "this is not a wildcard""#, "exact match"),
            ("_tcp.host1.example.", "SRV", "NODATA", "empty non-terminal"),
            ("_ssh._tcp.host2.example.", "SRV", "ANSWER _ssh._tcp.host2.example. 3600 SRV 0 0 22 host2.example.",
             "exact match below ENTs"),
            ("host2.example.", "A", "NODATA", "host2.example. is an ENT: the wildcard does not apply"),
            ("a.b.c.example.", "ANY",
             #"WILDCARD a.b.c.example. 3600 TXT "this is a wildcard" | a.b.c.example. 3600 MX 10 host1.example."#,
             "ANY synthesizes every RRset of the wildcard"),
            ("subdel.example.", "NS",
             "REFERRAL subdel.example. 3600 NS ns.example.com. | subdel.example. 3600 NS ns.example.net. GLUE ",
             "NS at the cut is a referral, not an answer"),
            ("subdel.example.", "DS", "NODATA", "the parent answers DS at the cut (RFC 4035 §3.1.4.1)"),
            ("x.subdel.example.", "DS",
             "REFERRAL subdel.example. 3600 NS ns.example.com. | subdel.example. 3600 NS ns.example.net. GLUE ",
             "below the cut even DS is referred"),
        ]
        for c in cases {
            XCTAssertEqual(show(zone.lookup(n(c.qname), type(c.qtype))), c.expected, "\(c.qname) \(c.qtype): \(c.why)")
        }
    }

    /// RFC 4592 §2.1.1 / §3.3.1: the synthesized owner is QNAME exactly as asked.
    func testRFC4592Section3_3_1_synthesizedOwnerIsQNAME() throws {
        let zone = try Fixture.zone("Tests/Fixtures/zones/rfc4592.zone", origin: "example.")
        guard case .answer(let records, fromWildcard: true) = zone.lookup(n("Deep.Down.EXAMPLE."), .mx) else {
            return XCTFail("expected a wildcard answer")
        }
        XCTAssertEqual(records.map(\.name.description), ["Deep.Down.EXAMPLE."])
    }

    /// RFC 4592 §3.3.2-style: a wildcard that is an empty non-terminal yields NODATA, and a
    /// wildcard CNAME is an alias owned by QNAME.
    func testWildcardENTAndWildcardCNAME() {
        guard let zone = load(header + "x.*.e A 192.0.2.1\n*.c CNAME target\ntarget A 192.0.2.2\n") else { return }
        XCTAssertEqual(show(zone.lookup(n("q.e.example.test."), .a)), "NODATA")
        XCTAssertEqual(show(zone.lookup(n("q.c.example.test."), .a)), "ALIAS q.c.example.test. 3600 CNAME target.example.test.")
        XCTAssertEqual(show(zone.lookup(n("q.c.example.test."), .cname)), "WILDCARD q.c.example.test. 3600 CNAME target.example.test.")
        XCTAssertEqual(show(zone.lookup(n("q.x.example.test."), .a)), "NXDOMAIN")
    }
}
