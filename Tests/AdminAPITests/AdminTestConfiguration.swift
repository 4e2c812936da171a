@testable import AdminAPI

extension AdminServerConfiguration {
    /// A loopback TCP configuration with an admin token and the given limits (long defaults, so a
    /// test only sees the limit it sets).
    static func testing(token: String?, idle: Duration = .seconds(3600), header: Duration = .seconds(3600),
                        body: Duration = .seconds(3600), maxConnections: Int = 1000, perIP: Int = 1000) -> Self {
        AdminServerConfiguration(host: "127.0.0.1", port: 0, token: token, idleTimeout: idle, headerTimeout: header,
                                 bodyTimeout: body, maxConnections: maxConnections, maxConnectionsPerIP: perIP)
    }
}
