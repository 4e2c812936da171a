import DNSWire
import DNSZone
import XCTest

/// Zone-level checks: errors stop loading, warnings are kept on the zone.
final class ZoneValidationTests: XCTestCase {
    func testValidationErrors() {
        let soa = "@ SOA ns1 hostmaster 1 7200 900 1209600 300\n"
        let cases: [(name: String, text: String, expected: [String])] = [
            ("RFC 1035 §5.2 no SOA", "$TTL 60\n@ NS ns1\nns1 A 192.0.2.1\n",
             ["t.zone: no SOA record at the zone apex example.test."]),
            ("more than one SOA", header + "@ SOA ns1 hostmaster 2 7200 900 1209600 300\n",
             ["t.zone:6: more than one SOA record at example.test.; a zone has exactly one"]),
            ("SOA not at the apex", header + "x SOA ns1 hostmaster 2 7200 900 1209600 300\n",
             ["t.zone:6: SOA record at x.example.test. is not at the zone apex example.test."]),
            ("RFC 1034 §4.2.1 no NS at the apex", "$TTL 60\n" + soa + "ns1 A 192.0.2.1\n",
             ["t.zone: no NS records at the zone apex example.test."]),
            ("out of zone", header + "www.other.test. A 192.0.2.1\n$ORIGIN test.\nx A 192.0.2.2\n", [
                "t.zone:6: www.other.test. A is out of zone (not at or below example.test.)",
                "t.zone:8: x.test. A is out of zone (not at or below example.test.)",
            ]),
            ("RFC 1034 §3.6.2 CNAME and other data", header + "www CNAME x\nwww A 192.0.2.1\nwww TXT t\n",
             ["t.zone:8: CNAME and other data (A, TXT) at www.example.test. (RFC 1034 §3.6.2)"]),
            ("RFC 2181 §10.1 two CNAMEs", header + "www CNAME x\nwww CNAME y\n",
             ["t.zone:7: more than one CNAME at www.example.test. (RFC 2181 §10.1)"]),
            ("CNAME at the apex", header + "@ CNAME x.example.net.\n",
             ["t.zone:6: CNAME and other data (SOA, NS) at example.test. (RFC 1034 §3.6.2)"]),
            ("NS target not a host name", header + "sub NS under_score.example.net.\n",
             ["t.zone:6: NS target under_score.example.net. of sub.example.test. is not a valid host name (letters, digits, hyphens; RFC 1123 §2.1)"]),
            ("NS target is the root", header + "sub NS .\n", ["t.zone:6: NS target of sub.example.test. cannot be the root name"]),
            ("MX exchange not a host name", header + "@ MX 10 -bad.example.net.\n",
             ["t.zone:6: MX exchange -bad.example.net. of example.test. is not a valid host name (letters, digits, hyphens; RFC 1123 §2.1)"]),
            ("SRV target not a host name", header + "_s._tcp SRV 0 0 1 *.example.net.\n",
             ["t.zone:6: SRV target *.example.net. of _s._tcp.example.test. is not a valid host name (letters, digits, hyphens; RFC 1123 §2.1)"]),
        ]
        for c in cases {
            XCTAssertEqual(issues(c.text), c.expected, c.name)
        }
    }

