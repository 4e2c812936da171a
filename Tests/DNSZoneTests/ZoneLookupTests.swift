import DNSWire
import DNSZone
import XCTest

/// RFC 1034 §4.3.2 lookups against data/example.test.zone, the zone the README serves.
final class ZoneLookupTests: XCTestCase {
    var zone: Zone!

    override func setUpWithError() throws {
        zone = try Fixture.zone("data/example.test.zone", origin: "example.test.")
    }

    func testSampleZoneLoadsCleanly() {
        XCTAssertEqual(zone.warnings, [])
        XCTAssertEqual(zone.recordCount, 32)
        XCTAssertEqual(zone.negativeTTL, 300)
        XCTAssertEqual(zone.negativeSOA.ttl, 300)
        XCTAssertEqual(zone.soa.ttl, 3600)
        XCTAssertEqual(zone.soaData.serial, 2_024_060_101)
        XCTAssertEqual(show(zone.apexNS), ["example.test. 3600 NS ns1.example.test.", "example.test. 3600 NS ns2.example.test."])
    }

    func testRFC1034Section4_3_2_lookups() {
        let referral = "REFERRAL sub.example.test. 3600 NS ns1.sub.example.test. | sub.example.test. 3600 NS ns2.sub.example.test."
            + " GLUE ns1.sub.example.test. 3600 A 192.0.2.200 | ns2.sub.example.test. 3600 AAAA 2001:db8:2::53"
        let cases: [(qname: String, qtype: String, expected: String, why: String)] = [
            ("example.test.", "A", "ANSWER example.test. 3600 A 192.0.2.1", "apex data"),
            ("example.test.", "MX", "ANSWER example.test. 3600 MX 10 mail.example.test. | example.test. 3600 MX 20 mail2.example.net.", "RRset order kept"),
            ("example.test.", "CAA", #"ANSWER example.test. 3600 CAA 0 issue "letsencrypt.org" | example.test. 3600 CAA 0 iodef "mailto:security@example.test""#, "CAA"),
            ("example.test.", "TXT", #"ANSWER example.test. 3600 TXT "v=spf1 mx -all""#, "TXT"),
            ("example.test.", "SRV", "NODATA", "apex has no SRV"),
            ("www.example.test.", "A", "ANSWER www.example.test. 60 A 192.0.2.80", "last-resort A of the routed name"),
            ("www.example.test.", "AAAA", "ANSWER www.example.test. 60 AAAA 2001:db8::80", "AAAA"),
            ("WwW.ExAmPlE.TeSt.", "A", "ANSWER www.example.test. 60 A 192.0.2.80", "RFC 4343 case-insensitive"),
            ("nope.example.test.", "A", "NXDOMAIN", "no such name, no wildcard"),
            ("alias.example.test.", "A", "ALIAS alias.example.test. 3600 CNAME www.example.test.", "RFC 1034 §3.6.2 alias"),
            ("chain.example.test.", "AAAA", "ALIAS chain.example.test. 3600 CNAME alias.example.test.", "first link of a chain"),
            ("alias.example.test.", "CNAME", "ANSWER alias.example.test. 3600 CNAME www.example.test.", "QTYPE CNAME answers the CNAME"),
            ("alias.example.test.", "ANY", "ANSWER alias.example.test. 3600 CNAME www.example.test.", "ANY at an alias"),
            ("external.example.test.", "A", "ALIAS external.example.test. 3600 CNAME www.example.net.", "alias leaving the zone"),
            ("multi.example.test.", "TXT", #"ANSWER multi.example.test. 3600 TXT "first string" "second string with "quotes" and a ; semicolon" "third""#, "multi-string TXT"),
            ("_sip._udp.example.test.", "SRV", "ANSWER _sip._udp.example.test. 3600 SRV 10 60 5060 sip.example.test.", "SRV"),
            ("_udp.example.test.", "SRV", "NODATA", "RFC 8020 empty non-terminal"),
            ("a.b.ent.example.test.", "A", "ANSWER a.b.ent.example.test. 3600 A 192.0.2.99", "below ENTs"),
            ("b.ent.example.test.", "A", "NODATA", "ENT"),
            ("ent.example.test.", "ANY", "NODATA", "ANY at an ENT"),
            ("c.b.ent.example.test.", "A", "NXDOMAIN", "below an ENT, nothing"),
            ("x.wild.example.test.", "A", "WILDCARD x.wild.example.test. 3600 A 203.0.113.7", "RFC 4592 synthesis"),
            ("y.x.wild.example.test.", "TXT", #"WILDCARD y.x.wild.example.test. 3600 TXT "wildcard""#, "several labels below"),
            ("x.wild.example.test.", "MX", "NODATA", "wildcard without the type"),
            ("exact.wild.example.test.", "A", "ANSWER exact.wild.example.test. 3600 A 203.0.113.8", "existing name beats the wildcard"),
            ("exact.wild.example.test.", "TXT", "NODATA", "existing name: no wildcard even for other types"),
            ("sub.exact.wild.example.test.", "A", "NXDOMAIN", "closest encloser exact.wild has no wildcard"),
            ("wild.example.test.", "A", "NODATA", "the wildcard's parent is an ENT"),
            ("sub.example.test.", "A", referral, "at the cut"),
            ("sub.example.test.", "NS", referral, "NS at the cut is a referral"),
            ("sub.example.test.", "ANY", referral, "ANY at the cut"),
            ("host.sub.example.test.", "A", referral, "below the cut"),
            ("ns1.sub.example.test.", "A", referral, "glue itself is not authoritative data"),
            ("sub.example.test.", "DS", "NODATA", "RFC 4035 §3.1.4.1: DS at the cut is ours"),
            ("80.rev.example.test.", "PTR", "ANSWER 80.rev.example.test. 3600 PTR www.example.test.", "PTR"),
            ("opaque.example.test.", "TYPE65280", ##"ANSWER opaque.example.test. 3600 TYPE65280 \# 4 0a000001"##, "RFC 3597 unknown type"),
            ("www.example.net.", "A", "NXDOMAIN", "outside the zone"),
        ]
        for c in cases {
            XCTAssertEqual(show(zone.lookup(n(c.qname), type(c.qtype))), c.expected, "\(c.qname) \(c.qtype): \(c.why)")
        }
    }

    func testANYReturnsEveryRRsetAtTheName() {
        guard case .answer(let records, fromWildcard: false) = zone.lookup(n("example.test."), .any) else {
            return XCTFail("expected an answer")
        }
        XCTAssertEqual(records.map(\.type.description), ["SOA", "NS", "NS", "A", "AAAA", "MX", "MX", "TXT", "CAA", "CAA"])
    }

    /// RFC 1034 §4.3.2 step 6: addresses for the additional section, never occluded data.
    func testAdditionalSectionAddresses() {
        let cases: [(String, [String])] = [
            ("ns2.example.test.", ["ns2.example.test. 3600 A 198.51.100.53", "ns2.example.test. 3600 AAAA 2001:db8:53::2"]),
            ("mail.example.test.", ["mail.example.test. 3600 A 192.0.2.25"]),
            ("ns1.sub.example.test.", ["ns1.sub.example.test. 3600 A 192.0.2.200"]),
            ("mail2.example.net.", []),
            ("x.wild.example.test.", []),
            ("alias.example.test.", []),
        ]
        for (name, expected) in cases {
            XCTAssertEqual(show(zone.addresses(of: n(name))), expected, name)
        }
        // Address records below a cut that are not NS targets are occluded.
        let z = load(header + "sub NS ns.sub\nns.sub A 192.0.2.1\nother.sub A 192.0.2.2\n")
        XCTAssertEqual(z.map { show($0.addresses(of: n("other.sub.example.test."))) }, [])
        XCTAssertEqual(z.map { show($0.addresses(of: n("ns.sub.example.test."))) }, ["ns.sub.example.test. 3600 A 192.0.2.1"])
        XCTAssertEqual(z?.enclosingDelegation(of: n("a.b.sub.example.test.")), n("sub.example.test."))
        XCTAssertNil(z?.enclosingDelegation(of: n("ns1.example.test.")))
    }

    /// Glue for NS targets elsewhere in the zone (not below the cut) and sibling glue.
    func testDelegationGlueOutsideTheCut() {
        let text = header + "a NS ns1\na NS ns.b\nb NS ns.b\nns.b A 192.0.2.9\nout NS ns.example.net.\n"
        guard let z = load(text) else { return }
        XCTAssertEqual(show(z.lookup(n("x.a.example.test."), .a)),
                       "REFERRAL a.example.test. 3600 NS ns1.example.test. | a.example.test. 3600 NS ns.b.example.test."
                       + " GLUE ns1.example.test. 3600 A 192.0.2.53 | ns.b.example.test. 3600 A 192.0.2.9")
        XCTAssertEqual(show(z.lookup(n("out.example.test."), .a)), "REFERRAL out.example.test. 3600 NS ns.example.net. GLUE ")
    }

    /// A wildcard never matches at or below a delegation (RFC 4592 §2.2.1, host.subdel).
    func testWildcardDoesNotCrossCut() {
        guard let z = load(header + "*.sub A 192.0.2.7\nsub NS ns.example.net.\n* A 192.0.2.8\n") else { return }
        XCTAssertEqual(show(z.lookup(n("q.sub.example.test."), .a)), "REFERRAL sub.example.test. 3600 NS ns.example.net. GLUE ")
        XCTAssertEqual(show(z.lookup(n("q.example.test."), .a)), "WILDCARD q.example.test. 3600 A 192.0.2.8")
    }
}
