import DNSWire
import XCTest
@testable import ProximaConfig

/// The `admin` section: defaults, every key, and the errors for bad values.
final class AdminConfigTests: XCTestCase {
    func testDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nadmin: {}\n"))
        let a = try XCTUnwrap(c.admin)
        XCTAssertEqual(a.listen.description, "127.0.0.1:8053")
        XCTAssertEqual(a.socket, "/etc/proxima/proxima-admin.sock", "next to the config file")
        XCTAssertNil(a.token)
        XCTAssertNil(a.tokenFile)
        XCTAssertNil(a.reportToken)
        XCTAssertEqual(a.reportTokenEnv, "PROXIMA_REPORT_TOKEN")
        XCTAssertEqual(a.reportSources, .source)
        XCTAssertEqual(a.allowedOrigins, [])
        XCTAssertNil(a.tls)
        XCTAssertEqual(a.idleTimeout, .seconds(60))
        XCTAssertEqual(a.headerTimeout, .seconds(10))
        XCTAssertEqual(a.bodyTimeout, .seconds(10))
        XCTAssertEqual(a.maxConnections, 256)
        XCTAssertEqual(a.maxConnectionsPerIP, 32)
    }

    func testEveryKey() throws {
        let yaml = ConfigTestSupport.zoneOnly + """

            admin:
              listen: "[::1]:9053"
              socket: /run/proxima/admin.sock
              token_env: ADM
              token_file: secrets/admin.token
              report_token_env: REP
              report_token_file: /etc/proxima/report.token
              report_sources: [192.0.2.0/24, "2001:db8::/32"]
              allowed_origins: [https://ops.example, "http://127.0.0.1:3000"]
              tls: { cert: tls/admin.crt, key: /etc/proxima/tls/admin.key }
              idle_timeout: 2m
              header_timeout: 5s
              body_timeout: 250ms
              max_connections: 64
              max_connections_per_ip: 4
            """
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml, environment: ["ADM": "a", "REP": "r"]))
        let a = try XCTUnwrap(c.admin)
        XCTAssertEqual(a.listen.description, "[::1]:9053")
        XCTAssertEqual(a.socket, "/run/proxima/admin.sock")
        XCTAssertEqual(a.token, "a")
        XCTAssertEqual(a.tokenFile, "/etc/proxima/secrets/admin.token")
        XCTAssertEqual(a.reportToken, "r")
        XCTAssertEqual(a.reportTokenFile, "/etc/proxima/report.token")
        XCTAssertEqual(a.reportSources, .networks([IPNetwork("192.0.2.0/24")!, IPNetwork("2001:db8::/32")!]))
        XCTAssertEqual(a.allowedOrigins, ["https://ops.example", "http://127.0.0.1:3000"])
        XCTAssertEqual(a.tls, AdminTLSSettings(certificate: "/etc/proxima/tls/admin.crt", privateKey: "/etc/proxima/tls/admin.key"))
        XCTAssertEqual(a.idleTimeout, .seconds(120))
        XCTAssertEqual(a.headerTimeout, .seconds(5))
        XCTAssertEqual(a.bodyTimeout, .milliseconds(250))
        XCTAssertEqual(a.maxConnections, 64)
        XCTAssertEqual(a.maxConnectionsPerIP, 4)
    }

    func testSocketCanBeTurnedOffAndReportSourcesKeywords() throws {
        for (text, expected) in [("source", AdminReportSources.source), ("any", .any)] {
            let yaml = ConfigTestSupport.zoneOnly + "\nadmin:\n  socket: \"\"\n  report_sources: \(text)\n"
            let a = try XCTUnwrap(ConfigTestSupport.load(yaml)?.admin)
            XCTAssertNil(a.socket)
            XCTAssertEqual(a.reportSources, expected)
        }
    }

    func testBadValuesAreReportedWithTheirKeyPath() {
        let zone = ConfigTestSupport.zoneOnly + "\nadmin:\n"
        let cases: [(yaml: String, keyPath: String, message: String)] = [
            ("  report_sources: everyone\n", "admin.report_sources", "expected 'source', 'any'"),
            ("  report_sources: [10.0.0.1/8]\n", "admin.report_sources[0]", "host bits"),
            ("  allowed_origins: [https://ops.example/path]\n", "admin.allowed_origins[0]", "is not an origin"),
            ("  allowed_origins: [\"*\"]\n", "admin.allowed_origins[0]", "is not an origin"),
            ("  tls: { cert: a.crt }\n", "admin.tls.key", "key"),
            ("  idle_timeout: 0s\n", "admin.idle_timeout", "too short"),
            ("  max_connections: 0\n", "admin.max_connections", "out of range"),
            ("  socket: /" + String(repeating: "a", count: 120) + "\n", "admin.socket", "too long"),
            ("  token: same\n  report_token: same\n", "admin.report_token", "equals the admin token"),
            ("  token_filename: x\n", "admin.token_filename", "unknown key"),
        ]
        for c in cases {
            let issues = ConfigTestSupport.issues(zone + c.yaml)
            XCTAssertTrue(issues.contains { $0.keyPath == c.keyPath && $0.message.contains(c.message) },
                          "\(c.yaml): \(issues.map { "\($0.keyPath): \($0.message)" })")
        }
    }
}

/// The example config keeps the admin API usable locally without any secret: a socket next to
/// it, and a token variable that may stay unset.
final class AdminExampleConfigTests: XCTestCase {
    func testExampleAdministersThroughTheSocketWithoutAToken() throws {
        let path = ConfigTestSupport.configDirectory + "/proxima.yaml"
        let yaml = try String(contentsOfFile: path, encoding: .utf8)
        let c = try ConfigLoader.load(yaml: yaml, file: path, environment: [:]).get()
        let a = try XCTUnwrap(c.admin)
        XCTAssertEqual(a.socket, ConfigTestSupport.configDirectory + "/proxima-admin.sock")
        XCTAssertNil(a.token, "PROXIMA_ADMIN_TOKEN unset: no token, TCP serves only /health")
        XCTAssertEqual(a.tokenEnv, "PROXIMA_ADMIN_TOKEN")
        XCTAssertEqual(a.reportTokenEnv, "PROXIMA_REPORT_TOKEN")
        XCTAssertEqual(a.reportSources, .source)
        XCTAssertEqual(a.allowedOrigins, [])
        XCTAssertTrue(a.listen.isLoopback)
    }
}
