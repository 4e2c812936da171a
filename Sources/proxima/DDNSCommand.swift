import ArgumentParser
import DDNSClient
import Foundation
import ProximaConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `proxima ddns`: the clients of the dynamic DNS API (see docs/ddns.md).
struct DDNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddns",
        abstract: "Dynamic DNS clients: report this host's address, mirror a silo into /etc/hosts, administer silos.",
        discussion: """
            update  runs on a machine whose address changes: puts its address into a silo.
            hosts   runs on a machine that cannot use DNS: writes a silo's records into a hosts file.
            silo    the admin's commands: create, list, show, delete silos, and make their tokens.

            The API is served by `proxima serve` when its config has a ddns: section. See docs/ddns.md.
            """,
        subcommands: [DDNSUpdate.self, DDNSHosts.self, DDNSSilo.self]
    )
}

/// Options both looping clients share; each may also come from `--config client.yaml`.
struct DDNSClientOptions: ParsableArguments {
    @Option(help: "Base URL of the DDNS API, e.g. http://ns1.example:8054.")
    var server: String?

    @Option(help: "The silo's id.")
    var silo: String?

    @Option(name: .customLong("token-file"), help: "File whose first line is the silo's token (mode 0600; a world-readable file is refused).")
    var tokenFile: String?

    @Option(name: .customLong("config"), help: "YAML file with the same settings (server, silo, token_file, ...); options win over it.")
    var configFile: String?

    @Option(help: "Run every INTERVAL (30s, 5m, 1h; default 5m) until stopped.")
    var interval: String?

    @Flag(help: "Run once and exit (for cron and systemd timers).")
    var once = false

    @Option(help: "Tries per request, the first included (1...10, default 4); waits double from 1s with jitter, at most 30s.")
    var attempts: Int?

    @Option(help: "Timeout of one HTTP request (default 10s).")
    var timeout: String?

    @Flag(help: "Print nothing when something was done (errors are still printed).")
    var quiet = false

    func validate() throws {
        if let server, case .failure(let p) = DDNSClientRules.serverURL(server) { throw ValidationError("--server: \(p)") }
        if let silo, case .failure(let p) = DDNSClientRules.siloID(silo) { throw ValidationError("--silo: \(p)") }
        if let interval {
            guard let d = parseDuration(interval), DDNSClientRules.intervalRange.contains(d) else {
                throw ValidationError("--interval '\(interval)' must be a duration from 1s to 24h, e.g. 5m")
            }
            if once { throw ValidationError("--interval and --once exclude each other") }
        }
        if let attempts, !DDNSClientRules.attemptsRange.contains(attempts) {
            throw ValidationError("--attempts must be 1...10")
        }
        if let timeout {
            guard let d = parseDuration(timeout), DDNSClientRules.timeoutRange.contains(d) else {
                throw ValidationError("--timeout '\(timeout)' must be a duration from 100ms to 5m")
            }
        }
    }

    /// The config file's settings (empty without `--config`).
    func fileSettings() throws(DDNSClientError) -> DDNSClientFileSettings {
        guard let configFile else { return DDNSClientFileSettings() }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(configFile, limit: 1 << 20)
        } catch {
            throw DDNSClientError(.usage, "--config: \(error.message)")
        }
        switch DDNSClientConfigLoader.load(yaml: String(decoding: bytes, as: UTF8.self), file: configFile,
                                           workingDirectory: FileManager.default.currentDirectoryPath) {
        case .success(let settings): return settings
        case .failure(let error): throw DDNSClientError(.usage, error.description)
        }
    }

    /// The settings every client needs, options first, then the file.
    struct Common {
        var server: String
        var silo: String
        var tokenFile: String
        var interval: Duration?
        var attempts: Int
        var timeout: Duration
    }

    func common(_ file: DDNSClientFileSettings) throws(DDNSClientError) -> Common {
        func need(_ value: String?, _ option: String, _ key: String) throws(DDNSClientError) -> String {
            guard let value else { throw DDNSClientError(.usage, "\(option) is required (or \(key): in --config)") }
            return value
        }
        let server = try need(server.flatMap { try? DDNSClientRules.serverURL($0).get() } ?? file.server, "--server", "server")
        let silo = try need(silo.flatMap { try? DDNSClientRules.siloID($0).get() } ?? file.silo, "--silo", "silo")
        let tokenFile = try need(tokenFile ?? file.tokenFile, "--token-file", "token_file")
        let runOnce = once || (interval == nil && file.once == true)
        let interval: Duration? = runOnce ? nil : (interval.flatMap { parseDuration($0) } ?? file.interval ?? .seconds(300))
        return Common(server: server, silo: silo, tokenFile: tokenFile, interval: interval,
                      attempts: attempts ?? file.attempts ?? 4,
                      timeout: timeout.flatMap { parseDuration($0) } ?? file.timeout ?? .seconds(10))
    }
}

/// Output of the DDNS clients: results on stdout, problems on stderr, both line-buffered so a
/// journal or cron mail shows them at once.
enum DDNSOutput {
    static func say(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
    }

    static func warn(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// ISO 8601 UTC, seconds.
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }

    /// Runs `body` once or every `interval`. A failure ends the command with its exit status,
    /// except `.unavailable` in a loop (the server may come back: logged, retried next round).
    static func loop(command: String, interval: Duration?, _ body: () async throws(DDNSClientError) -> Void) async throws {
        while true {
            do {
                try await body()
            } catch {
                warn("proxima ddns \(command): \(error.message)")
                if interval == nil || error.code != .unavailable { throw ExitCode(error.exitStatus) }
            }
            guard let interval else { return }
            try await Task.sleep(for: interval)
        }
    }
}
