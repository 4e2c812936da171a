import DNSWire
import XCTest
@testable import ProximaConfig

/// The `forward` section (issue #10): off by default, values, and errors with line and key path.
final class ForwardConfigTests: XCTestCase {
    func testOffByDefault() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertNil(c.forward, "without forward: Proxima is not a resolver")
    }

    func testValuesAndDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            forward:
              allow: [10.0.0.0/8, 192.168.0.0/16, "::1/128"]
              upstreams: [from-resolv-conf, 192.0.2.53, "192.0.2.54:5300", "[2001:db8::53]:53"]
              timeout: 750ms
              max_pending: 10
              resolv_conf: /tmp/resolv.conf
              cache: {max_entries: 500, max_ttl: 1h, negative_ttl: 30s}
            """))
        let f = try XCTUnwrap(c.forward)
        XCTAssertEqual(f.allow, [IPNetwork("10.0.0.0/8")!, IPNetwork("192.168.0.0/16")!, IPNetwork("::1/128")!])
        XCTAssertEqual(f.upstreams, [.fromResolvConf, .address(ListenEndpoint(address: IPAddress("192.0.2.53")!, port: 53)),
                                     .address(ListenEndpoint(address: IPAddress("192.0.2.54")!, port: 5300)),
                                     .address(ListenEndpoint(address: IPAddress("2001:db8::53")!, port: 53))])
        XCTAssertEqual(f.timeout, .milliseconds(750))
        XCTAssertEqual(f.maxPending, 10)
        XCTAssertEqual(f.resolvConf, "/tmp/resolv.conf")
        XCTAssertEqual(f.cache, ForwardCacheSettings(maxEntries: 500, maxTTL: .seconds(3600), negativeTTL: .seconds(30)))

        let d = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            forward:
              allow: [127.0.0.1/32]
              upstreams: [from-resolv-conf]
            """)?.forward)
        XCTAssertEqual(d.timeout, .milliseconds(1500))
        XCTAssertEqual(d.resolvConf, "/etc/resolv.conf")
        XCTAssertEqual(d.maxPending, 1024)
        XCTAssertEqual(d.cache, ForwardCacheSettings(maxEntries: 100_000, maxTTL: .seconds(86_400), negativeTTL: .seconds(300)))
    }

    func testErrorsNameLineAndKeyPath() {
        let zone = ConfigTestSupport.zoneOnly + "\n"   // lines 1-3
        let ok = "  allow: [127.0.0.1/32]\n  upstreams: [192.0.2.1]\n"
        let cases: [(String, ConfigIssue.Code, Int, String)] = [
            ("forward:\n" + ok + "  upstream: [x]\n", .unknownKey, 7, "forward.upstream"),
            ("forward:\n  upstreams: [192.0.2.1]\n", .missingKey, 5, "forward.allow"),
            ("forward:\n  allow: [127.0.0.1/32]\n", .missingKey, 5, "forward.upstreams"),
            ("forward:\n  allow: [127.0.0.1/32]\n  upstreams: [resolver.example]\n", .invalidValue, 6, "forward.upstreams[0]"),
            ("forward:\n  allow: [127.0.0.1/32]\n  upstreams: [192.0.2.1, 192.0.2.1:53]\n", .conflict, 6, "forward.upstreams[1]"),
            ("forward:\n  allow: [127.0.0.1/8]\n  upstreams: [192.0.2.1]\n", .invalidValue, 5, "forward.allow[0]"),
            ("forward:\n" + ok + "  timeout: 1ms\n", .outOfRange, 7, "forward.timeout"),
            ("forward:\n" + ok + "  cache:\n    max_entries: 0\n", .outOfRange, 8, "forward.cache.max_entries"),
            ("forward:\n" + ok + "  cache:\n    ttl: 5m\n", .unknownKey, 8, "forward.cache.ttl"),
        ]
        ConfigTestSupport.assertSingleIssues(cases, prefix: zone)
    }
}
