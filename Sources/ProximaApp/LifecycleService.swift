import Foundation
import Logging
import ProximaConfig
import ServiceLifecycle
import UnixSignals

/// The service-manager side of a running server: once every listener is bound (DNS before the
/// group starts, admin here) it drops root to `user` when configured, then tells systemd
/// `READY=1`; it reopens files on SIGUSR1; and it says `STOPPING=1` when shutdown begins.
struct LifecycleService: Service {
    let server: ProximaServer

    func run() async throws {
        _ = try await server.waitForAdmin()
        if let drop = server.privilegeDrop {
            var files = [String]()
            if let f = server.options.logSink?.filePath { files.append(f) }
            let ipstack = server.runtime.value.config.geoip.ipstack
            if ipstack.enabled { files.append(ipstack.usageFile) }
            try drop.apply(handingOver: files)
            server.logger.notice("running as \(drop.user) (uid \(drop.uid), gid \(drop.gid))")
        }
        server.notifier.ready(status: server.readyStatus())
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if server.options.handleSignals {
                    group.addTask { await reopenOnSIGUSR1() }
                }
                group.addTask { try? await gracefulShutdown() }
                await group.waitForAll()
            }
        }
        server.notifier.stopping()
    }

    func reopenOnSIGUSR1() async {
        let signals = await UnixSignalsSequence(trapping: .sigusr1)
        for await _ in signals {
            let failures = server.reopeners.reopenAll()
            for f in failures { server.logger.error("SIGUSR1: reopening the \(f.name) failed: \(f.failure)") }
            server.logger.notice("SIGUSR1: reopened \(server.reopeners.names.joined(separator: ", "))")
        }
    }
}

extension ProximaServer {
    /// The `STATUS=` text while serving.
    func readyStatus() -> String {
        let rt = runtime.value
        let listen = dns.boundEndpoints.map(\.description).joined(separator: " ")
        return "serving \(rt.zones.zones.count) zone(s), \(rt.routes.count) routed name(s) on \(listen)"
    }

    /// The config's `user`/`group` resolved, when the server was asked to drop privileges and
    /// runs as root; a `user` that does not exist is a startup error naming the config line.
    static func privilegeDrop(_ config: ProximaConfiguration, options: Options, logger: Logger) throws -> PrivilegeDrop? {
        guard options.dropPrivileges, config.process.user != nil else { return nil }
        guard PrivilegeDrop.isRoot else {
            logger.notice("user: not started as root, so already unprivileged; keeping the current user")
            return nil
        }
        do {
            return try PrivilegeDrop.resolve(config)
        } catch {
            throw StartupError(problems: [error])
        }
    }
}
