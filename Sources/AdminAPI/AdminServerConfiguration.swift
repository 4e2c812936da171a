import DNSWire

/// Where the admin API listens, who may call it and what a connection may cost.
///
/// Two listeners (docs/admin-api.md, "Access"):
/// - a Unix-domain socket (`socketPath`, mode 0600): access to the file is the credential, as
///   with knotc and unbound-control; every call is allowed there;
/// - a TCP listener (`host`:`port`, optionally TLS): every call but `GET /health` needs a bearer
///   token, the admin token for everything, the report token for `POST /load` only.
public struct AdminServerConfiguration: Hashable, Sendable {
    /// TCP listen address (an IP literal or `localhost`); loopback by default.
    public var host: String
    /// TCP listen port; 0 picks an ephemeral port (see `AdminServer.waitUntilListening()`).
    public var port: Int
    /// The admin token (every call on the TCP listener); nil or empty means none, and then the
    /// TCP listener accepts no call that needs it.
    public var token: String?
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes: Int
    /// Path of the Unix-domain admin socket, or nil for none.
    public var socketPath: String?
    /// The report token: `POST /load` only, for the addresses `reportSources` allows; nil or
    /// empty means none.
    public var reportToken: String?
    /// Which backends a report-token holder may report load for.
    public var reportSources: ReportSources
    /// `Origin` header values that are accepted (exact, e.g. `https://ops.example`); a request
    /// carrying any other `Origin` is refused with 403, so a web page cannot drive the API.
    public var allowedOrigins: Set<String>
    /// TLS for the TCP listener, or nil for plain HTTP.
    public var tls: TLSFiles?
    /// An open connection with no request in progress is closed after this long.
    public var idleTimeout: Duration
    /// A request head (request line and headers) must be complete this long after its first byte.
    public var headerTimeout: Duration
    /// A request body must be complete this long after its head.
    public var bodyTimeout: Duration
    /// Concurrent connections over both listeners. When reached, a new connection closes the
    /// oldest idle one, or is refused when none is idle. A composition root that budgets file
    /// descriptors process-wide may lower this plain field.
    public var maxConnections: Int
    /// Concurrent TCP connections from one address; more are refused.
    public var maxConnectionsPerIP: Int

    /// PEM files of the TCP listener's certificate chain and private key.
    public struct TLSFiles: Hashable, Sendable {
        /// Certificate chain, leaf first (PEM).
        public var certificatePath: String
        /// Private key (PEM).
        public var privateKeyPath: String

        /// Creates TLS file settings.
        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// Which backends a report-token holder may report for.
    public enum ReportSources: Hashable, Sendable {
        /// Only the address the report comes from (the default: a leaked report token lets its
        /// holder misreport one backend, its own).
        case source
        /// Addresses inside these networks.
        case networks([IPNetwork])
        /// Any configured backend.
        case any
    }

    /// Creates a configuration (defaults: TCP on `127.0.0.1:8053`, no socket, no tokens, 1 MiB
    /// bodies, idle 60 s, header 10 s, body 10 s, 256 connections, 32 per address).
    public init(host: String = "127.0.0.1", port: Int = 8053, token: String? = nil, maxBodyBytes: Int = 1 << 20,
                socketPath: String? = nil, reportToken: String? = nil, reportSources: ReportSources = .source,
                allowedOrigins: Set<String> = [], tls: TLSFiles? = nil,
                idleTimeout: Duration = .seconds(60), headerTimeout: Duration = .seconds(10),
                bodyTimeout: Duration = .seconds(10), maxConnections: Int = 256, maxConnectionsPerIP: Int = 32) {
        self.host = host
        self.port = port
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.socketPath = socketPath
        self.reportToken = reportToken
        self.reportSources = reportSources
        self.allowedOrigins = allowedOrigins
        self.tls = tls
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
    }

    /// True when `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`.
    public var isLoopback: Bool {
        if host.lowercased() == "localhost" { return true }
        let trimmed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard let address = IPAddress(trimmed) else { return false }
        switch address {
        case .v4(let bits): return bits >> 24 == 127
        case .v6: return address == IPAddress("::1")
        }
    }

    /// The admin token, when one is configured.
    var effectiveToken: String? {
        guard let token, !token.isEmpty else { return nil }
        return token
    }

    /// The report token, when one is configured.
    /// The metrics token: `GET /metrics` only (admin.metrics_token); nil or empty means none.
    public var metricsToken: String?

    /// The metrics token, when one is configured.
    var effectiveMetricsToken: String? {
        guard let metricsToken, !metricsToken.isEmpty else { return nil }
        return metricsToken
    }

    var effectiveReportToken: String? {
        guard let reportToken, !reportToken.isEmpty else { return nil }
        return reportToken
    }
}
