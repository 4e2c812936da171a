import ArgumentParser
import Foundation
import Logging
import ProximaApp
import ProximaConfig

/// `proxima serve`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the nameserver.",
        discussion: """
        Serves every zone in the config over UDP and TCP on each `listen` address, answers routed names \
        from their pools, probes backends, and (when configured) runs the HTTP admin API.

        Signals: SIGHUP reloads config, zones, geo data and the GeoIP database atomically; anything \
        invalid is refused with file, line and reason in the log, and the previous data keeps serving. \
        Changed files are also picked up without a signal. SIGINT/SIGTERM shut down gracefully.

        Example: proxima serve --config config/proxima.yaml
        """)

    @Option(name: .shortAndLong, help: "Path of the YAML config file.")
    var config: String = "config/proxima.yaml"

    @Option(help: "Override the config's log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    func run() async throws {
        let level = try LogSetup.level(override: logLevel, configPath: config)
        LogSetup.bootstrap(level: level)
        var logger = Logger(label: "proxima")
        logger.logLevel = level
        let server: ProximaServer
        do {
            server = try ProximaServer(options: .init(configPath: config), logger: logger)
        } catch let e as ProximaServer.StartupError {
            for p in e.problems { FileHandle.standardError.write(Data((p.description + "\n").utf8)) }
            throw ExitCode(2)
        }
        Task {
            if let endpoints = try? await server.waitForDNS() {
                logger.notice("serving DNS", metadata: ["listen": "\(endpoints.map(\.description).joined(separator: " "))"])
            }
            if let port = try? await server.waitForAdmin() {
                logger.notice("admin API listening", metadata: ["port": "\(port)"])
            }
        }
        try await server.run()
    }
}

/// Logging setup shared by the commands.
enum LogSetup {
    static func level(override: String?, configPath: String) throws -> Logger.Level {
        if let override {
            guard let l = Logger.Level(rawValue: override) else {
                throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            return l
        }
        if let text = try? String(contentsOfFile: configPath, encoding: .utf8),
           case .success(let c) = ConfigLoader.load(yaml: text, file: configPath, environment: [:]) {
            return Logger.Level(rawValue: c.logLevel.rawValue) ?? .info
        }
        return .info
    }

    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}
