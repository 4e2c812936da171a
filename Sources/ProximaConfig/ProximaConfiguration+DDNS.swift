import DNSWire

/// Where the DDNS silos live (`ddns.store`).
public enum DDNSStoreLocation: Sendable, Hashable, CustomStringConvertible {
    /// An embedded SQLite file (`sqlite:///abs/path` or `sqlite:relative/path`, relative to the
    /// config file's directory), WAL mode. The default for one nameserver.
    case sqlite(path: String)
    /// A PostgreSQL database shared by many nameservers (`postgres://user[:password]@host[:port]/db`).
    case postgres(url: String)

    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite://\(path)"
        case .postgres(let url): return url
        }
    }
}

/// The dynamic DNS service (`ddns:`, issue #9). Absent (the default): no DDNS listener, no store.
public struct DDNSSettings: Sendable, Hashable {
    /// The zone the silos' names live under: `host` in silo `s1` is `host.s1.<zone>`. Either a
    /// zone in `zones:` (its SOA/NS come from the file) or one generated from `nameservers` and
    /// `hostmaster`.
    public var zone: DomainName
    /// NS names of a generated DDNS zone (when no zone file holds `zone`). Non-empty then.
    public var nameservers: [DomainName]
    /// RNAME of a generated DDNS zone's SOA. Default `hostmaster.<zone>`.
    public var hostmaster: DomainName?
    /// Zones (served ones) in which a record may name an absolute hostname, overriding the zone
    /// file's A/AAAA there. Default none.
    public var allowNamesIn: [DomainName]
    /// The API's HTTP listener. Default `127.0.0.1:8054`.
    public var listen: ListenEndpoint
    /// TLS for the API listener (PEM files), or nil for plain HTTP.
    public var tls: AdminTLSSettings?
    /// Where silos are stored.
    public var store: DDNSStoreLocation
    /// Bearer token for the admin calls (`GET /silos`, create, delete, token): `ddns.admin_token`,
    /// else the variable named by `admin_token_env` (default `PROXIMA_DDNS_ADMIN_TOKEN`), else the
    /// first line of `admin_token_file`, else the admin listener's token. Nil: admin calls get 401.
    public var adminToken: String?
    /// The variable consulted for the admin token (`admin_token_env`). Default
    /// `PROXIMA_DDNS_ADMIN_TOKEN`.
    public var adminTokenEnv: String = DDNSSettings.defaultAdminTokenEnv
    /// Absolute path of a file whose first line is the admin token (`admin_token_file`); read at
    /// start by the server (the config loader does no IO), used when `adminToken` is nil.
    public var adminTokenFile: String?
    /// Peers whose `X-Forwarded-For` is believed (for `GET /ip` and dyndns2's missing `myip`).
    public var trustedProxies: [IPNetwork]
    /// Records one silo may hold, 1...10,000. Default 64.
    public var maxRecordsPerSilo: Int
    /// Silos the store may hold, 1...1,000,000. Default 10,000.
    public var maxSilos: Int
    /// Writes one silo may make per minute (token bucket), 1...100,000; past it 429. Default 60.
    public var maxUpdatesPerMinute: Int
    /// TTL of records that name none, 1...86,400 s. Default 60.
    public var defaultTTL: UInt32
    /// Full resync from a shared store (safety net besides LISTEN/NOTIFY). Default 30 s.
    public var resyncInterval: Duration
    /// Concurrent API connections. Default 256.
    public var maxConnections: Int
    /// Concurrent API connections per client address. Default 32.
    public var maxConnectionsPerIP: Int
    /// A request (head and body) must arrive within this long of its first byte. Default 10 s.
    public var requestTimeout: Duration
    /// Idle keep-alive connections are closed after this long. Default 60 s.
    public var idleTimeout: Duration

    public init(zone: DomainName, nameservers: [DomainName] = [], hostmaster: DomainName? = nil,
                allowNamesIn: [DomainName] = [], listen: ListenEndpoint = ListenEndpoint.defaultDDNS,
                tls: AdminTLSSettings? = nil, store: DDNSStoreLocation, adminToken: String? = nil,
                trustedProxies: [IPNetwork] = [], maxRecordsPerSilo: Int = 64, maxSilos: Int = 10_000,
                maxUpdatesPerMinute: Int = 60, defaultTTL: UInt32 = 60, resyncInterval: Duration = .seconds(30),
                maxConnections: Int = 256, maxConnectionsPerIP: Int = 32, requestTimeout: Duration = .seconds(10),
                idleTimeout: Duration = .seconds(60)) {
        self.zone = zone
        self.nameservers = nameservers
        self.hostmaster = hostmaster
        self.allowNamesIn = allowNamesIn
        self.listen = listen
        self.tls = tls
        self.store = store
        self.adminToken = adminToken
        self.trustedProxies = trustedProxies
        self.maxRecordsPerSilo = maxRecordsPerSilo
        self.maxSilos = maxSilos
        self.maxUpdatesPerMinute = maxUpdatesPerMinute
        self.defaultTTL = defaultTTL
        self.resyncInterval = resyncInterval
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }
}

extension DDNSSettings {
    /// The default of `admin_token_env`.
    public static let defaultAdminTokenEnv = "PROXIMA_DDNS_ADMIN_TOKEN"
}

extension ListenEndpoint {
    /// The DDNS API's default listener, `127.0.0.1:8054`.
    public static let defaultDDNS = ListenEndpoint(address: .v4(0x7f00_0001), port: 8054)
}