    func testWarningsKeepLoading() {
        let cases: [(name: String, body: String, expected: [String])] = [
            ("RFC 1034 §4.2.1 occluded data below and at a cut",
             "sub NS ns.sub\nns.sub A 192.0.2.1\nx.sub TXT hidden\nsub TXT at-cut\n", [
                "t.zone:8: x.sub.example.test. TXT is below the zone cut at sub.example.test. and will not be served",
                "t.zone:9: sub.example.test. TXT at the zone cut sub.example.test. is occluded by the delegation and will not be served",
             ]),
            ("a cut below a cut is occluded", "sub NS ns.example.net.\ndeep.sub NS ns.example.net.\n",
             ["t.zone:7: deep.sub.example.test. NS is below the zone cut at sub.example.test. and will not be served"]),
            ("in-zone NS target without address", "sub NS ns.sub\n",
             ["t.zone:6: NS target ns.sub.example.test. of sub.example.test. is inside the zone but has no A or AAAA record"]),
            ("apex NS target without address", "@ NS ns3\n",
             ["t.zone:6: NS target ns3.example.test. of example.test. is inside the zone but has no A or AAAA record"]),
            ("RFC 2181 §5.2 TTLs differ within an RRset", "t 60 A 192.0.2.1\nt 120 A 192.0.2.2\n",
             ["t.zone:7: TTL 120 of t.example.test. A differs from the RRset's TTL 60; using 60 (RFC 2181 §5.2)"]),
            ("RFC 2181 §10.3 MX to an alias", "@ MX 10 mail\nmail CNAME ns1\n",
             ["t.zone:6: MX exchange mail.example.test. of example.test. is an alias (CNAME); it must name the host itself (RFC 2181 §10.3)"]),
            ("DNAME is plain data", ##"d DNAME \# 13 076578616d706c65036e657400"##,
             ["t.zone:6: DNAME at d.example.test. is served as plain data; names below it are not rewritten (RFC 6672)"]),
        ]
        for c in cases {
            guard let zone = load(header + c.body + "\n") else { XCTFail(c.name); continue }
            XCTAssertEqual(zone.warnings.map(\.description), c.expected, c.name)
        }
        // The RRset TTL is the first record's.
        let zone = load(header + "t 60 A 192.0.2.1\nt 120 A 192.0.2.2\n")
        XCTAssertEqual(zone?.records(at: n("t.example.test."), type: .a).map(\.ttl), [60, 60])
    }

    /// Zones can be built from records in memory (for other modules' tests) with the same checks.
    func testZoneFromRecords() throws {
        let apex = n("example.test.")
        let soa = SOAData(mname: n("ns1.example.test."), rname: n("h.example.test."), serial: 1, refresh: 2,
                          retry: 3, expire: 4, minimum: 30)
        let records = [
            ResourceRecord(name: apex, ttl: 600, rdata: .soa(soa)),
            ResourceRecord(name: apex, ttl: 600, rdata: .ns(n("ns1.example.test."))),
            ResourceRecord(name: n("ns1.example.test."), ttl: 600, rdata: .a(.v4(0xC000_0201))),
            ResourceRecord(name: n("WWW.example.test."), ttl: 60, rdata: .a(.v4(0xC000_0202))),
        ]
        let zone = try Zone(origin: apex, records: records)
        XCTAssertEqual(zone.recordCount, 4)
        XCTAssertEqual(zone.soaData, soa)
        XCTAssertEqual(zone.negativeTTL, 30, "min(SOA TTL, MINIMUM), RFC 2308 §3")
        XCTAssertEqual(zone.negativeSOA.ttl, 30)
        XCTAssertEqual(show(zone.lookup(n("www.EXAMPLE.test."), .a)), "ANSWER WWW.example.test. 60 A 192.0.2.2")
        XCTAssertEqual(zone.allRecords().count, 4)
        XCTAssertEqual(zone.allRecords().first?.type, .soa)

        let bad = records + [ResourceRecord(name: n("x.example.net."), ttl: 1, rdata: .a(.v4(1))),
                             ResourceRecord(name: apex, rclass: .ch, ttl: 1, rdata: .a(.v4(1)))]
        XCTAssertThrowsError(try Zone(origin: apex, records: bad, file: "mem")) { error in
            XCTAssertEqual((error as? ZoneError)?.issues.map(\.description), [
                "mem: x.example.net. A is out of zone (not at or below example.test.)",
                "mem: class CH is not supported (only IN) for example.test. A",
            ])
        }
    }

    /// Every issue code has a stable raw value for metrics.
    func testIssueCodesAreMetricLabels() {
        for code in ZoneIssue.Code.allCases {
            XCTAssertFalse(code.rawValue.isEmpty)
            XCTAssertTrue(code.rawValue.allSatisfy { $0.isLetter })
        }
    }
}
