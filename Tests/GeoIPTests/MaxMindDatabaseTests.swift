import DNSWire
import Foundation
@testable import GeoIP
import GeoRouting
import XCTest

/// Reads the committed fixtures (Tests/Fixtures/geoip, built by Scripts/mmdb/build_mmdb.py).
final class MaxMindDatabaseTests: XCTestCase {
    struct Case {
        var address: String
        var city: String
        var country: String
        var continent: String
        var network: String
        var radius: Int
    }

    /// Located records, IPv4 and IPv6, including a /28 carved out of a /16 and a /48 out of a /32.
    static let located: [Case] = [
        Case(address: "66.10.200.7", city: "New York", country: "US", continent: "NA", network: "66.10.128.0/17", radius: 20),
        Case(address: "66.10.1.20", city: "Newark", country: "US", continent: "NA", network: "66.10.1.16/28", radius: 5),
        Case(address: "81.2.69.142", city: "London", country: "GB", continent: "EU", network: "81.2.69.0/24", radius: 10),
        Case(address: "85.10.1.1", city: "Frankfurt am Main", country: "DE", continent: "EU", network: "85.10.0.0/17", radius: 20),
        Case(address: "126.16.9.9", city: "Tokyo", country: "JP", continent: "AS", network: "126.16.0.0/16", radius: 50),
        Case(address: "101.161.2.3", city: "Sydney", country: "AU", continent: "OC", network: "101.160.0.0/14", radius: 100),
        Case(address: "177.33.0.1", city: "São Paulo", country: "BR", continent: "SA", network: "177.32.0.0/14", radius: 100),
        Case(address: "41.0.200.1", city: "Johannesburg", country: "ZA", continent: "AF", network: "41.0.0.0/16", radius: 50),
        Case(address: "116.12.0.1", city: "Singapore", country: "SG", continent: "AS", network: "116.12.0.0/16", radius: 10),
        Case(address: "130.10.0.9", city: "McMurdo Station", country: "AQ", continent: "AN", network: "130.10.0.0/24", radius: 200),
    ]

    static let locatedV6: [Case] = [
        Case(address: "2a02:c7f:1::1", city: "London", country: "GB", continent: "EU", network: "2a02:c7f::/32", radius: 100),
        Case(address: "2a01:4f8:1c0c:5::1", city: "Helsinki", country: "FI", continent: "EU", network: "2a01:4f8:1c0c::/48", radius: 20),
        Case(address: "2a01:4f8:1c0d::1", city: "Frankfurt am Main", country: "DE", continent: "EU", network: "2a01:4f8:1c0d::/48", radius: 100),
        Case(address: "2600:1f18::5", city: "New York", country: "US", continent: "NA", network: "2600:1f18::/32", radius: 100),
    ]

    func check(_ db: MaxMindDatabase, _ c: Case, file: StaticString = #filePath, line: UInt = #line) throws {
        guard case .located(let l) = try db.lookup(ip(c.address)) else {
            return XCTFail("\(c.address): not located", file: file, line: line)
        }
        XCTAssertEqual(l.city, c.city, c.address, file: file, line: line)
        XCTAssertEqual(l.countryCode, c.country, c.address, file: file, line: line)
        XCTAssertEqual(l.continentCode, c.continent, c.address, file: file, line: line)
        XCTAssertEqual(l.network, net(c.network), c.address, file: file, line: line)
        XCTAssertEqual(l.accuracyRadiusKm, c.radius, c.address, file: file, line: line)
        XCTAssertEqual(l.source, .database, file: file, line: line)
        XCTAssertTrue(l.coordinate.isValid, file: file, line: line)
    }

