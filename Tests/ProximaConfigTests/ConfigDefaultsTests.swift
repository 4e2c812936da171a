import DNSWire
import GeoRouting
import XCTest
@testable import ProximaConfig

/// Schema defaults: what an operator gets for every key they leave out.
final class ConfigDefaultsTests: XCTestCase {
    func testOmittedKeysTakeSchemaDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.listen.map(\.description), ["127.0.0.1:5353"])
        XCTAssertEqual(c.udpThreads, 0)
        XCTAssertEqual(c.maxUDPPayload, 1232)
        XCTAssertEqual(c.logLevel, .info)
        XCTAssertEqual(c.tcp.idleTimeout, .seconds(10))
        XCTAssertEqual(c.tcp.maxConnections, 1024)
        XCTAssertNil(c.geoip.databasePath)
        XCTAssertTrue(c.geoip.watch)
        XCTAssertEqual(c.geoip.overrides, [])
        XCTAssertNil(c.geoDataPath)
        XCTAssertEqual(c.routing.defaults, RouteSettings(pool: "default", policy: .nearest, answers: 1, ttl: 60,
                                                         tieBand: 0.05, allDown: .failOpen))
        XCTAssertEqual(c.health.interval, .seconds(10))
        XCTAssertEqual(c.health.timeout, .seconds(2))
        XCTAssertEqual(c.health.rise, 2)
        XCTAssertEqual(c.health.fall, 3)
        XCTAssertEqual(c.health.loadMaxAge, .seconds(30))
        XCTAssertNil(c.admin, "no admin section means no admin listener")
    }

    func testIPStackIsDisabledWhenSectionAbsentWithDocumentedDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\ngeoip:\n  watch: false\n"))
        let s = c.geoip.ipstack
        XCTAssertFalse(c.geoip.watch)
        XCTAssertFalse(s.enabled)
        XCTAssertEqual(s.baseURL, "http://api.ipstack.com")
        XCTAssertNil(s.accessKey)
        XCTAssertEqual(s.accessKeyEnv, "IPSTACK_ACCESS_KEY")
        XCTAssertEqual(s.timeout, .seconds(1))
        XCTAssertEqual(s.budget, .milliseconds(250))
        XCTAssertEqual(s.maxConcurrent, 8)
        XCTAssertEqual(s.cacheTTL, .seconds(3600))
        XCTAssertEqual(s.negativeCacheTTL, .seconds(600))
        XCTAssertEqual(s.cachePrefixV4, 24)
        XCTAssertEqual(s.cachePrefixV6, 48)
        XCTAssertEqual(s.breakerFailures, 5)
        XCTAssertEqual(s.breakerCooldown, .seconds(30))
    }

    func testIPStackSectionPresentEnablesItByDefault() throws {
        let yaml = ConfigTestSupport.zoneOnly + """

            geoip:
              ipstack:
                access_key: k
                base_url: http://127.0.0.1:8080/
            """
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml))
        XCTAssertTrue(c.geoip.ipstack.enabled)
        XCTAssertEqual(c.geoip.ipstack.accessKey, "k")
        XCTAssertEqual(c.geoip.ipstack.baseURL, "http://127.0.0.1:8080", "trailing slash removed")
    }

    func testAdminSectionDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nadmin: {}\n"))
        XCTAssertEqual(c.admin, AdminSettings(listen: ListenEndpoint("127.0.0.1:8053")!, token: nil,
                                              tokenEnv: "PROXIMA_ADMIN_TOKEN",
                                              socket: "/etc/proxima/proxima-admin.sock"))
    }

    func testRoutedNameMergesDefaultsAndOverrides() throws {
        let yaml = """
            zones:
              - origin: Example.TEST.
                file: a.zone
              - origin: sub.example.test.
                file: b.zone
            geo_data: geo.json
            routing:
              defaults:
                policy: weighted
                answers: 2
                ttl: 30
                all_down: servfail
                fallback_pool: spare
              names:
                WWW.example.test.:
                  pool: web
                  ttl: 5
                  all_down: fallback
                api.sub.example.test.:
                  policy: least-load
                  tie_band: 0
                bare.example.test.:
            """
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml))
        XCTAssertEqual(c.zones.map(\.origin), ["example.test.", "sub.example.test."])
        XCTAssertEqual(c.routing.defaults.policy, .weighted)
        XCTAssertEqual(c.routing.defaults.allDown, .servfail)
        XCTAssertEqual(c.routing.names["www.example.test."],
                       RoutedName(name: "www.example.test.", zoneOrigin: "example.test.",
                                  route: RouteSettings(pool: "web", policy: .weighted, answers: 2, ttl: 5,
                                                       tieBand: 0.05, allDown: .fallback(pool: "spare")),
                                  keyPath: "routing.names.\"WWW.example.test.\""))
        XCTAssertEqual(c.routing.names["www.example.test."]?.route.fallbackPool, "spare")
        let api = try XCTUnwrap(c.routing.names["api.sub.example.test."])
        XCTAssertEqual(api.zoneOrigin, "sub.example.test.", "longest suffix wins")
        XCTAssertEqual(api.route, RouteSettings(pool: "default", policy: .leastLoad, answers: 2, ttl: 30,
                                                tieBand: 0, allDown: .servfail))
        XCTAssertEqual(c.routing.names["bare.example.test."]?.route.pool, "default")
        XCTAssertEqual(c.routing.names["bare.example.test."]?.route.answers, 2)
    }

    func testAllPoliciesAndLogLevelsParse() throws {
        for policy in RoutePolicy.allCases {
            let yaml = ConfigTestSupport.zoneOnly + "\nrouting:\n  defaults:\n    policy: \(policy.rawValue)\n"
            XCTAssertEqual(ConfigTestSupport.load(yaml)?.routing.defaults.policy, policy)
        }
        for level in LogLevel.allCases {
            XCTAssertEqual(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nlog_level: \(level.rawValue)\n")?.logLevel, level)
        }
        XCTAssertLessThan(LogLevel.debug, LogLevel.error)
    }

    func testPortZeroAndIPv6ListenAccepted() throws {
        let yaml = ConfigTestSupport.zoneOnly + "\nlisten: [\"127.0.0.1:0\", \"[::1]:0\", \"[2001:db8::53]:53\"]\n"
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml))
        XCTAssertEqual(c.listen.map(\.port), [0, 0, 53])
        XCTAssertEqual(c.listen.map(\.description), ["127.0.0.1:0", "[::1]:0", "[2001:db8::53]:53"])
    }

    func testRootZoneAndEmptyDocument() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load("zones:\n  - {origin: ., file: root.zone}\n"))
        XCTAssertEqual(c.zones.first?.origin, ".")
        let issues = ConfigTestSupport.issues("")
        XCTAssertEqual(issues.map(\.keyPath), ["zones"])
        XCTAssertEqual(issues.first?.code, .missingKey)
    }
}
