import ArgumentParser
import DNSWire
import HealthChecks
import ProximaApp

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `proxima report-load`: measures this host's CPU utilisation from /proc/stat and reports it to a
/// Proxima admin API as `ip=…&load=…` (the form existing load reporters send).
struct ReportLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report-load",
        abstract: "Report this host's CPU load (0...1, from /proc/stat) to a Proxima admin API.",
        discussion: """
            Every --interval the CPU utilisation over that interval is POSTed to SERVER/load. \
            With --once one measurement is reported and the command exits (for cron); a failed \
            report then exits non-zero. Transient failures are retried with backoff.
            """
    )

    @Option(help: "Base URL of the admin API, e.g. http://127.0.0.1:8053.")
    var server: String

    @Option(help: "Bearer token for the admin API (overrides --token-env; visible in `ps`, prefer --token-file).")
    var token: String?

    @Option(name: .customLong("token-file"), help: "File whose first line is the bearer token (overrides --token and --token-env).")
    var tokenFile: String?

    @Option(name: .customLong("token-env"), help: "Environment variable holding the token.")
    var tokenEnv: String = "PROXIMA_ADMIN_TOKEN"

    @Option(help: "Measurement and reporting interval (250ms, 5s, 1m; a bare number is seconds).")
    var interval: String = "5s"

    @Option(help: "Backend address to report for (default: this host's address towards the server).")
    var address: String?

    @Flag(help: "Report one measurement and exit.")
    var once = false

    @Option(help: "Attempts per report before giving up on it.")
    var attempts: Int = 3

    func validate() throws {
        guard let seconds = Self.parseDuration(interval), seconds >= 0.01, seconds <= 3600 else {
            throw ValidationError("--interval '\(interval)' must be a duration from 10ms to 1h, e.g. 5s")
        }
        if let address, IPAddress(address) == nil {
            throw ValidationError("--address '\(address)' is not an IPv4 or IPv6 address")
        }
        guard (1...10).contains(attempts) else { throw ValidationError("--attempts must be 1...10") }
    }

    func run() async throws {
        let seconds = Self.parseDuration(interval) ?? 5
        let reportAddress: IPAddress
        if let address, let parsed = IPAddress(address) {
            reportAddress = parsed
        } else {
            do {
                reportAddress = try await LoadReporter.localAddress(towards: server)
            } catch {
                throw ValidationError("cannot determine this host's address towards \(server) (\(error)); pass --address")
            }
        }
        var secret = token ?? getenv(tokenEnv).map { String(cString: $0) }
        if let tokenFile {
            do {
                secret = try ProximaServer.readTokenFile(tokenFile)
            } catch {
                throw ValidationError("--token-file: \(error)")
            }
        }
        let configuration = LoadReporter.Configuration(
            serverURL: server, token: secret, address: reportAddress, maxAttempts: attempts,
            initialBackoff: min(1, seconds / 4), requestTimeout: max(1, min(10, seconds)))
        let sampler = CPUSampler()
        try await LoadReporter.withReporter(configuration: configuration) { reporter in
            repeat {
                do {
                    let load = try await sampler.utilisation(over: seconds)
                    try await reporter.report(load: load)
                    if once {
                        print("reported load \(LoadReporter.formBody(address: reportAddress, load: load)) to \(reporter.endpoint)")
                    }
                } catch let error as HealthChecksError {
                    if once { throw error }
                    Self.printError("report-load: \(error)")
                }
            } while !once && !Task.isCancelled
        }
    }

    private static func printError(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
    static func parseDuration(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value.isFinite else { return nil }
            return value * scale
        }
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }
}
