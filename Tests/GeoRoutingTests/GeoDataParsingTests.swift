import DNSWire
import XCTest
@testable import GeoRouting

/// `geo_data.json`: both forms, health-check inheritance, and every error kind with its key path.
final class GeoDataParsingTests: XCTestCase {
    func parse(_ text: String, defaults: HealthCheckDefaults = HealthCheckDefaults()) throws -> GeoData {
        try GeoData.parse(json: Array(text.utf8), file: "geo_data.json", defaults: defaults)
    }

    func issues(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [GeoDataError.Issue] {
        do {
            _ = try GeoData.parse(json: Array(text.utf8), file: "geo_data.json")
            XCTFail("expected an error", file: file, line: line)
            return []
        } catch {
            XCTAssertFalse(error.issues.isEmpty, file: file, line: line)
            return error.issues
        }
    }

    // MARK: Flat form

    func testFlatFormLoadsUnchangedAsPoolDefault() throws {
        let data = try parse("""
        {"192.0.2.1": {"latitude": 38.8, "longitude": -77.0},
         "198.51.100.7": {"latitude": 50.1, "longitude": 8.7, "name": "fra", "weight": 3, "capacity": 0.9},
         "2001:db8::7": {"latitude": 1.35, "longitude": 103.8}}
        """)
        XCTAssertEqual(data.form, .flat)
        XCTAssertEqual(data.pools.map(\.name), ["default"])
        let pool = try XCTUnwrap(data.pool(named: GeoData.defaultPoolName))
        // File order is kept (our reader keeps object order, unlike JSONSerialization).
        XCTAssertEqual(pool.members.map(\.address.description), ["192.0.2.1", "198.51.100.7", "2001:db8::7"])
        XCTAssertEqual(pool.members[0].coordinate, Coordinate(latitude: 38.8, longitude: -77.0))
        XCTAssertEqual(pool.members[0].weight, 1)
        XCTAssertNil(pool.members[0].capacity)
        XCTAssertNil(pool.members[0].healthCheck)
        XCTAssertEqual(pool.members[1].name, "fra")
        XCTAssertEqual(pool.members[1].weight, 3)
        XCTAssertEqual(pool.members[1].capacity, 0.9)
        XCTAssertEqual(pool.memberCount(of: .v4), 2)
        XCTAssertEqual(pool.memberCount(of: .v6), 1)
        XCTAssertNil(data.pool(named: "web"))
    }

    func testFlatMemberHealthCheckUsesDefaults() throws {
        let data = try parse("""
        {"192.0.2.1": {"latitude": 1, "longitude": 2, "health_check": {"type": "tcp", "port": 443}}}
        """, defaults: HealthCheckDefaults(interval: 5, timeout: 1, rise: 4, fall: 6))
        let spec = try XCTUnwrap(data.pools[0].members[0].healthCheck)
        XCTAssertEqual(spec, HealthCheckSpec(probe: .tcp(port: 443), interval: 5, timeout: 1, rise: 4, fall: 6))
        XCTAssertEqual(data.probeTargets, [ProbeTarget(address: .v4(0xC000_0201), spec: spec)])
    }

    // MARK: Rich form

    static let rich = """
    {"pools": {
       "web": {
         "health_check": {"type": "http", "port": 8080, "path": "/health", "host": "www.example.test",
                          "expect": [200, 204], "interval": "10s", "timeout": "250ms", "rise": 2, "fall": 3},
         "members": [
           {"address": "192.0.2.10", "latitude": 40.71, "longitude": -74.0, "name": "nyc",
            "weight": 2, "capacity": 0.8},
           {"address": "2001:db8::10", "latitude": 51.5, "longitude": -0.12, "name": "lon",
            "health_check": {"type": "tcp", "port": 443, "fall": 5}},
           {"address": "192.0.2.11", "latitude": 35.68, "longitude": 139.69, "health_check": null}
         ]},
       "backup": {
         "members": [{"address": "203.0.113.5", "latitude": -33.87, "longitude": 151.21}]}
    }}
    """

    func testRichFormPoolsMembersAndHealthInheritance() throws {
        let data = try parse(Self.rich, defaults: HealthCheckDefaults(interval: 30, timeout: 3, rise: 7, fall: 9))
        XCTAssertEqual(data.form, .rich)
        XCTAssertEqual(data.pools.map(\.name), ["web", "backup"])
        let web = try XCTUnwrap(data.pool(named: "web"))
        XCTAssertEqual(web.members.count, 3)
        let nyc = web.members[0]
        XCTAssertEqual(nyc.address, IPAddress("192.0.2.10"))
        XCTAssertEqual(nyc.name, "nyc")
        XCTAssertEqual(nyc.weight, 2)
        XCTAssertEqual(nyc.capacity, 0.8)
        // Pool check, fully specified.
        XCTAssertEqual(nyc.healthCheck, HealthCheckSpec(
            probe: .http(.init(useTLS: false, port: 8080, path: "/health", host: "www.example.test",
                               expectedStatus: [200, 204])),
            interval: 10, timeout: 0.25, rise: 2, fall: 3))
        // Member check replaces the probe; timing it omits comes from the pool's check.
        XCTAssertEqual(web.members[1].healthCheck,
                       HealthCheckSpec(probe: .tcp(port: 443), interval: 10, timeout: 0.25, rise: 2, fall: 5))
        // null disables the pool's check for that member.
        XCTAssertNil(web.members[2].healthCheck)
        // No check anywhere.
        XCTAssertNil(try XCTUnwrap(data.pool(named: "backup")).members[0].healthCheck)
        XCTAssertEqual(data.probeTargets.map(\.address.description), ["192.0.2.10", "2001:db8::10"])
    }

    func testHealthCheckDefaultsForHTTPAndHTTPS() throws {
        let data = try parse("""
        {"pools": {"p": {"members": [
          {"address": "192.0.2.1", "latitude": 0, "longitude": 0, "health_check": {"type": "http"}},
          {"address": "192.0.2.2", "latitude": 0, "longitude": 0, "health_check": {"type": "https", "expect": 204}},
          {"address": "192.0.2.3", "latitude": 0, "longitude": 0, "health_check": {"type": "http", "interval": 2.5, "timeout": "1"}}
        ]}}}
        """)
        let m = data.pools[0].members
        XCTAssertEqual(m[0].healthCheck, HealthCheckSpec(probe: .http(.init(useTLS: false, port: 80, path: "/",
                                                                            host: nil, expectedStatus: [200]))))
        XCTAssertEqual(m[1].healthCheck?.probe, .http(.init(useTLS: true, port: 443, path: "/", host: nil,
                                                           expectedStatus: [204])))
        XCTAssertEqual(m[2].healthCheck?.interval, 2.5)
        XCTAssertEqual(m[2].healthCheck?.timeout, 1)
    }

    func testAcceptsDataAndByteOrderMark() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(#"{"192.0.2.1":{"latitude":0,"longitude":0}}"#.utf8)
        let data = try GeoData.parse(json: bytes[...], file: "x.json")
        XCTAssertEqual(data.pools[0].members.count, 1)
    }

    // MARK: Errors, each with its key path

    struct ErrorCase {
        var name: String
        var json: String
        var code: GeoDataError.Code
        var path: String
    }

    static func member(_ extra: String) -> String {
        #"{"pools": {"web": {"members": [{"address": "192.0.2.1", "latitude": 1, "longitude": 2}, {"address": "192.0.2.2", "latitude": 1, "longitude": 2}, "#
            + "{\(extra)}]}}}"
    }

    static func check(_ body: String) -> String {
        member(#""address": "192.0.2.3", "latitude": 1, "longitude": 2, "health_check": {"# + body + "}")
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "latitude out of range", json: member(#""address": "192.0.2.3", "latitude": 91, "longitude": 2"#),
                  code: .invalidValue, path: "pools.web.members[2].latitude"),
        ErrorCase(name: "latitude not a number", json: member(#""address": "192.0.2.3", "latitude": "north", "longitude": 2"#),
                  code: .wrongType, path: "pools.web.members[2].latitude"),
        ErrorCase(name: "longitude out of range", json: member(#""address": "192.0.2.3", "latitude": 1, "longitude": -180.5"#),
                  code: .invalidValue, path: "pools.web.members[2].longitude"),
        ErrorCase(name: "latitude missing", json: member(#""address": "192.0.2.3", "longitude": 2"#),
                  code: .missingKey, path: "pools.web.members[2].latitude"),
        ErrorCase(name: "address missing", json: member(#""latitude": 1, "longitude": 2"#),
                  code: .missingKey, path: "pools.web.members[2].address"),
        ErrorCase(name: "bad IPv4 address", json: member(#""address": "192.0.2.300", "latitude": 1, "longitude": 2"#),
                  code: .badAddress, path: "pools.web.members[2].address"),
        ErrorCase(name: "bad IPv6 address", json: member(#""address": "2001:db8:::1", "latitude": 1, "longitude": 2"#),
                  code: .badAddress, path: "pools.web.members[2].address"),
        ErrorCase(name: "unspecified address", json: member(#""address": "0.0.0.0", "latitude": 1, "longitude": 2"#),
                  code: .badAddress, path: "pools.web.members[2].address"),
        ErrorCase(name: "address not a string", json: member(#""address": 3221225985, "latitude": 1, "longitude": 2"#),
                  code: .wrongType, path: "pools.web.members[2].address"),
        ErrorCase(name: "duplicate address in a pool", json: member(#""address": "192.0.2.1", "latitude": 1, "longitude": 2"#),
                  code: .duplicateAddress, path: "pools.web.members[2].address"),
        ErrorCase(name: "unknown member key", json: member(#""address": "192.0.2.3", "latitude": 1, "longitude": 2, "wieght": 2"#),
                  code: .unknownKey, path: "pools.web.members[2].wieght"),
        ErrorCase(name: "weight zero", json: member(#""address": "192.0.2.3", "latitude": 1, "longitude": 2, "weight": 0"#),
                  code: .invalidValue, path: "pools.web.members[2].weight"),
        ErrorCase(name: "capacity negative", json: member(#""address": "192.0.2.3", "latitude": 1, "longitude": 2, "capacity": -1"#),
                  code: .invalidValue, path: "pools.web.members[2].capacity"),
        ErrorCase(name: "empty name", json: member(#""address": "192.0.2.3", "latitude": 1, "longitude": 2, "name": """#),
                  code: .invalidValue, path: "pools.web.members[2].name"),
        ErrorCase(name: "member not an object", json: member("").replacingOccurrences(of: ", {}]", with: ", 7]"),
                  code: .wrongType, path: "pools.web.members[2]"),
        ErrorCase(name: "bad duration unit", json: check(#""type": "tcp", "port": 1, "interval": "10 s""#),
                  code: .badDuration, path: "pools.web.members[2].health_check.interval"),
        ErrorCase(name: "zero duration", json: check(#""type": "tcp", "port": 1, "timeout": "0ms""#),
                  code: .badDuration, path: "pools.web.members[2].health_check.timeout"),
        ErrorCase(name: "duration with a sign", json: check(#""type": "tcp", "port": 1, "timeout": "-2s""#),
                  code: .badDuration, path: "pools.web.members[2].health_check.timeout"),
        ErrorCase(name: "status code too large", json: check(#""type": "http", "expect": [200, 600]"#),
                  code: .badStatusCode, path: "pools.web.members[2].health_check.expect[1]"),
        ErrorCase(name: "status code not integral", json: check(#""type": "http", "expect": 200.5"#),
                  code: .badStatusCode, path: "pools.web.members[2].health_check.expect"),
        ErrorCase(name: "empty status list", json: check(#""type": "http", "expect": []"#),
                  code: .badStatusCode, path: "pools.web.members[2].health_check.expect"),
        ErrorCase(name: "rise zero", json: check(#""type": "tcp", "port": 1, "rise": 0"#),
                  code: .badThreshold, path: "pools.web.members[2].health_check.rise"),
        ErrorCase(name: "fall negative", json: check(#""type": "tcp", "port": 1, "fall": -3"#),
                  code: .badThreshold, path: "pools.web.members[2].health_check.fall"),
        ErrorCase(name: "unknown check type", json: check(#""type": "icmp""#),
                  code: .invalidValue, path: "pools.web.members[2].health_check.type"),
        ErrorCase(name: "check type missing", json: check(#""port": 80"#),
                  code: .missingKey, path: "pools.web.members[2].health_check.type"),
        ErrorCase(name: "tcp check without port", json: check(#""type": "tcp""#),
                  code: .missingKey, path: "pools.web.members[2].health_check.port"),
        ErrorCase(name: "tcp check with a path", json: check(#""type": "tcp", "port": 22, "path": "/""#),
                  code: .unknownKey, path: "pools.web.members[2].health_check.path"),
        ErrorCase(name: "port out of range", json: check(#""type": "http", "port": 70000"#),
                  code: .invalidValue, path: "pools.web.members[2].health_check.port"),
        ErrorCase(name: "path without leading slash", json: check(#""type": "http", "path": "health""#),
                  code: .invalidValue, path: "pools.web.members[2].health_check.path"),
        ErrorCase(name: "unknown check key", json: check(#""type": "http", "tiemout": "1s""#),
                  code: .unknownKey, path: "pools.web.members[2].health_check.tiemout"),
        ErrorCase(name: "empty pool", json: #"{"pools": {"web": {"members": []}}}"#,
                  code: .emptyPool, path: "pools.web.members"),
        ErrorCase(name: "no pools", json: #"{"pools": {}}"#, code: .emptyPool, path: "pools"),
        ErrorCase(name: "members missing", json: #"{"pools": {"web": {}}}"#, code: .missingKey, path: "pools.web.members"),
        ErrorCase(name: "unknown pool key", json: #"{"pools": {"web": {"policy": "nearest", "members": [{"address": "192.0.2.1", "latitude": 1, "longitude": 2}]}}}"#,
                  code: .unknownKey, path: "pools.web.policy"),
        ErrorCase(name: "unknown top-level key in the rich form", json: #"{"version": 2, "pools": {"web": {"members": [{"address": "192.0.2.1", "latitude": 1, "longitude": 2}]}}}"#,
                  code: .unknownKey, path: "version"),
        ErrorCase(name: "pool name with a dot is quoted", json: #"{"pools": {"a.b": {"members": []}}}"#,
                  code: .emptyPool, path: #"pools["a.b"].members"#),
        ErrorCase(name: "flat: key that is not an address", json: #"{"www": {"latitude": 1, "longitude": 2}}"#,
                  code: .badAddress, path: "www"),
        ErrorCase(name: "flat: duplicate key", json: #"{"192.0.2.1": {"latitude": 1, "longitude": 2}, "192.0.2.1": {"latitude": 3, "longitude": 4}}"#,
                  code: .duplicateAddress, path: #"["192.0.2.1"]"#),
        ErrorCase(name: "flat: same IPv6 address spelled twice", json: #"{"2001:db8::1": {"latitude": 1, "longitude": 2}, "2001:DB8:0::1": {"latitude": 3, "longitude": 4}}"#,
                  code: .duplicateAddress, path: #"["2001:DB8:0::1"]"#),
        ErrorCase(name: "flat: latitude out of range", json: #"{"192.0.2.1": {"latitude": -90.01, "longitude": 2}}"#,
                  code: .invalidValue, path: #"["192.0.2.1"].latitude"#),
        ErrorCase(name: "flat: unknown key", json: #"{"192.0.2.1": {"latitude": 1, "longitude": 2, "city": "x"}}"#,
                  code: .unknownKey, path: #"["192.0.2.1"].city"#),
        ErrorCase(name: "flat: value not an object", json: #"{"192.0.2.1": [1, 2]}"#,
                  code: .wrongType, path: #"["192.0.2.1"]"#),
        ErrorCase(name: "flat: empty", json: "{}", code: .emptyPool, path: ""),
        ErrorCase(name: "not an object", json: "[]", code: .wrongType, path: ""),
        ErrorCase(name: "syntax: trailing comma", json: #"{"192.0.2.1": {"latitude": 1, "longitude": 2},}"#,
                  code: .invalidJSON, path: ""),
        ErrorCase(name: "syntax: truncated", json: #"{"192.0.2.1": {"latitude": 1"#, code: .invalidJSON, path: ""),
        ErrorCase(name: "syntax: leading zero", json: #"{"192.0.2.1": {"latitude": 01, "longitude": 2}}"#,
                  code: .invalidJSON, path: ""),
        ErrorCase(name: "syntax: too deep", json: String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
                  code: .invalidJSON, path: ""),
    ]

    func testEveryErrorKindNamesItsKeyPath() {
        var codesSeen = Set<GeoDataError.Code>()
        for c in Self.errorCases {
            let found = issues(c.json)
            XCTAssertTrue(found.contains { $0.code == c.code && $0.path == c.path },
                          "\(c.name): expected \(c.code) at \(c.path), got \(found)")
            codesSeen.insert(c.code)
        }
        XCTAssertEqual(codesSeen, Set(GeoDataError.Code.allCases), "every error code has a case")
    }

    func testMessageFormatNamesFileLineAndPath() throws {
        let json = """
        {"pools": {"web": {"members": [
          {"address": "192.0.2.1", "latitude": 1, "longitude": 2},
          {"address": "192.0.2.2", "latitude": 1, "longitude": 2},
          {"address": "192.0.2.3",
           "latitude": 123, "longitude": 2}
        ]}}}
        """
        do {
            _ = try GeoData.parse(json: Array(json.utf8), file: "geo_data.json")
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.description,
                           "geo_data.json:5: pools.web.members[2].latitude: must be a number between -90 and 90")
            XCTAssertEqual(error.issues.first?.code, .invalidValue)
        }
    }

    func testCollectsAllIssuesNotOnlyTheFirst() {
        let found = issues("""
        {"pools": {
          "web": {"members": [
            {"address": "192.0.2.1", "latitude": 100, "longitude": 2, "colour": "red"},
            {"address": "nope", "latitude": 1, "longitude": 2,
             "health_check": {"type": "http", "rise": 0, "interval": "soon", "expect": [99]}}]},
          "empty": {"members": []}
        }}
        """)
        XCTAssertEqual(found.map(\.path), [
            "pools.web.members[0].colour",
            "pools.web.members[0].latitude",
            "pools.web.members[1].address",
            "pools.web.members[1].health_check.expect[0]",
            "pools.web.members[1].health_check.interval",
            "pools.web.members[1].health_check.rise",
            "pools.empty.members",
        ])
        XCTAssertEqual(found.map(\.code), [.unknownKey, .invalidValue, .badAddress, .badStatusCode, .badDuration,
                                           .badThreshold, .emptyPool])
    }

    func testSyntaxErrorReportsLineAndColumn() {
        let found = issues("{\n  \"192.0.2.1\": {\"latitude\": 1,, \"longitude\": 2}\n}")
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.line, 2)
        XCTAssertTrue(found.first?.message.contains("column 31") ?? false, "\(found)")
    }

    // MARK: Building in code

    func testPoolInitValidates() {
        XCTAssertThrowsError(try Pool(name: "p", members: [])) { error in
            XCTAssertEqual((error as? GeoDataError)?.issues.map(\.code), [.emptyPool])
        }
        let m = PoolMember(address: .v4(1), coordinate: Coordinate(latitude: 0, longitude: 0))
        var bad = m
        bad.weight = -1
        bad.coordinate.latitude = .nan
        XCTAssertThrowsError(try Pool(name: "p", members: [m, m, bad])) { error in
            XCTAssertEqual((error as? GeoDataError)?.issues.map(\.code), [.duplicateAddress, .duplicateAddress,
                                                                          .invalidValue, .invalidValue])
        }
        XCTAssertThrowsError(try GeoData(pools: [try Pool(name: "p", members: [m]), try Pool(name: "p", members: [m])]))
    }

    // MARK: Durations

    func testDurationText() {
        let table: [(String, Double?)] = [
            ("10s", 10), ("250ms", 0.25), ("5m", 300), ("1h", 3600), ("2", 2), ("1.5s", 1.5), ("0", 0),
            ("", nil), ("s", nil), ("10 s", nil), ("-1s", nil), ("1d", nil), ("1.s", nil), (".5s", nil), ("1e3", nil),
            ("10S", nil), ("1.2.3s", nil),
        ]
        for (text, expected) in table {
            XCTAssertEqual(DurationText.seconds(text), expected, "\(text)")
        }
    }
}
