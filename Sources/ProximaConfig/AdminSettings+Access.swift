import DNSWire

/// Which backends a holder of the admin report token may report load for
/// (`admin.report_sources`).
public enum AdminReportSources: Sendable, Hashable {
    /// Only the address the report arrives from (the default).
    case source
    /// Any address inside these networks.
    case networks([IPNetwork])
    /// Any configured backend.
    case any
}

/// `admin.tls`: PEM files for the admin TCP listener.
public struct AdminTLSSettings: Sendable, Hashable {
    /// Absolute path of the certificate chain (leaf first).
    public var certificate: String
    /// Absolute path of the private key.
    public var privateKey: String

    /// Creates TLS settings.
    public init(certificate: String, privateKey: String) {
        self.certificate = certificate
        self.privateKey = privateKey
    }
}

extension AdminSettings {
    /// The socket's file name when `admin.socket` is not set, resolved against the config file's
    /// directory (so `Scripts/serve` works without privileges; production configs name a path
    /// under /run).
    public static let defaultSocketName = "proxima-admin.sock"
}
