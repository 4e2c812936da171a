import DNSWire
import XCTest
@testable import ProximaConfig

/// The `ddns` section (issue #9): off by default, every key with its default, and each error with
/// its line and key path, all reported in one run.
final class DDNSConfigTests: XCTestCase {
    /// Lines 1-5: two served zones.
    static let zones = """
        zones:
          - origin: example.test.
            file: example.test.zone
          - origin: dyn.example.test.
            file: dyn.zone

        """

    func testOffByDefault() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertNil(c.ddns)
    }

    func testDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(Self.zones + "ddns:\n  zone: Dyn.Example.Test.\n"))
        let d = try XCTUnwrap(c.ddns)
        XCTAssertEqual(d.zone, try DomainName(parsing: "dyn.example.test."))
        XCTAssertEqual(d.nameservers, [])
        XCTAssertNil(d.hostmaster)
        XCTAssertEqual(d.allowNamesIn, [])
        XCTAssertEqual(d.listen, ListenEndpoint(address: .v4(0x7f00_0001), port: 8054))
        XCTAssertNil(d.tls)
        XCTAssertEqual(d.store, .sqlite(path: "/var/lib/proxima/ddns.sqlite3"))
        XCTAssertNil(d.adminToken)
        XCTAssertEqual(d.adminTokenEnv, "PROXIMA_DDNS_ADMIN_TOKEN")
        XCTAssertNil(d.adminTokenFile)
        XCTAssertEqual(d.trustedProxies, [])
        XCTAssertEqual(d.maxRecordsPerSilo, 64)
        XCTAssertEqual(d.maxSilos, 10_000)
        XCTAssertEqual(d.maxUpdatesPerMinute, 60)
        XCTAssertEqual(d.defaultTTL, 60)
        XCTAssertEqual(d.resyncInterval, .seconds(30))
        XCTAssertEqual(d.maxConnections, 256)
        XCTAssertEqual(d.maxConnectionsPerIP, 32)
        XCTAssertEqual(d.requestTimeout, .seconds(10))
        XCTAssertEqual(d.idleTimeout, .seconds(60))
    }

    func testEveryKey() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            ddns:
              zone: dyn.example.net.
              nameservers: [ns1.example.net., ns2.example.org.]
              hostmaster: ops.example.net.
              allow_names_in: [example.test.]
              listen: 0.0.0.0:8443
              tls: {cert: tls/ddns.pem, key: tls/ddns.key}
              store: sqlite:data/ddns.sqlite3
              admin_token_env: MY_DDNS_TOKEN
              admin_token_file: ddns-admin.token
              trusted_proxies: [10.0.0.0/8, "2001:db8::/32"]
              max_records_per_silo: 8
              max_silos: 100
              max_updates_per_minute: 600
              default_ttl: 30
              resync_interval: 5s
              max_connections: 64
              max_connections_per_ip: 4
              request_timeout: 2s
              idle_timeout: 20s
            """, environment: ["MY_DDNS_TOKEN": "sekrit"]))
        let d = try XCTUnwrap(c.ddns)
        XCTAssertEqual(d.zone, try DomainName(parsing: "dyn.example.net."))
        XCTAssertEqual(d.nameservers, [try DomainName(parsing: "ns1.example.net."), try DomainName(parsing: "ns2.example.org.")])
        XCTAssertEqual(d.hostmaster, try DomainName(parsing: "ops.example.net."))
        XCTAssertEqual(d.allowNamesIn, [try DomainName(parsing: "example.test.")])
        XCTAssertEqual(d.listen, ListenEndpoint("0.0.0.0:8443"))
        XCTAssertEqual(d.tls, AdminTLSSettings(certificate: "/etc/proxima/tls/ddns.pem", privateKey: "/etc/proxima/tls/ddns.key"))
        XCTAssertEqual(d.store, .sqlite(path: "/etc/proxima/data/ddns.sqlite3"))
        XCTAssertEqual(d.adminToken, "sekrit")
        XCTAssertEqual(d.adminTokenEnv, "MY_DDNS_TOKEN")
        XCTAssertEqual(d.adminTokenFile, "/etc/proxima/ddns-admin.token")
        XCTAssertEqual(d.trustedProxies, [IPNetwork("10.0.0.0/8")!, IPNetwork("2001:db8::/32")!])
        XCTAssertEqual(d.maxRecordsPerSilo, 8)
        XCTAssertEqual(d.maxSilos, 100)
        XCTAssertEqual(d.maxUpdatesPerMinute, 600)
        XCTAssertEqual(d.defaultTTL, 30)
        XCTAssertEqual(d.resyncInterval, .seconds(5))
        XCTAssertEqual(d.maxConnections, 64)
        XCTAssertEqual(d.maxConnectionsPerIP, 4)
        XCTAssertEqual(d.requestTimeout, .seconds(2))
        XCTAssertEqual(d.idleTimeout, .seconds(20))
    }

    func testStoreForms() throws {
        let cases: [(String, DDNSStoreLocation)] = [
            ("sqlite:///var/db/d.sqlite3", .sqlite(path: "/var/db/d.sqlite3")),
            ("sqlite:d.sqlite3", .sqlite(path: "/etc/proxima/d.sqlite3")),
            ("sqlite:../state/d.sqlite3", .sqlite(path: "/etc/state/d.sqlite3")),
            ("postgres://proxima@db.example/proxima", .postgres(url: "postgres://proxima@db.example/proxima")),
            ("postgresql://u:p@127.0.0.1:5433/ddns", .postgres(url: "postgresql://u:p@127.0.0.1:5433/ddns")),
        ]
        for (text, expected) in cases {
            let c = ConfigTestSupport.load(Self.zones + "ddns:\n  zone: dyn.example.test.\n  store: \"\(text)\"\n")
            XCTAssertEqual(c?.ddns?.store, expected, text)
        }
    }

    func testAdminTokenInlineWinsOverVariable() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(Self.zones + "ddns:\n  zone: dyn.example.test.\n  admin_token: inline\n",
                                                     environment: ["PROXIMA_DDNS_ADMIN_TOKEN": "fromenv"]))
        XCTAssertEqual(c.ddns?.adminToken, "inline")
        let e = try XCTUnwrap(ConfigTestSupport.load(Self.zones + "ddns:\n  zone: dyn.example.test.\n",
                                                     environment: ["PROXIMA_DDNS_ADMIN_TOKEN": "fromenv"]))
        XCTAssertEqual(e.ddns?.adminToken, "fromenv")
    }

    /// Each bad value alone: exactly one issue, with its code, line and key path.
    func testErrorsNameLineAndKeyPath() {
        let head = Self.zones + "ddns:\n  zone: dyn.example.test.\n"   // ddns: on line 6, zone on 7
        let cases: [(String, ConfigIssue.Code, Int, String)] = [
            (head + "  zones: x\n", .unknownKey, 8, "ddns.zones"),
            (Self.zones + "ddns:\n  store: sqlite:x\n", .missingKey, 7, "ddns.zone"),
            (Self.zones + "ddns:\n  zone: \"not a name!\"\n", .invalidValue, 7, "ddns.zone"),
            (Self.zones + "ddns:\n  zone: other.test.\n", .invalidValue, 7, "ddns.zone"),
            (head + "  nameservers: [ns1.example.net.]\n", .conflict, 8, "ddns.nameservers"),
            (head + "  hostmaster: ops.example.net.\n", .conflict, 8, "ddns.hostmaster"),
            (Self.zones + "ddns:\n  zone: gen.test.\n  nameservers: [ns1.gen.test.]\n", .invalidValue, 8, "ddns.nameservers"),
            (Self.zones + "ddns:\n  zone: gen.test.\n  nameservers: [ns1.x.test., ns1.x.test.]\n", .conflict, 8, "ddns.nameservers[1]"),
            (head + "  allow_names_in: [other.test.]\n", .invalidValue, 8, "ddns.allow_names_in[0]"),
            (head + "  allow_names_in: [dyn.example.test.]\n", .conflict, 8, "ddns.allow_names_in[0]"),
            (head + "  allow_names_in: [example.test., example.test.]\n", .conflict, 8, "ddns.allow_names_in[1]"),
            (head + "  listen: 127.0.0.1:5353\n", .conflict, 8, "ddns.listen"),
            (head + "  listen: nowhere\n", .invalidValue, 8, "ddns.listen"),
            (head + "  tls: {cert: a.pem}\n", .missingKey, 8, "ddns.tls.key"),
            (head + "  store: mysql://x/y\n", .invalidValue, 8, "ddns.store"),
            (head + "  store: sqlite://host/x\n", .invalidValue, 8, "ddns.store"),
            (head + "  store: \"sqlite:\"\n", .invalidValue, 8, "ddns.store"),
            (head + "  store: postgres://host\n", .invalidValue, 8, "ddns.store"),
            (head + "  admin_token_env: 1BAD\n", .invalidValue, 8, "ddns.admin_token_env"),
            (head + "  trusted_proxies: [10.0.0.1/8]\n", .invalidValue, 8, "ddns.trusted_proxies[0]"),
            (head + "  max_records_per_silo: 0\n", .outOfRange, 8, "ddns.max_records_per_silo"),
            (head + "  max_silos: 2000000\n", .outOfRange, 8, "ddns.max_silos"),
            (head + "  max_updates_per_minute: 0\n", .outOfRange, 8, "ddns.max_updates_per_minute"),
            (head + "  default_ttl: 0\n", .outOfRange, 8, "ddns.default_ttl"),
            (head + "  default_ttl: sixty\n", .wrongType, 8, "ddns.default_ttl"),
            (head + "  resync_interval: 10ms\n", .outOfRange, 8, "ddns.resync_interval"),
            (head + "  max_connections: 0\n", .outOfRange, 8, "ddns.max_connections"),
            (head + "  max_connections_per_ip: 0\n", .outOfRange, 8, "ddns.max_connections_per_ip"),
            (head + "  request_timeout: 0s\n", .outOfRange, 8, "ddns.request_timeout"),
            (head + "  idle_timeout: 100000s\n", .outOfRange, 8, "ddns.idle_timeout"),
        ]
        ConfigTestSupport.assertSingleIssues(cases)
    }

    func testListenMustDifferFromAdmin() {
        let issues = ConfigTestSupport.issues(Self.zones + """
            admin:
              listen: 127.0.0.1:8053
            ddns:
              zone: dyn.example.test.
              listen: 127.0.0.1:8053
            """)
        XCTAssertEqual(issues.map(\.keyPath), ["ddns.listen"])
        XCTAssertEqual(issues.first?.code, .conflict)
        XCTAssertEqual(issues.first?.line, 10)
    }

    func testRoutedNameWithTheShapeOfADDNSNameIsRefused() {
        let issues = ConfigTestSupport.issues(Self.zones + """
            geo_data: geo.json
            routing:
              names:
                www.example.test.: {}
                host.silo1.dyn.example.test.: {}
            ddns:
              zone: dyn.example.test.
            """)
        XCTAssertEqual(issues.map(\.keyPath), ["ddns.zone"], "\(issues)")
        XCTAssertTrue(issues.first?.message.contains("host.silo1.dyn.example.test.") == true, "\(issues)")
    }

    func testEveryProblemInOneRun() {
        let issues = ConfigTestSupport.issues(Self.zones + """
            ddns:
              zone: dyn.example.test.
              allow_names_in: [nowhere.test.]
              max_silos: 0
              default_ttl: 99999999
              colour: blue
            """)
        XCTAssertEqual(Set(issues.map(\.keyPath)),
                       ["ddns.allow_names_in[0]", "ddns.max_silos", "ddns.default_ttl", "ddns.colour"])
    }

    func testGeneratedZoneNeedsNoZoneFile() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            ddns:
              zone: dyn.example.test.
              nameservers: [ns1.example.test.]
            """))
        XCTAssertEqual(c.ddns?.nameservers.count, 1)
    }
}
