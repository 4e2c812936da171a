import DNSWire
import DNSZone
import XCTest

/// A larger generated zone: parsing stays linear and lookups do not scan the zone. Prints timings
/// (debug builds are several times slower than release); asserts only behaviour (a wall-clock
/// bound fails on a busy machine).
final class ZoneScaleTests: XCTestCase {
    func testLargeZoneParseAndLookup() throws {
        let hosts = 20_000
        var text = header + "*.wild A 203.0.113.1\n"
        text.reserveCapacity(hosts * 60)
        for i in 0..<hosts {
            text += "h\(i).d\(i % 100) 300 IN A 192.0.\(i % 256 / 2).\(i % 250 + 1)\n"
            text += "  TXT \"host \(i)\"\n"
        }
        let clock = ContinuousClock()
        var zone: Zone?
        let parse = clock.measure {
            zone = load(text)
        }
        let z = try XCTUnwrap(zone)
        XCTAssertEqual(z.recordCount, 3 + 1 + 2 * hosts)

        let queries = (0..<50_000).map { i -> DomainName in
            switch i % 4 {
            case 0: return n("h\(i % hosts).d\(i % hosts % 100).example.test.")
            case 1: return n("missing\(i).d\(i % 100).example.test.")
            case 2: return n("x\(i).wild.example.test.")
            default: return n("d\(i % 100).example.test.")
            }
        }
        var counts = [0, 0, 0, 0]
        let lookups = clock.measure {
            for q in queries {
                switch z.lookup(q, .a) {
                case .answer(_, fromWildcard: false): counts[0] += 1
                case .nameError: counts[1] += 1
                case .answer(_, fromWildcard: true): counts[2] += 1
                case .noData: counts[3] += 1
                default: break
                }
            }
        }
        XCTAssertEqual(counts, [12_500, 12_500, 12_500, 12_500])
        let perLookup = lookups / queries.count
        print("ZoneScaleTests: parsed \(z.recordCount) records in \(parse); \(queries.count) lookups in \(lookups) (\(perLookup) each)")
    }
}
