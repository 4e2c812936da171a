import DNSWire

/// Decoding of the `admin` section (config/README.md, "admin").
extension DecodeContext {
    static let adminKeys = ["listen", "token", "token_env", "socket", "token_file", "report_token",
                            "report_token_env", "report_token_file", "report_sources", "allowed_origins", "tls",
                            "idle_timeout", "header_timeout", "body_timeout", "max_connections",
                            "max_connections_per_ip", "metrics_token", "metrics_token_env", "metrics_token_file"]

    func decodeAdminSection(_ v: YAMLValue) -> AdminSettings {
        let d = AdminSettings(socket: ConfigText.resolve(AdminSettings.defaultSocketName, against: baseDirectory))
        guard let map = MappingReader(v, allowed: Self.adminKeys, sink: sink) else { return d }
        defer { map.finish() }
        var s = d
        s.listen = map.optional("listen").flatMap { endpoint($0) } ?? d.listen
        s.tokenEnv = map.optional("token_env").flatMap { environmentName($0) } ?? d.tokenEnv
        s.token = secret(inline: map.string("token"), environmentName: s.tokenEnv)
        s.tokenFile = map.optional("token_file").flatMap { path($0) }
        s.reportTokenEnv = map.optional("report_token_env").flatMap { environmentName($0) } ?? d.reportTokenEnv
        s.reportToken = secret(inline: map.string("report_token"), environmentName: s.reportTokenEnv)
        s.reportTokenFile = map.optional("report_token_file").flatMap { path($0) }
        s.metricsTokenEnv = map.optional("metrics_token_env").flatMap { environmentName($0) } ?? d.metricsTokenEnv
        s.metricsToken = secret(inline: map.string("metrics_token"), environmentName: s.metricsTokenEnv)
        s.metricsTokenFile = map.optional("metrics_token_file").flatMap { path($0) }
        if let socket = map.optional("socket") {
            // An empty string turns the socket off; anything else is a path.
            if ValueDecoder.string(socket, sink: sink) == "" {
                s.socket = nil
            } else {
                s.socket = path(socket)
                if let p = s.socket, p.utf8.count >= 100 {
                    sink.add(.invalidValue, at: socket, "'\(p)' is too long for a Unix socket path (at most 99 bytes)")
                }
            }
        }
        if let sources = map.optional("report_sources") { s.reportSources = reportSources(sources) ?? d.reportSources }
        if let origins = map.sequence("allowed_origins") {
            s.allowedOrigins = origins.compactMap { origin($0) }
        }
        if let tls = map.optional("tls") { s.tls = decodeAdminTLS(tls) }
        s.idleTimeout = map.duration("idle_timeout", in: .milliseconds(10) ... .seconds(86_400)) ?? d.idleTimeout
        s.headerTimeout = map.duration("header_timeout", in: .milliseconds(10) ... .seconds(3600)) ?? d.headerTimeout
        s.bodyTimeout = map.duration("body_timeout", in: .milliseconds(10) ... .seconds(3600)) ?? d.bodyTimeout
        s.maxConnections = map.int("max_connections", in: 1...1_000_000) ?? d.maxConnections
        s.maxConnectionsPerIP = map.int("max_connections_per_ip", in: 1...1_000_000) ?? d.maxConnectionsPerIP
        if let token = s.token, token == s.reportToken {
            sink.add(.conflict, at: map.optional("report_token") ?? v,
                     "report_token equals the admin token; the roles only separate with different tokens")
        }
        if let metrics = s.metricsToken, metrics == s.token || metrics == s.reportToken {
            sink.add(.conflict, at: map.optional("metrics_token") ?? v,
                     "metrics_token equals the admin or report token; the roles only separate with different tokens")
        }
        return s
    }

    /// `source`, `any`, or a list of CIDR networks.
    private func reportSources(_ v: YAMLValue) -> AdminReportSources? {
        if v.kind == .sequence {
            guard let items = ValueDecoder.sequence(v, sink: sink) else { return nil }
            return .networks(items.compactMap { network($0) })
        }
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        switch text {
        case "source": return .source
        case "any": return .any
        default:
            sink.add(.invalidValue, at: v, "expected 'source', 'any' or a list of CIDR networks, found '\(text)'")
            return nil
        }
    }

    /// A web origin as browsers send it: `scheme://host[:port]`, no path.
    private func origin(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (text.hasPrefix("http://") || text.hasPrefix("https://")), parts.count == 3, !parts[2].isEmpty else {
            sink.add(.invalidValue, at: v, "'\(text)' is not an origin like https://ops.example or http://127.0.0.1:3000")
            return nil
        }
        return text
    }

    func decodeAdminTLS(_ v: YAMLValue) -> AdminTLSSettings? {
        guard let map = MappingReader(v, allowed: ["cert", "key"], sink: sink) else { return nil }
        defer { map.finish() }
        let cert = map.required("cert", what: "the PEM certificate chain file").flatMap { path($0) }
        let key = map.required("key", what: "the PEM private key file").flatMap { path($0) }
        guard let cert, let key else { return nil }
        return AdminTLSSettings(certificate: cert, privateKey: key)
    }
}
