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
        Changed files are also picked up without a signal. SIGUSR1 reopens the log file (after logrotate). \
        SIGINT/SIGTERM shut down gracefully.

        Only one serve runs per config: it holds a lock file (`lock_file`, default the config path + \
        `.lock`, or proxima.lock in $RUNTIME_DIRECTORY under systemd). Under systemd (Type=notify) it \
        reports READY=1, RELOADING=1 and STOPPING=1 on $NOTIFY_SOCKET. Started as root with `user:` in \
        the config, it switches to that user once every socket is bound.

        Example: proxima serve --config config/proxima.yaml
        """)

    @Option(name: .shortAndLong, help: "Path of the YAML config file.")
    var config: String = "config/proxima.yaml"

    @Option(help: "Override the config's log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let parsed = LogSetup.config(configPath: config)
        let level = try LogSetup.level(override: logLevel, config: parsed)
        // One serve per config: taken before anything binds, held until the process exits.
        let lockPath = parsed?.process.lockFile
            ?? InstanceLock.defaultPath(configPath: config, environment: environment)
        let instanceLock: InstanceLock
        do {
            instanceLock = try InstanceLock(path: lockPath, configPath: config)
        } catch {
            FileHandle.standardError.write(Data("proxima serve: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let sink: LogSink?
        do {
            sink = try LogSetup.bootstrap(level: level, settings: parsed?.log ?? LogSettings())
        } catch {
            FileHandle.standardError.write(Data("proxima serve: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var logger = Logger(label: "proxima")
        logger.logLevel = level
        let server: ProximaServer
        do {
            server = try ProximaServer(options: .init(configPath: config, environment: environment,
                                                      dropPrivileges: true, logSink: sink),
                                       logger: logger)
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
        withExtendedLifetime(instanceLock) {}
    }
}

/// Logging setup shared by the commands.
enum LogSetup {
    /// The config when it loads (its problems are reported by the command's own load).
    static func config(configPath: String) -> ProximaConfiguration? {
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8),
              case .success(let c) = ConfigLoader.load(yaml: text, file: configPath,
                                                       environment: ProcessInfo.processInfo.environment)
        else { return nil }
        return c
    }

    static func level(override: String?, config: ProximaConfiguration?) throws -> Logger.Level {
        if let override {
            guard let l = Logger.Level(rawValue: override) else {
                throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            return l
        }
        if let c = config { return Logger.Level(rawValue: c.logLevel.rawValue) ?? .info }
        return .info
    }

    /// stderr as text: swift-log's stream handler.
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }

    /// The config's `log` target and format; returns the sink for SIGUSR1 reopening (nil when
    /// stderr text, which has nothing to reopen).
    static func bootstrap(level: Logger.Level, settings: LogSettings) throws(LoadProblem) -> LogSink? {
        if settings.target == .stderr && settings.format == .text {
            bootstrap(level: level)
            return nil
        }
        let sink = try LogSink(settings: settings)
        LoggingSystem.bootstrap { label in SinkLogHandler(label: label, sink: sink, level: level) }
        return sink
    }
}
