import DNSWire
import DNSZone
import XCTest

/// DESIGN §2 step 3: the zone is picked by the longest matching origin.
final class ZoneSetTests: XCTestCase {
    func zone(_ origin: String) -> Zone? {
        load("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns.example.net.\n", origin: origin)
    }

    func testLongestSuffixMatch() throws {
        let zones = [zone("example.test."), zone("sub.example.test."), zone("other.")].compactMap { $0 }
        let set = try ZoneSet(zones)
        let cases: [(String, String?)] = [
            ("example.test.", "example.test."),
            ("www.example.test.", "example.test."),
            ("sub.example.test.", "sub.example.test."),
            ("a.b.c.SUB.example.test.", "sub.example.test."),
            ("xsub.example.test.", "example.test."),
            ("test.", nil),
            (".", nil),
            ("deep.label.chain.other.", "other."),
            ("example.net.", nil),
        ]
        for (qname, expected) in cases {
            XCTAssertEqual(set.zone(for: n(qname))?.origin.description, expected, qname)
        }
        XCTAssertNil(ZoneSet.empty.zone(for: n("example.test.")))
        XCTAssertEqual(set.zones.count, 3)
    }

    func testRootZoneMatchesEverything() throws {
        let set = try ZoneSet([zone(".")].compactMap { $0 })
        XCTAssertEqual(set.zone(for: n("a.b.example."))?.origin, .root)
    }

    func testDuplicateOriginsRejected() {
        let zones = [zone("example.test."), zone("EXAMPLE.test.")].compactMap { $0 }
        XCTAssertThrowsError(try ZoneSet(zones)) { error in
            XCTAssertEqual((error as? ZoneError)?.issues.map(\.code), [.duplicateZone])
        }
    }
}
