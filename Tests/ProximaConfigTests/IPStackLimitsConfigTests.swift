import XCTest
@testable import ProximaConfig

/// `geoip.ipstack.max_per_minute`, `monthly_quota`, `usage_file`, `max_pending` (issue #8 item 8).
final class IPStackLimitsConfigTests: XCTestCase {
    func testDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\ngeoip:\n  ipstack:\n    access_key: k\n"))
        let s = c.geoip.ipstack
        XCTAssertEqual(s.maxPerMinute, 60)
        XCTAssertEqual(s.monthlyQuota, 10_000)
        XCTAssertEqual(s.usageFile, "/var/lib/proxima/ipstack-usage.json")
        XCTAssertEqual(s.maxPending, 256)
    }

    func testValuesAndRelativeUsageFile() throws {
        let yaml = ConfigTestSupport.zoneOnly + """

            geoip:
              ipstack:
                access_key: k
                max_per_minute: 5
                monthly_quota: 0
                usage_file: state/ipstack.json
                max_pending: 16
            """
        let s = try XCTUnwrap(ConfigTestSupport.load(yaml)).geoip.ipstack
        XCTAssertEqual(s.maxPerMinute, 5)
        XCTAssertEqual(s.monthlyQuota, 0)
        XCTAssertEqual(s.usageFile, "/etc/proxima/state/ipstack.json", "relative to the config file")
        XCTAssertEqual(s.maxPending, 16)
    }

    func testOutOfRangeAndMisspeltKeysNameFileLineAndKey() {
        let yaml = ConfigTestSupport.zoneOnly + """

            geoip:
              ipstack:
                access_key: k
                max_per_minute: 0
                monthly_qouta: 5
            """
        let text = ConfigTestSupport.issues(yaml).map(\.description)
        XCTAssertTrue(text.contains { $0.hasPrefix("t.yaml:7: geoip.ipstack.max_per_minute:") }, "\(text)")
        XCTAssertTrue(text.contains { $0.hasPrefix("t.yaml:8: geoip.ipstack.monthly_qouta:") }, "\(text)")
    }
}