    func testIPv4LookupsInIPv6TreeReportIPv4Networks() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        for c in Self.located { try check(db, c) }
    }

    func testIPv4LookupsInIPv4Tree24BitRecords() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV4)
        XCTAssertEqual(db.metadata.recordSize, 24)
        for c in Self.located { try check(db, c) }
    }

    func testIPv6Lookups28BitRecords() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        XCTAssertEqual(db.metadata.recordSize, 28)
        for c in Self.locatedV6 { try check(db, c) }
    }

    func testCoordinatesAreDecodedAsDoubles() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        guard case .located(let l) = try db.lookup(ip("81.2.69.142")) else { return XCTFail() }
        XCTAssertEqual(l.coordinate.latitude, 51.5085, accuracy: 1e-9)
        XCTAssertEqual(l.coordinate.longitude, -0.1257, accuracy: 1e-9)
    }

    func testIPv4MappedIPv6IsLookedUpAsIPv4() throws {
        for path in [Fixtures.cityV6, Fixtures.cityV4] {
            let db = try MaxMindDatabase(path: path)
            guard case .located(let l) = try db.lookup(ip("::ffff:81.2.69.142")) else { return XCTFail(path) }
            XCTAssertEqual(l.city, "London")
            XCTAssertEqual(l.network, net("81.2.69.0/24"))
        }
    }

    func testRecordWithoutCoordinates() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        XCTAssertEqual(try db.lookup(ip("89.160.20.5")), .noCoordinates(network: net("89.160.20.0/24")))
        XCTAssertEqual(try db.lookup(ip("2001:67c:2e8::53")), .noCoordinates(network: net("2001:67c:2e8::/48")))
    }

    func testNoRecordReportsTheGapNetwork() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        for text in ["8.8.8.8", "10.1.2.3", "2001:4860::8888", "66.11.0.1"] {
            guard case .notFound(let n) = try db.lookup(ip(text)) else { return XCTFail(text) }
            XCTAssertTrue(n.contains(ip(text)), "\(text) in \(n)")
            XCTAssertEqual(n.address.family, ip(text).family, text)
        }
        // The gap right after New York's /16 is exactly 66.11.0.0/16 in this tree.
        XCTAssertEqual(try db.lookup(ip("66.11.0.1")), .notFound(network: net("66.11.0.0/16")))
    }

    func testIPv6InIPv4DatabaseIsNotFound() throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV4)
        XCTAssertEqual(try db.lookup(ip("2a02:c7f::1")), .notFound(network: net("::/0")))
    }

    func testMetadata() throws {
        let v6 = try MaxMindDatabase(path: Fixtures.cityV6)
        XCTAssertEqual(v6.metadata.databaseType, "Proxima-Test-City")
        XCTAssertEqual(v6.metadata.ipVersion, 6)
        XCTAssertEqual(v6.metadata.buildEpoch, 1_735_689_600)
        XCTAssertEqual(v6.metadata.buildDate, "2025-01-01")
        XCTAssertEqual(v6.metadata.languages, ["en"])
        XCTAssertGreaterThan(v6.metadata.nodeCount, 128)
        let v4 = try MaxMindDatabase(path: Fixtures.cityV4)
        XCTAssertEqual(v4.metadata.databaseType, "Proxima-Test-City-IPv4")
        XCTAssertEqual(v4.metadata.ipVersion, 4)
        XCTAssertEqual(v4.metadata.nodeCount, 237)  // as printed by `mmdblookup --verbose`
    }

    func testBuildDateCivilCalendar() {
        let table: [(UInt64, String)] = [(0, "1970-01-01"), (951_782_400, "2000-02-29"),
                                         (1_530_576_000, "2018-07-03"), (4_107_542_399, "2100-02-28")]
        for (epoch, date) in table {
            let m = MaxMindMetadata(databaseType: "", buildEpoch: epoch, ipVersion: 6, nodeCount: 0,
                                    recordSize: 28, languages: [], description: nil)
            XCTAssertEqual(m.buildDate, date)
        }
    }

    func testMissingFileErrorNamesTheFile() {
        let path = "/nonexistent/dir/GeoLite2-City.mmdb"
        XCTAssertThrowsError(try MaxMindDatabase(path: path)) { error in
            let e = error as? GeoIPError
            XCTAssertEqual(e?.code, .databaseNotFound)
            XCTAssertTrue(e?.message.contains(path) ?? false, "\(error)")
        }
    }

    func testCorruptFileErrorNamesTheFile() throws {
        let path = NSTemporaryDirectory() + "proxima-corrupt-\(getpid()).mmdb"
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Real fixture, truncated: the metadata marker is gone.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.cityV6))
        for data in [Data(bytes.prefix(bytes.count / 2)), Data("not a database".utf8)] {
            try data.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try MaxMindDatabase(path: path)) { error in
                let e = error as? GeoIPError
                XCTAssertEqual(e?.code, .databaseCorrupt)
                XCTAssertTrue(e?.message.contains(path) ?? false, "\(error)")
            }
        }
    }

    func testConcurrentLookupsOnOneHandle() async throws {
        let db = try MaxMindDatabase(path: Fixtures.cityV6)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<2_000 {
                        guard case .located(let l) = try db.lookup(ip("126.16.9.9")) else { throw GeoIPError(.databaseLookup, "x") }
                        XCTAssertEqual(l.city, "Tokyo")
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// `geoip.overrides`: longest prefix wins, IPv4 and IPv6, validated at construction.
final class LocationOverridesTests: XCTestCase {
    func makeOverrides() throws -> LocationOverrides {
        try LocationOverrides([
            .init(network: net("10.0.0.0/8"), coordinate: Coordinate(latitude: 52.37, longitude: 4.89), label: "office"),
            .init(network: net("10.1.0.0/16"), coordinate: Coordinate(latitude: 40.7, longitude: -74.0), label: "nyc"),
            .init(network: net("10.1.2.3/32"), coordinate: Coordinate(latitude: 1, longitude: 2)),
            .init(network: net("0.0.0.0/0"), coordinate: Coordinate(latitude: 0, longitude: 0), label: "world"),
            .init(network: net("2001:db8::/32"), coordinate: Coordinate(latitude: 35.7, longitude: 139.7), label: "tokyo-lab"),
            .init(network: net("2001:db8:1::/48"), coordinate: Coordinate(latitude: -33.9, longitude: 151.2), label: "syd-lab"),
        ])
    }

    func testLongestPrefixWins() throws {
        let o = try makeOverrides()
        // The network is the largest block around the address the answer holds for: the override's
        // CIDR narrowed to leave out more specific overrides (10.9.9.9 is "office", but 10.0.0.0/8
        // is not all "office": 10.1.0.0/16 is inside, so the block is 10.8.0.0/13).
        let table: [(String, String?, String)] = [
            ("10.9.9.9", "office", "10.8.0.0/13"),
            ("10.1.9.9", "nyc", "10.1.8.0/21"),
            ("10.1.2.3", nil, "10.1.2.3/32"),
            ("10.1.2.4", "nyc", "10.1.2.4/30"),
            ("8.8.8.8", "world", "8.0.0.0/7"),
            ("::ffff:10.1.9.9", "nyc", "10.1.8.0/21"),
            ("2001:db8:5::1", "tokyo-lab", "2001:db8:4::/46"),
            ("2001:db8:1:2::1", "syd-lab", "2001:db8:1::/48"),
        ]
        for (address, label, network) in table {
            let hit = o.lookup(ip(address))
            XCTAssertEqual(hit?.label, label, address)
            XCTAssertEqual(hit?.network, net(network), address)
            XCTAssertEqual(hit?.source, .override, address)
        }
        XCTAssertNil(o.lookup(ip("2a00::1")))
        XCTAssertNil(LocationOverrides().lookup(ip("10.0.0.1")))
    }

    func testValidationRejectsBadEntries() {
        let bad: [[LocationOverrides.Entry]] = [
            [.init(network: net("10.0.0.0/8"), coordinate: Coordinate(latitude: 91, longitude: 0))],
            [.init(network: net("10.0.0.0/8"), coordinate: Coordinate(latitude: 0, longitude: .nan))],
            [.init(network: net("10.0.0.0/8"), coordinate: Coordinate(latitude: 0, longitude: 0)),
             .init(network: net("10.0.0.0/8"), coordinate: Coordinate(latitude: 1, longitude: 1))],
            [.init(network: net("::ffff:10.0.0.0/104"), coordinate: Coordinate(latitude: 0, longitude: 0))],
        ]
        for entries in bad {
            XCTAssertThrowsError(try LocationOverrides(entries)) { error in
                XCTAssertEqual((error as? GeoIPError)?.code, .invalidOverride)
            }
        }
    }

    func testLookupIsFast() throws {
        var entries: [LocationOverrides.Entry] = []
        for i in 0..<1_000 {
            entries.append(.init(network: IPNetwork(address: .v4(UInt32(i) << 12), prefixLength: 20 + i % 8),
                                 coordinate: Coordinate(latitude: 1, longitude: 1)))
        }
        let o = try LocationOverrides(entries)
        var hits = 0
        for i in 0..<200_000 where o.lookup(.v4(UInt32(i) << 8)) != nil { hits += 1 }
        XCTAssertGreaterThan(hits, 0)
        // No wall-clock bound (a busy machine fails any): the lookups through 9 prefix levels must
        // agree with a linear scan of the table (sampled).
        for i in stride(from: 0, to: 200_000, by: 97) {
            let address = IPAddress.v4(UInt32(i) << 8)
            XCTAssertEqual(o.lookup(address) != nil, entries.contains { $0.network.contains(address) }, "\(address)")
        }
    }
}

/// IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890) plus multicast.
final class SpecialPurposeTests: XCTestCase {
    func testRFC6890SpecialPurposeTable() {
        let table: [(String, Bool)] = [
            ("0.1.2.3", true), ("10.0.0.1", true), ("100.64.0.1", true), ("100.127.255.255", true),
            ("100.128.0.1", false), ("127.0.0.1", true), ("169.254.1.1", true), ("172.16.0.1", true),
            ("172.31.255.255", true), ("172.32.0.1", false), ("192.0.0.9", true), ("192.0.2.1", true),
            ("192.31.196.1", true), ("192.52.193.1", true), ("192.88.99.1", true), ("192.168.1.1", true),
            ("192.175.48.1", true), ("198.18.0.1", true), ("198.19.255.255", true), ("198.20.0.1", false),
            ("198.51.100.7", true), ("203.0.113.9", true), ("224.0.0.251", true), ("239.255.255.250", true),
            ("240.0.0.1", true), ("255.255.255.255", true),
            ("8.8.8.8", false), ("81.2.69.142", false), ("1.1.1.1", false), ("66.10.1.20", false),
            ("::", true), ("::1", true), ("::ffff:8.8.8.8", true), ("64:ff9b::808:808", true),
            ("64:ff9b:1::1", true), ("100::1", true), ("2001::1", true), ("2001:2::1", true),
            ("2001:db8::1", true), ("2002:808:808::1", true), ("2620:4f:8000::1", true), ("3fff::1", true),
            ("5f00::1", true), ("fc00::1", true), ("fd12:3456::1", true), ("fe80::1", true),
            ("fec0::1", true), ("ff02::1", true),
            ("2a02:c7f::1", false), ("2001:4860:4860::8888", false), ("2600:1f18::1", false),
            ("2001:200::1", false),
        ]
        for (address, special) in table {
            XCTAssertEqual(ip(address).isSpecialPurpose, special, address)
        }
    }

    func testEveryRegistryLiteralParses() {
        for block in SpecialPurposeBlock.ipv4 {
            XCTAssertEqual(block.network.address.family, 1, block.name)
            XCTAssertNotEqual(block.network.prefixLength, 32, "\(block.name) did not parse")
        }
        for block in SpecialPurposeBlock.ipv6 {
            XCTAssertEqual(block.network.address.family, 2, "\(block.name) did not parse")
        }
        XCTAssertEqual(ip("100.64.1.1").specialPurposeBlock?.reference, "RFC 6598")
    }
}
