import XCTest
@testable import ProximaConfig

/// The `metrics` and `query_log` sections (issue #11): defaults, values, and errors with line and
/// key path.
final class MetricsConfigTests: XCTestCase {
    func testDefaultsMetricsOnNoQueryLog() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.metrics, MetricsSettings(enabled: true))
        XCTAssertNil(c.queryLog)
    }

    func testValues() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            metrics:
              enabled: false
            query_log:
              path: logs/queries.jsonl
              sample: 10
              buffer: 64
            """))
        XCTAssertEqual(c.metrics, MetricsSettings(enabled: false))
        XCTAssertEqual(c.queryLog, QueryLogSettings(target: .file("/etc/proxima/logs/queries.jsonl"), sample: 10, buffer: 64))
        let out = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nquery_log: {path: stdout}\n"))
        XCTAssertEqual(out.queryLog, QueryLogSettings(target: .stdout, sample: 1, buffer: 1024))
    }

    func testMetricsTokenIsItsOwnRole() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nadmin:\n  metrics_token: m\n",
                                                     environment: [:]))
        XCTAssertEqual(c.admin?.metricsToken, "m")
        let env = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nadmin:\n  token: a\n",
                                                       environment: ["PROXIMA_METRICS_TOKEN": "from-env"]))
        XCTAssertEqual(env.admin?.metricsToken, "from-env")
        let issues = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\nadmin:\n  token: a\n  metrics_token: a\n")
        XCTAssertEqual(issues.map(\.code), [.conflict])
        XCTAssertEqual(issues.first?.keyPath, "admin.metrics_token")
        XCTAssertEqual(issues.first?.line, 6)
    }

    func testErrorsNameLineAndKeyPath() {
        let zone = ConfigTestSupport.zoneOnly + "\n"   // lines 1-3
        let cases: [(String, ConfigIssue.Code, Int, String)] = [
            ("metrics:\n  enable: true\n", .unknownKey, 5, "metrics.enable"),
            ("metrics:\n  enabled: 3\n", .wrongType, 5, "metrics.enabled"),
            ("query_log:\n  sample: 2\n", .missingKey, 5, "query_log.path"),
            ("query_log:\n  path: q.jsonl\n  sample: 0\n", .outOfRange, 6, "query_log.sample"),
            ("query_log:\n  path: q.jsonl\n  buffer: 8\n", .outOfRange, 6, "query_log.buffer"),
            ("query_log:\n  path: \"~/q.jsonl\"\n", .invalidValue, 5, "query_log.path"),
            ("query_log:\n  path: q.jsonl\n  rotate: daily\n", .unknownKey, 6, "query_log.rotate"),
        ]
        ConfigTestSupport.assertSingleIssues(cases, prefix: zone)
    }
}
