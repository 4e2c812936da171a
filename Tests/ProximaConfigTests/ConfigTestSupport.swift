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
