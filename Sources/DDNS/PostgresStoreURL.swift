import Foundation

/// A `ddns.store: postgres://...` URL, parsed once into what a connection needs.
///
/// Accepted form (libpq's URI subset): `postgres[ql]://[user[:password]@][host][:port]/database`
/// with optional query parameters `sslmode=disable|prefer|require` (default `prefer`: TLS when the
/// server offers it) and `host=/dir` (a Unix socket directory, as libpq: the socket is
/// `/dir/.s.PGSQL.<port>`). User and password may be percent-encoded.
public struct PostgresStoreURL: Sendable, Hashable, CustomStringConvertible {
    /// TLS policy for the connection.
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain TCP only.
        case disable
        /// TLS when the server supports it (certificate verified), else plain.
        case prefer
        /// TLS required, certificate verified against the system roots.
        case require
    }

    /// Where the server listens.
    public enum Endpoint: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// The URL without its password, for logs and errors.
    public var description: String {
        let target: String
        switch endpoint {
        case .tcp(let host, let port):
            target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path):
            target = "unix:\(path)"
        }
        return "postgres://\(user)@\(target)/\(database)"
    }

    /// Parses `text`; the error says which part is wrong (and never repeats a password).
    public init(_ text: String) throws(SiloStoreError) {
        func bad(_ why: String) -> SiloStoreError {
            .incompatible("ddns.store: \(why) (expected postgres://user[:password]@host[:port]/database)")
        }
        guard text.utf8.count <= 4096 else { throw bad("the URL is longer than 4096 bytes") }
        guard let components = URLComponents(string: text) else { throw bad("not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw bad("the scheme must be postgres:// or postgresql://")
        }
        let user = components.user ?? "postgres"
        guard !user.isEmpty else { throw bad("the user name is empty") }
        self.user = user
        self.password = components.password

        var path = components.path
        if path.hasPrefix("/") { path.removeFirst() }
        guard !path.isEmpty else { throw bad("the database name is missing") }
        guard !path.contains("/") else { throw bad("the database name contains '/'") }
        self.database = path

        var tls = TLSMode.prefer
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw bad("sslmode must be disable, prefer or require")
                }
                tls = mode
            case "host":
                guard let value = item.value, value.hasPrefix("/") else {
                    throw bad("the host parameter must be an absolute Unix socket directory")
                }
                socketDirectory = value
            default:
                throw bad("unknown parameter '\(item.name)' (known: sslmode, host)")
            }
        }
        self.tls = tls

        var port = 5432
        if let given = components.port {
            guard (1...65535).contains(given) else { throw bad("the port must be 1...65535") }
            port = given
        }
        if let socketDirectory {
            guard components.host?.isEmpty ?? true else { throw bad("give either a host or a host= socket directory") }
            self.endpoint = .unixSocket(path: "\(socketDirectory)/.s.PGSQL.\(port)")
        } else {
            var host = components.host ?? ""
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw bad("the host is missing") }
            self.endpoint = .tcp(host: host, port: port)
        }
    }
}
