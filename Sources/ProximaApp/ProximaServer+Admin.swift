import AdminAPI
import DNSWire
import Foundation
import Logging
import ProximaConfig

extension ProximaServer {
    /// The admin server's configuration for the config's `admin` section: token files are read
    /// here (once, at start), and a TCP listener left without an admin token is logged as a
    /// warning — it then serves only `/health` (and `/load` to the report token).
    static func adminConfiguration(_ a: AdminSettings, logger: Logger) throws -> AdminServerConfiguration {
        var problems: [LoadProblem] = []
        func fromFile(_ path: String?, key: String) -> String? {
            guard let path else { return nil }
            do {
                return try readTokenFile(path)
            } catch {
                problems.append(LoadProblem("admin.\(key): \(error)"))
                return nil
            }
        }
        let token = a.token ?? fromFile(a.tokenFile, key: "token_file")
        let reportToken = a.reportToken ?? fromFile(a.reportTokenFile, key: "report_token_file")
        let metricsToken = a.metricsToken ?? fromFile(a.metricsTokenFile, key: "metrics_token_file")
        guard problems.isEmpty else { throw StartupError(problems: problems) }
        if token == nil {
            let via = a.socket.map { "; administer locally through the socket \($0)" } ?? ""
            let also = reportToken != nil ? " and /load with the report token" : ""
            logger.warning("""
                admin: no admin token (token and token_file are unset and $\(a.tokenEnv) is empty), \
                so the TCP listener on \(a.listen) serves only /health\(also)\(via)
                """)
        }
        let sources: AdminServerConfiguration.ReportSources
        switch a.reportSources {
        case .source: sources = .source
        case .any: sources = .any
        case .networks(let networks): sources = .networks(networks)
        }
        var configuration = AdminServerConfiguration(
            host: a.listen.address.description, port: a.listen.port, token: token,
            socketPath: a.socket, reportToken: reportToken, reportSources: sources,
            allowedOrigins: Set(a.allowedOrigins),
            tls: a.tls.map { .init(certificatePath: $0.certificate, privateKeyPath: $0.privateKey) },
            idleTimeout: a.idleTimeout, headerTimeout: a.headerTimeout, bodyTimeout: a.bodyTimeout,
            maxConnections: a.maxConnections, maxConnectionsPerIP: a.maxConnectionsPerIP)
        configuration.metricsToken = metricsToken
        return configuration
    }

    /// A token file's first line, without surrounding whitespace; empty or unreadable is an error.
    public static func readTokenFile(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadProblem("cannot read \(path)")
        }
        let firstLine = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
        let token = firstLine.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw LoadProblem("\(path) is empty") }
        return token
    }
}
