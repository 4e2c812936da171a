import DNSWire
import Foundation
@testable import GeoIP
import GeoRouting
import XCTest

/// Issue #12.3: the compact coordinate table `quickLocate` and the answer maps read must give
/// exactly the coordinates `lookup` decodes (a changed bit could change a ranking), and it is
/// built on demand, after the database is open, not while opening it.
final class CoordinateTableTests: XCTestCase {
    /// Every address of the fixture's located networks (sampled) and a spread over the whole
    /// IPv4 space: `quickLocate` says located exactly when `lookup` does, with the same
    /// coordinate bit for bit and the same network prefix.
    func testQuickLocateEqualsLookupBitForBit() throws {
        for path in [Fixtures.cityV6, Fixtures.cityV4] {
            let db = try MaxMindDatabase(path: path, precomputeCoordinates: true)
            XCTAssertGreaterThan(db.locatedRecordCount, 10, path)
            var addresses: [IPAddress] = MaxMindDatabaseTests.located.map { IPAddress($0.address)! }
            var state: UInt32 = 0x1234_5678
            for _ in 0..<20_000 {
                state = state &* 1_664_525 &+ 1_013_904_223
                addresses.append(.v4(state))
            }
            for network in ["66.10.0.0/16", "81.2.69.0/24", "85.10.0.0/17", "126.16.0.0/16", "101.160.0.0/14"] {
                guard case .v4(let base) = IPNetwork(network)!.address else { continue }
                for k in stride(from: UInt32(0), to: 1 << 14, by: 7) { addresses.append(.v4(base &+ k)) }
            }
            if db.metadata.ipVersion == 6 {
                addresses += MaxMindDatabaseTests.locatedV6.map { IPAddress($0.address)! }
            }
            var located = 0
            for a in addresses {
                let quick = db.quickLocate(a)
                switch try db.lookup(a) {
                case .located(let l):
                    located += 1
                    let q = try XCTUnwrap(quick, "\(a) is located by lookup, not by quickLocate (\(path))")
                    XCTAssertEqual(q.coordinate.latitude.bitPattern, l.coordinate.latitude.bitPattern, "\(a)")
                    XCTAssertEqual(q.coordinate.longitude.bitPattern, l.coordinate.longitude.bitPattern, "\(a)")
                    XCTAssertEqual(q.prefixLength, l.network.prefixLength, "\(a)")
                case .noCoordinates, .notFound:
                    XCTAssertNil(quick, "\(a): quickLocate places what lookup does not (\(path))")
                }
            }
            XCTAssertGreaterThan(located, 1000, "the sample reaches located records")
        }
    }

    /// Opening does not build the table: `quickLocate` answers nil (callers take `lookup`) until
    /// `buildCoordinateTable()` publishes it; building again returns the same table.
    func testTableIsBuiltOnDemandAndOnce() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        XCTAssertNil(db.coordinateTable)
        XCTAssertNil(db.quickLocate(IPAddress("81.2.69.142")!))
        XCTAssertEqual(db.locatedRecordCount, 0)
        XCTAssertNil(db.coordinate(ofRecord: 0))
        let table = db.buildCoordinateTable()
        XCTAssertTrue(db.buildCoordinateTable() === table)
        XCTAssertTrue(db.coordinateTable === table)
        XCTAssertEqual(db.locatedRecordCount, table.count)
        let q = try XCTUnwrap(db.quickLocate(IPAddress("81.2.69.142")!))
        XCTAssertEqual(q.coordinate, Coordinate(latitude: 51.5085, longitude: -0.1257))
        XCTAssertEqual(q.prefixLength, 24)
        // The fixture's coordinates have at most four decimals: all in fixed point, at most 16
        // bytes a record with the index.
        XCTAssertEqual(table.exceptionCount, 0)
        XCTAssertLessThanOrEqual(table.byteCount, table.count * 16)
    }

    /// Builds from many threads at once publish one table.
    func testConcurrentBuildsPublishOneTable() async throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        let tables = await withTaskGroup(of: ObjectIdentifier.self) { group in
            for _ in 0..<4 { group.addTask { ObjectIdentifier(db.buildCoordinateTable()) } }
            var seen = Set<ObjectIdentifier>()
            for await t in group { seen.insert(t) }
            return seen
        }
        XCTAssertEqual(tables.count, 1)
        XCTAssertEqual(tables.first, db.coordinateTable.map(ObjectIdentifier.init))
    }

    /// Fixed point only where it gives the `Double` back exactly; everything else (more decimals,
    /// negative zero) is kept as it is. Offsets are found in and between buckets, absent ones not.
    func testExactnessAndLookupOverBuckets() {
        let coordinates: [Coordinate] = [
            Coordinate(latitude: 51.5085, longitude: -0.1257),
            Coordinate(latitude: 37.751, longitude: -97.822),
            Coordinate(latitude: -90, longitude: 180),
            Coordinate(latitude: 90, longitude: -180),
            Coordinate(latitude: 12.345678901, longitude: 98.7654321),   // more than four decimals
            Coordinate(latitude: -0.0, longitude: 0.0),                   // negative zero
            Coordinate(latitude: 0.0001, longitude: -0.0001),
            Coordinate(latitude: 1e-9, longitude: 33.33333),
        ]
        var records: [(offset: UInt32, coordinate: Coordinate)] = []
        var offset: UInt32 = 3
        for i in 0..<5_000 {
            records.append((offset, coordinates[i % coordinates.count]))
            offset += UInt32(1 + (i * 7919) % 97)
        }
        let table = CoordinateTable(sortedRecords: records, limit: offset + 10)
        XCTAssertEqual(table.count, records.count)
        XCTAssertGreaterThan(table.exceptionCount, 0)
        XCTAssertLessThan(table.exceptionCount, records.count / 2)
        for (o, c) in records {
            let got = table.coordinate(ofRecord: o)
            XCTAssertEqual(got?.latitude.bitPattern, c.latitude.bitPattern, "offset \(o)")
            XCTAssertEqual(got?.longitude.bitPattern, c.longitude.bitPattern, "offset \(o)")
        }
        let present = Set(records.map(\.offset))
        for o in UInt32(0)..<(offset + 50) where !present.contains(o) {
            XCTAssertNil(table.coordinate(ofRecord: o), "offset \(o) has no record")
        }
        XCTAssertNil(table.coordinate(ofRecord: .max))
    }

    /// An empty table (a country-only database) finds nothing.
    func testEmptyTable() {
        let table = CoordinateTable(sortedRecords: [], limit: 0)
        XCTAssertEqual(table.count, 0)
        XCTAssertNil(table.coordinate(ofRecord: 0))
        XCTAssertNil(table.coordinate(ofRecord: .max))
    }
}
