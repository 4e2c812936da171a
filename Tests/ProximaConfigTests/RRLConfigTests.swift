import DNSWire
import XCTest
@testable import ProximaConfig

/// The `rrl` and `ecs` sections (issue #8): defaults, values, and errors with line and key path.
final class RRLConfigTests: XCTestCase {
    func testDefaultsRateLimitOnAndTrustEveryone() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.rrl, RRLSettings(enabled: true, rate: 200, slip: 2, ipv4Prefix: 24, ipv6Prefix: 56,
                                          tableSize: 65536, exempt: []))
        XCTAssertNil(c.ecs.trustedResolvers)
    }

    func testValues() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            rrl:
              enabled: false
              rate: 50
              slip: 0
              ipv4_prefix: 32
              ipv6_prefix: 64
              table_size: 4096
              exempt: [192.0.2.0/24, "2001:db8::/32"]
            ecs:
              trusted_resolvers: [10.0.0.0/8]
            """))
        XCTAssertEqual(c.rrl, RRLSettings(enabled: false, rate: 50, slip: 0, ipv4Prefix: 32, ipv6Prefix: 64, tableSize: 4096,
                                          exempt: [IPNetwork("192.0.2.0/24")!, IPNetwork("2001:db8::/32")!]))
        XCTAssertEqual(c.ecs.trustedResolvers, [IPNetwork("10.0.0.0/8")!])
        let empty = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\necs:\n  trusted_resolvers: []\n"))
        XCTAssertEqual(empty.ecs.trustedResolvers, [], "an empty list trusts nobody")
    }

    func testErrorsNameLineAndKeyPath() {
        let zone = ConfigTestSupport.zoneOnly + "\n"   // lines 1-3
        let cases: [(String, ConfigIssue.Code, Int, String)] = [
            ("rrl:\n  ratio: 5\n", .unknownKey, 5, "rrl.ratio"),
            ("rrl:\n  rate: 0\n", .outOfRange, 5, "rrl.rate"),
            ("rrl:\n  slip: 101\n", .outOfRange, 5, "rrl.slip"),
            ("rrl:\n  ipv6_prefix: 8\n", .outOfRange, 5, "rrl.ipv6_prefix"),
            ("rrl:\n  exempt: [10.0.0.1/8]\n", .invalidValue, 5, "rrl.exempt[0]"),
            ("ecs:\n  trusted: []\n", .unknownKey, 5, "ecs.trusted"),
            ("ecs:\n  trusted_resolvers: [10.0.0.0/8, 10.0.0.0/8]\n", .conflict, 5, "ecs.trusted_resolvers[1]"),
        ]
        ConfigTestSupport.assertSingleIssues(cases, prefix: zone)
    }
}
