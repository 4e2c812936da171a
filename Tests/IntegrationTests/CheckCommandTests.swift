import Foundation
import XCTest

/// Issue #13: `proxima check` reports every problem it can find in one run, each as
/// `file:line: key.path: message`, then exits non-zero.
final class CheckCommandTests: XCTestCase {
    func run(_ files: [String: String], links: [String: String] = [:]) throws -> (Int32, [String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent(name).path, withDestinationPath: target)
        }
        let (status, out, err) = try ServerProcess.run(["check", "--config", dir.appendingPathComponent("bad.yaml").path])
        let lines = (out + err).split(separator: "\n").map { line in
            // Paths are absolute in a temp dir: keep the file name.
            line.replacingOccurrences(of: dir.path + "/", with: "")
        }
        return (status, lines)
    }

    func testAMisspeltPolicyDoesNotHideMissingFiles() throws {
        let (status, lines) = try run(["bad.yaml": """
            listen:
              - 127.0.0.1:0
            zones:
              - origin: example.test.
                file: missing.zone
            geo_data: missing-geo.json
            routing:
              names:
                www.example.test.: { pool: web, policy: nearset }
            """])
        XCTAssertEqual(status, 1)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("bad.yaml:9: routing.names") && $0.contains("nearset") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("bad.yaml:5: zones[0].file: cannot read") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("bad.yaml:6: geo_data: cannot read") }, text)
        XCTAssertTrue(text.contains("3 problems found"), text)
    }

    func testGeoDataProblemsNameFileAndLine() throws {
        let (status, lines) = try run([
            "bad.yaml": """
                listen:
                  - 127.0.0.1:0
                zones:
                  - origin: example.test.
                    file: example.zone
                geo_data: geo.json
                """,
            "example.zone": """
                $ORIGIN example.test.
                @ 300 SOA ns1 hostmaster 1 7200 3600 1209600 300
                @ 300 NS ns1
                ns1 300 A 192.0.2.53
                """,
            "geo.json": """
                {
                  "192.0.2.1": {"latitude": 38.8, "longitude": -77.0},
                  "192.0.2.2": {"latitude": 138.8, "longitude": -77.0}
                }
                """,
        ])
        XCTAssertEqual(status, 1)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("geo.json:3: ") && $0.contains("latitude") }, text)
    }

    /// Issue #10: `$INCLUDE` and `$GENERATE` problems name the file and line (and the including
    /// line for a problem inside an included file); an include outside the config's directory is
    /// refused.
    func testIncludeAndGenerateProblemsNameFileAndLine() throws {
        let (status, lines) = try run([
            "bad.yaml": """
                listen:
                  - 127.0.0.1:0
                zones:
                  - origin: example.test.
                    file: example.zone
                """,
            "example.zone": """
                $ORIGIN example.test.
                $TTL 300
                @ SOA ns1 hostmaster 1 7200 3600 1209600 300
                @ NS ns1
                ns1 A 192.0.2.53
                $INCLUDE hosts.zone
                $GENERATE 1-3 g$ A 192.0.2.${253}
                $INCLUDE ../../etc/passwd
                $INCLUDE link.zone
                """,
            "hosts.zone": "ok A 192.0.2.1\nbad A 192.0.2.300\n",
        ], links: ["link.zone": "/dev/zero"])
        XCTAssertEqual(status, 1)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(lines.contains(#"hosts.zone:2: bad IPv4 address "192.0.2.300" in A record (included from example.zone:6)"#), text)
        XCTAssertTrue(lines.contains(#"example.zone:7: $GENERATE at 3: bad IPv4 address "192.0.2.256" in A record"#), text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("example.zone:8: $INCLUDE /") && $0.contains("passwd is outside") }, text)
        // A link out of the directory is refused by where it leads, without opening it.
        XCTAssertTrue(lines.contains { $0.hasPrefix("example.zone:9: $INCLUDE link.zone resolves to /dev/zero, outside /") }, text)
    }
}
