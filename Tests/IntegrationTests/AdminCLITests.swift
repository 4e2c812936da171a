import DNSWire
import Foundation
import GeoRouting
import Logging
import ProximaApp
import XCTest

/// The admin API through the real `proxima` binary against a running server: local
/// administration over the Unix socket needs no token; the TCP listener without an admin token
/// refuses changes; a backend reports with a report token read from a file.
final class AdminCLITests: XCTestCase {
    static let zone = """
        $ORIGIN cli.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.200
        """

    /// As the example config: the admin token variable is named but unset.
    static let config = """
        listen: [127.0.0.1:0]
        log_level: error
        zones:
          - origin: cli.test.
            file: cli.zone
        geo_data: geo_data.json
        routing:
          names:
            www.cli.test.: { pool: default }
        admin:
          listen: 127.0.0.1:0
          token_env: PROXIMA_CLI_TEST_UNSET_TOKEN
          report_token_file: report.token
        """

    static let geoData = """
        {"127.0.0.1": {"latitude": 51.5, "longitude": -0.12},
         "192.0.2.10": {"latitude": 40.71, "longitude": -74.0}}
        """

    func testSocketAdministrationTokenlessTCPAndReportTokenFile() async throws {
        let live = try await LiveServer.start(
            config: Self.config,
            files: ["cli.zone": Self.zone, "geo_data.json": Self.geoData, "report.token": "rep0rt-secret\n"])
        let configPath = live.directory.appendingPathComponent("proxima.yaml").path
        let port = try XCTUnwrap(live.adminPort)

        // Local administration through the config's socket, no token.
        var (status, out, err) = try ServerProcess.run(["force", "192.0.2.10", "down", "--config", configPath])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains(#""forced":"down""#), out)
        (status, out, err) = try ServerProcess.run(["route", "198.51.100.7", "--live", "--json", "--config", configPath])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("192.0.2.10"), out)

        // The TCP listener has no admin token: changes are refused there, with or without a bearer.
        (status, out, err) = try ServerProcess.run(["force", "192.0.2.10", "up", "--admin", "http://127.0.0.1:\(port)"])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(err.contains("HTTP 401"), err)
        let reportTokenFile = live.directory.appendingPathComponent("report.token").path
        (status, out, err) = try ServerProcess.run(["force", "192.0.2.10", "up", "--admin", "http://127.0.0.1:\(port)",
                                                    "--token-file", reportTokenFile])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(err.contains("HTTP 403"), err)
        XCTAssertEqual(live.server.snapshotStore.current().states.status(of: IPAddress("192.0.2.10")!).forced, .down)

        // A backend (127.0.0.1) reports its own load with the report token from a file.
        (status, out, err) = try ServerProcess.run([
            "report-load", "--server", "http://127.0.0.1:\(port)", "--once", "--interval", "100ms",
            "--token-file", live.directory.appendingPathComponent("report.token").path,
        ])
        XCTAssertEqual(status, 0, err)
        XCTAssertNotNil(live.server.snapshotStore.current().states.status(of: IPAddress("127.0.0.1")!).lastLoad)
        // ... but not for another backend.
        (status, out, err) = try ServerProcess.run([
            "report-load", "--server", "http://127.0.0.1:\(port)", "--once", "--interval", "100ms",
            "--address", "192.0.2.10", "--token-file", live.directory.appendingPathComponent("report.token").path,
        ])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("403"), err)

        XCTAssertTrue(FileManager.default.fileExists(atPath: live.directory.appendingPathComponent("proxima-admin.sock").path))
        await live.stop()
    }
}

/// Start-up of the admin section: an unset token variable is a warning (the server still starts),
/// an unreadable token file is a start-up error naming the key.
final class AdminStartupTests: XCTestCase {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [(Logger.Level, String)] = []
        func append(_ level: Logger.Level, _ text: String) { lock.lock(); lines.append((level, text)); lock.unlock() }
        var all: [(Logger.Level, String)] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    struct Capture: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.append(event.level, event.message.description)
        }
    }

    private func write(_ config: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-admin-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(AdminCLITests.zone.utf8).write(to: dir.appendingPathComponent("cli.zone"))
        try Data(AdminCLITests.geoData.utf8).write(to: dir.appendingPathComponent("geo_data.json"))
        try Data("rep0rt-secret\n".utf8).write(to: dir.appendingPathComponent("report.token"))
        try Data(config.utf8).write(to: dir.appendingPathComponent("proxima.yaml"))
        return dir
    }

    func testUnsetTokenVariableIsLoggedAsAWarning() async throws {
        let dir = try write(AdminCLITests.config)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lines = Lines()
        let logger = Logger(label: "test") { _ in Capture(lines: lines) }
        let server = try ProximaServer(options: .init(configPath: dir.appendingPathComponent("proxima.yaml").path,
                                                      environment: [:], handleSignals: false), logger: logger)
        // Run and stop it, so its resources are released as in production.
        let task = Task { try await server.run() }
        _ = try await server.waitForAdmin()
        await server.shutdown()
        try await task.value
        XCTAssertTrue(lines.all.contains { $0.0 == .warning && $0.1.contains("$PROXIMA_CLI_TEST_UNSET_TOKEN is empty")
                                           && $0.1.contains("serves only /health") },
                      "\(lines.all)")
    }

    func testUnreadableTokenFileIsAStartupError() throws {
        let dir = try write(AdminCLITests.config.replacingOccurrences(of: "report_token_file: report.token",
                                                                      with: "token_file: missing.token"))
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try ProximaServer(options: .init(configPath: dir.appendingPathComponent("proxima.yaml").path,
                                                              environment: [:], handleSignals: false),
                                               logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })) {
            XCTAssertTrue("\($0)".contains("admin.token_file: cannot read"), "\($0)")
        }
    }
}
