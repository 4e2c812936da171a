import DNSServer
import DNSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ProximaApp

/// The real server, started in-process on ephemeral loopback ports from a config and files written
/// to a fresh temporary directory; stopped by cancellation (graceful shutdown).
final class LiveServer: @unchecked Sendable {
    let server: ProximaServer
    let task: Task<Void, Error>
    let directory: URL
    let endpoints: [ServerEndpoint]
    let adminPort: Int?

    var port: UInt16 { endpoints[0].port }
    var v4: IPAddress { IPAddress("127.0.0.1")! }

    /// Path of the repository root (for fixtures).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ relative: String) -> URL { repoRoot.appendingPathComponent(relative) }

    /// Writes `files` (relative path → contents) and `proxima.yaml` into a temp dir and starts.
    static func start(config: String, files: [String: String] = [:], copies: [String: URL] = [:],
                      environment: [String: String] = [:], pollInterval: Duration = .milliseconds(200),
                      beforeFirstPlacement: (@Sendable () -> Void)? = nil) async throws -> LiveServer {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            try Data(text.utf8).write(to: dir.appendingPathComponent(name))
        }
        for (name, source) in copies {
            try FileManager.default.copyItem(at: source, to: dir.appendingPathComponent(name))
        }
        let configURL = dir.appendingPathComponent("proxima.yaml")
        try Data(withUDPIOOverride(config).utf8).write(to: configURL)
        var logger = Logger(label: "proxima.test")
        logger.logLevel = .warning
        let server = try ProximaServer(options: .init(configPath: configURL.path, environment: environment,
                                                      handleSignals: false, pollInterval: pollInterval,
                                                      beforeFirstPlacement: beforeFirstPlacement),
                                       logger: logger)
        let task = Task { try await server.run() }
        let endpoints = try await server.waitForDNS()
        let admin = try await server.waitForAdmin()
        return LiveServer(server: server, task: task, directory: dir, endpoints: endpoints, adminPort: admin)
    }

    /// `PROXIMA_TEST_UDP_IO=uring|mmsg` runs every live server on that UDP path (issue #12: the
    /// integration suites are run once per path), unless the test's config sets `udp:` itself.
    static func withUDPIOOverride(_ config: String) -> String {
        guard let io = ProcessInfo.processInfo.environment["PROXIMA_TEST_UDP_IO"], !io.isEmpty,
              !config.split(separator: "\n").contains(where: { $0.hasPrefix("udp:") }) else { return config }
        return config + "\nudp: {io: \(io)}\n"
    }

    init(server: ProximaServer, task: Task<Void, Error>, directory: URL, endpoints: [ServerEndpoint], adminPort: Int?) {
        self.server = server
        self.task = task
        self.directory = directory
        self.endpoints = endpoints
        self.adminPort = adminPort
    }

    func stop() async {
        await server.shutdown()
        _ = try? await task.value
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ name: String, _ text: String) throws {
        // Write beside and rename, as editors and our scripts do: the server never sees half a file.
        let tmp = directory.appendingPathComponent(".\(name).tmp")
        try Data(text.utf8).write(to: tmp)
        guard rename(tmp.path, directory.appendingPathComponent(name).path) == 0 else {
            throw DNSTestClient.Failure(description: "rename: \(errno)")
        }
    }

    func udp(_ name: String, _ type: RecordType, edns: EDNS? = EDNS(udpPayloadSize: 1232)) throws -> Message {
        try DNSTestClient.udp(name, type, server: v4, port: port, edns: edns)
    }

    func tcp(_ name: String, _ type: RecordType, edns: EDNS? = EDNS(udpPayloadSize: 1232)) throws -> Message {
        try DNSTestClient.tcp(name, type, server: v4, port: port, edns: edns)
    }

    /// Polls `condition` every 20 ms for at most `timeout` seconds.
    static func eventually(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return try condition()
    }
}

/// A config for the battery zone on ephemeral loopback ports (IPv4 and IPv6).
enum TestConfigs {
    static func battery(extra: String = "") -> String {
        """
        listen:
          - 127.0.0.1:0
          - "[::1]:0"
        udp_threads: 2
        log_level: warning
        zones:
          - origin: battery.test.
            file: battery.zone
        \(extra)
        """
    }
}
