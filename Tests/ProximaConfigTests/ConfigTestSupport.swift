import XCTest
@testable import ProximaConfig

/// Helpers shared by the config tests.
enum ConfigTestSupport {
    /// Absolute path of the repository's `config/` directory, found from this file's path.
    static var configDirectory: String {
        let here = "\(#filePath)"
        // .../Tests/ProximaConfigTests/ConfigTestSupport.swift → repository root.
        var parts = here.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/config"
    }

    static let zoneOnly = """
        zones:
          - origin: example.test.
            file: example.test.zone
        """

    /// Loads `yaml` as `/etc/proxima/proxima.yaml`; fails the test on issues.
    static func load(_ yaml: String, environment: [String: String] = [:],
                     file: StaticString = #filePath, line: UInt = #line) -> ProximaConfiguration? {
        switch ConfigLoader.load(yaml: yaml, file: "/etc/proxima/proxima.yaml", environment: environment) {
        case .success(let configuration):
            return configuration
        case .failure(let error):
            XCTFail("unexpected config issues:\n\(error)", file: file, line: line)
            return nil
        }
    }

    /// Table-driven error check: each `yaml` must fail with exactly one issue of `code`, at
    /// `line`, naming `keyPath` (file:line: key, as operators read them).
    static func assertSingleIssues(_ cases: [(String, ConfigIssue.Code, Int, String)],
                                   prefix: String = "", file: StaticString = #filePath, line: UInt = #line) {
        for (yaml, code, issueLine, keyPath) in cases {
            let issues = Self.issues(prefix + yaml, file: file, line: line)
            XCTAssertEqual(issues.count, 1, "\(yaml): \(issues)", file: file, line: line)
            XCTAssertEqual(issues.first?.code, code, "\(yaml): \(issues)", file: file, line: line)
            XCTAssertEqual(issues.first?.line, issueLine, yaml, file: file, line: line)
            XCTAssertEqual(issues.first?.keyPath, keyPath, yaml, file: file, line: line)
        }
    }

    /// Loads `yaml` expecting failure; returns the issues (fails the test on success).
    static func issues(_ yaml: String, environment: [String: String] = [:], configFile: String = "t.yaml",
                       file: StaticString = #filePath, line: UInt = #line) -> [ConfigIssue] {
        switch ConfigLoader.load(yaml: yaml, file: configFile, environment: environment) {
        case .success:
            XCTFail("config loaded but issues were expected", file: file, line: line)
            return []
        case .failure(let error):
            return error.issues
        }
    }
}
