import QueryEngine
import DNSWire
import GeoRouting

/// The validated server configuration: every key of the YAML schema (`config/README.md`) as a typed
/// value with its default applied.
///
/// Built only by `ConfigLoader.load`, which checks every invariant documented on the members, so
/// code past the loader never re-validates. Relative paths in the file are already resolved
/// against the config file's directory.
public struct ProximaConfiguration: Sendable, Hashable {
    /// Addresses the DNS server listens on; UDP and TCP are served on each. Non-empty, no
    /// duplicates. Default `[127.0.0.1:5353]`.
    public var listen: [ListenEndpoint]
    /// UDP fast-path worker threads per listen address; 0 means one per core. Default 0.
    public var udpThreads: Int
    /// The EDNS UDP payload size advertised and the cap on UDP responses, 512...65535. Default 1232.
    public var maxUDPPayload: Int
    /// Minimum severity that is logged. Default `.info`.
    public var logLevel: LogLevel
    /// DNS-over-TCP settings (RFC 7766).
    public var tcp: TCPSettings
    /// The authoritative zones, at least one, origins unique.
    public var zones: [ZoneSettings]
    /// Client geolocation: database, overrides and the ipstack fallback.
    public var geoip: GeoIPSettings
    /// Absolute path of `geo_data.json` (backends and pools); required when any name is routed.
    public var geoDataPath: String?
    /// Routed names and their policies.
    public var routing: RoutingSettings
    /// Health-check defaults and load-report freshness.
    public var health: HealthSettings
    /// The HTTP admin API, or nil when the `admin` section is absent (no admin listener).
    public var admin: AdminSettings?
    /// Where each value was written, for reporting problems found after loading.
    public var source: ConfigSourceMap
    /// Memory of the per-thread answer caches.
    public var fastPath: FastPathSettings
    /// How the UDP fast path moves datagrams (`udp:`).
    public var udp: UDPSettings = UDPSettings()
    /// Response rate limiting of UDP answers.
    public var rrl: RRLSettings = RRLSettings()
    /// EDNS Client Subnet policy.
    public var ecs: ECSSettings = ECSSettings()
    /// Synthesized records (`synthesize:`), in config order.
    public var synthesize: [SynthesisRule] = []
    /// The opt-in fallback resolver; nil (the default) when the `forward` section is absent.
    public var forward: ForwardSettings?
    /// The dynamic DNS service (`ddns:`); nil when off (the default).
    public var ddns: DDNSSettings?
    /// Log target and format (`log:`).
    public var log: LogSettings = LogSettings()
    /// Lock file and the account to run as (`lock_file`, `user`, `group`).
    public var process: ProcessSettings = ProcessSettings()
    /// NSID and CHAOS identity (`identity:`); nil: no NSID, CHAOS REFUSED.
    public var identity: ServerIdentity?
    /// `metrics:` (on by default).
    public var metrics: MetricsSettings = MetricsSettings()
    /// `query_log:`; nil (the default) when absent.
    public var queryLog: QueryLogSettings?

    /// Creates a configuration; `ConfigLoader` is the normal way to get one (it validates).
    public init(listen: [ListenEndpoint] = [ListenEndpoint.defaultDNS],
                udpThreads: Int = 0,
                maxUDPPayload: Int = 1232,
                logLevel: LogLevel = .info,
                tcp: TCPSettings = TCPSettings(),
                zones: [ZoneSettings],
                geoip: GeoIPSettings = GeoIPSettings(),
                geoDataPath: String? = nil,
                routing: RoutingSettings = RoutingSettings(),
                health: HealthSettings = HealthSettings(),
                admin: AdminSettings? = nil,
                source: ConfigSourceMap = ConfigSourceMap(file: ""),
                fastPath: FastPathSettings = FastPathSettings()) {
        self.listen = listen
        self.udpThreads = udpThreads
        self.maxUDPPayload = maxUDPPayload
        self.logLevel = logLevel
        self.tcp = tcp
        self.zones = zones
        self.geoip = geoip
        self.geoDataPath = geoDataPath
        self.routing = routing
        self.health = health
        self.admin = admin
        self.source = source
        self.fastPath = fastPath
    }
}

/// Log severities, in increasing order, spelled as swift-log's `Logger.Level` raw values so the
/// lead can map with `Logger.Level(rawValue: level.rawValue)`.
public enum LogLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Everything, including per-query detail.
    case trace
    /// Diagnostic detail for developers.
    case debug
    /// Normal operational messages (the default).
    case info
    /// Normal but significant events (reloads, health transitions).
    case notice
    /// Something is wrong but service continues.
    case warning
    /// An operation failed.
    case error
    /// Service is impaired.
    case critical

    /// Orders by severity (trace lowest).
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool {
        let order = LogLevel.allCases
        return (order.firstIndex(of: lhs) ?? 0) < (order.firstIndex(of: rhs) ?? 0)
    }
}

/// DNS-over-TCP limits (RFC 7766 §6.2.3 idle timeout; caps on connections, per-query time and
/// pipelined answers, issue #8).
public struct TCPSettings: Sendable, Hashable {
    /// How long an idle connection is kept open. Default 10 s.
    public var idleTimeout: Duration
    /// Concurrent TCP connections per listener; when full, the longest-idle one is closed to admit
    /// a new one. Lowered at start when file descriptors do not allow it. Default 1024.
    public var maxConnections: Int
    /// A query must be complete this long after its first byte, or the connection is closed.
    /// Default 5 s.
    public var queryTimeout: Duration
    /// Concurrent TCP connections per listener from one client address (IPv6: one /64). Default 16.
    public var maxConnectionsPerIP: Int
    /// Answers pending per connection before it is no longer read. Default 64.
    public var maxPipelined: Int

    /// Creates TCP settings; the defaults are the schema's.
    public init(idleTimeout: Duration = .seconds(10), maxConnections: Int = 1024,
                queryTimeout: Duration = .seconds(5), maxConnectionsPerIP: Int = 16, maxPipelined: Int = 64) {
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.queryTimeout = queryTimeout
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.maxPipelined = maxPipelined
    }
}

/// The `fast_path` section: memory of the per-thread answer caches (issue #8.7).
public struct FastPathSettings: Sendable, Hashable {
    /// Total bytes for the per-thread client-network tables, divided among all UDP threads and
    /// TCP event loops; 0 turns the tables off. Default 64 MiB.
    public var memory: Int

    /// Creates fast-path settings; the defaults are the schema's.
    public init(memory: Int = 64 << 20) {
        self.memory = memory
    }
}

/// How the UDP worker threads move datagrams (issue #12).
public enum UDPIO: String, Sendable, Hashable, CaseIterable {
    /// io_uring where the kernel allows it, else `recvmmsg`/`sendmmsg` (the fallback is logged).
    case auto
    /// io_uring only: the server does not start without it.
    case uring
    /// `recvmmsg`/`sendmmsg` only.
    case mmsg
}

/// The `udp` section.
public struct UDPSettings: Sendable, Hashable {
    /// The default of `io` (docs/benchmarks.md has the measurements that chose it).
    public static let defaultIO = UDPIO.mmsg
    /// The default of `batch`.
    public static let defaultBatch = 64
    /// The range `batch` accepts.
    public static let batchRange = 1...256
    /// Which IO the UDP threads use. Default `defaultIO`.
    public var io: UDPIO
    /// Datagrams a UDP thread takes per receive call and answers before it sends their replies
    /// together. Default `defaultBatch`.
    public var batch: Int
    /// Whether a batch's replies to one client address go out as one segmented send (UDP GSO).
    /// Default true.
    public var gso: Bool

    /// Creates UDP settings; the defaults are the schema's.
    public init(io: UDPIO = UDPSettings.defaultIO, batch: Int = UDPSettings.defaultBatch, gso: Bool = true) {
        self.io = io
        self.batch = batch
        self.gso = gso
    }
}

/// One authoritative zone: its origin and the RFC 1035 master file it is loaded from.
public struct ZoneSettings: Sendable, Hashable {
    /// The origin as a lowercased absolute name ending in "." (e.g. `example.test.`); must match
    /// the zone's SOA owner (checked by whoever loads the file).
    public var origin: String
    /// Absolute path of the master file (existence is checked by the caller).
    public var file: String

    /// Creates zone settings from an already-validated origin and path.
    public init(origin: String, file: String) {
        self.origin = origin
        self.file = file
    }
}

/// Client geolocation sources, asked in order: overrides → database → ipstack.
public struct GeoIPSettings: Sendable, Hashable {
    /// Absolute path of a MaxMind-format `.mmdb` database, or nil for none.
    public var databasePath: String?
    /// Reload the database when the file changes. Default true.
    public var watch: Bool
    /// CIDR → place overrides, longest prefix wins; networks unique.
    public var overrides: [LocationOverride]
    /// The ipstack HTTP fallback (disabled when the section is absent).
    public var ipstack: IPStackSettings

    /// Creates geolocation settings; the defaults are the schema's.
    public init(databasePath: String? = nil, watch: Bool = true, overrides: [LocationOverride] = [],
                ipstack: IPStackSettings = IPStackSettings()) {
        self.databasePath = databasePath
        self.watch = watch
        self.overrides = overrides
        self.ipstack = ipstack
    }
}

/// Settings of the ipstack geolocation fallback (`geoip.ipstack`).
public struct IPStackSettings: Sendable, Hashable {
    /// Whether uncached lookups go to ipstack. False when the section is absent; true by default
    /// when the section is present.
    public var enabled: Bool
    /// `http://` or `https://` base URL without a trailing slash. Default `http://api.ipstack.com`.
    public var baseURL: String
    /// The access key: the `access_key` value when non-empty, else the value of the environment
    /// variable named by `accessKeyEnv` when non-empty, else nil. Never log it.
    public var accessKey: String?
    /// Name of the environment variable consulted for the key. Default `IPSTACK_ACCESS_KEY`.
    public var accessKeyEnv: String
    /// Per-HTTP-lookup timeout. Default 1 s.
    public var timeout: Duration
    /// How long a DNS query may wait for an uncached lookup. Default 250 ms.
    public var budget: Duration
    /// Concurrent lookups in flight; beyond this, lookups are treated as misses. Default 8.
    public var maxConcurrent: Int
    /// Lifetime of positive results. Default 1 h.
    public var cacheTTL: Duration
    /// Lifetime of failures and no-location answers. Default 10 min.
    public var negativeCacheTTL: Duration
    /// Results are cached per IPv4 network of this prefix length, 1...32. Default 24.
    public var cachePrefixV4: Int
    /// Results are cached per IPv6 network of this prefix length, 1...128. Default 48.
    public var cachePrefixV6: Int
    /// Consecutive failures that open the circuit breaker. Default 5.
    public var breakerFailures: Int
    /// How long the open breaker blocks lookups. Default 30 s.
    public var breakerCooldown: Duration
    /// Most ipstack requests in any 60 seconds, 1...100000. Default 60.
    public var maxPerMinute: Int
    /// Most ipstack requests per calendar month (UTC), 0...1e9; 0 sends none. Default 10000.
    public var monthlyQuota: Int
    /// File keeping the month's request count across restarts (written atomically). Default
    /// `/var/lib/proxima/ipstack-usage.json`.
    public var usageFile: String
    /// Queries waiting for an ipstack lookup at once, 1...65536; beyond it a query is answered at
    /// once without ipstack. Default 256.
    public var maxPending: Int

    /// Creates ipstack settings; the defaults are the schema's (disabled).
    public init(enabled: Bool = false, baseURL: String = "http://api.ipstack.com", accessKey: String? = nil,
                accessKeyEnv: String = "IPSTACK_ACCESS_KEY", timeout: Duration = .seconds(1),
                budget: Duration = .milliseconds(250), maxConcurrent: Int = 8,
                cacheTTL: Duration = .seconds(3600), negativeCacheTTL: Duration = .seconds(600),
                cachePrefixV4: Int = 24, cachePrefixV6: Int = 48, breakerFailures: Int = 5,
                breakerCooldown: Duration = .seconds(30), maxPerMinute: Int = 60, monthlyQuota: Int = 10_000,
                usageFile: String = IPStackSettings.defaultUsageFile, maxPending: Int = 256) {
        self.enabled = enabled
        self.baseURL = baseURL
        self.accessKey = accessKey
        self.accessKeyEnv = accessKeyEnv
        self.timeout = timeout
        self.budget = budget
        self.maxConcurrent = maxConcurrent
        self.cacheTTL = cacheTTL
        self.negativeCacheTTL = negativeCacheTTL
        self.cachePrefixV4 = cachePrefixV4
        self.cachePrefixV6 = cachePrefixV6
        self.breakerFailures = breakerFailures
        self.breakerCooldown = breakerCooldown
        self.maxPerMinute = maxPerMinute
        self.monthlyQuota = monthlyQuota
        self.usageFile = usageFile
        self.maxPending = maxPending
    }

    /// Where the ipstack request count is kept unless `usage_file` says otherwise (beside the
    /// GeoIP database that `Scripts/refresh-geoip-db` installs).
    public static let defaultUsageFile = "/var/lib/proxima/ipstack-usage.json"
}

/// The route settings of one routed name (defaults merged with its overrides).
public struct RouteSettings: Sendable, Hashable {
    /// Pool name in `geo_data.json` (`default` for the flat form). Default `default`.
    public var pool: String
    /// Selection policy. Default `.nearest`.
    public var policy: RoutePolicy
    /// Number of A/AAAA records answered, 1...8. Default 1.
    public var answers: Int
    /// TTL of the routed answers, 0...2147483647 (RFC 2181 §8). Default 60.
    public var ttl: UInt32
    /// Members within this fraction of the best distance count as equally near, 0...1. Default 0.05.
    public var tieBand: Double
    /// Behaviour when every member is down. Default `.failOpen`.
    public var allDown: AllDownBehavior

    /// The fallback pool when `allDown` is `.fallback`, else nil.
    public var fallbackPool: String? {
        if case .fallback(let pool) = allDown { return pool }
        return nil
    }

    /// Creates route settings; the defaults are the schema's.
    public init(pool: String = "default", policy: RoutePolicy = .nearest, answers: Int = 1,
                ttl: UInt32 = 60, tieBand: Double = 0.05, allDown: AllDownBehavior = .failOpen) {
        self.pool = pool
        self.policy = policy
        self.answers = answers
        self.ttl = ttl
        self.tieBand = tieBand
        self.allDown = allDown
    }
}

/// One routed name: the owner name, the zone it lives in and its route.
public struct RoutedName: Sendable, Hashable {
    /// Lowercased absolute owner name ending in "." (e.g. `www.example.test.`).
    public var name: String
    /// Origin of the configured zone that contains it (longest suffix match).
    public var zoneOrigin: String
    /// Key path of its entry as written, e.g. `routing.names."WWW.example.test."`, for
    /// `ConfigSourceMap.issue(at:)` (append `.pool` for its pool).
    public var keyPath: String
    /// How its A/AAAA answers are chosen.
    public var route: RouteSettings

    /// Creates a routed name entry.
    public init(name: String, zoneOrigin: String, route: RouteSettings, keyPath: String = "") {
        self.name = name
        self.zoneOrigin = zoneOrigin
        self.keyPath = keyPath
        self.route = route
    }
}

/// The `routing` section.
public struct RoutingSettings: Sendable, Hashable {
    /// `routing.defaults` applied to every name (pool is `default` unless a name sets it).
    public var defaults: RouteSettings
    /// Routed names, keyed by the lowercased absolute owner name.
    public var names: [String: RoutedName]

    /// Creates routing settings.
    public init(defaults: RouteSettings = RouteSettings(), names: [String: RoutedName] = [:]) {
        self.defaults = defaults
        self.names = names
    }
}

/// The `health` section: defaults for members' `health_check` objects and load freshness.
public struct HealthSettings: Sendable, Hashable {
    /// Time between probes. Default 10 s.
    public var interval: Duration
    /// Time a probe may take before it fails; never more than `interval`. Default 2 s.
    public var timeout: Duration
    /// Consecutive successes to come back up, ≥ 1. Default 2.
    public var rise: Int
    /// Consecutive failures to go down, ≥ 1. Default 3.
    public var fall: Int
    /// Load reports older than this count as unknown. Default 30 s.
    public var loadMaxAge: Duration

    /// Creates health settings; the defaults are the schema's (and `HealthCheckSpec`'s).
    public init(interval: Duration = .seconds(10), timeout: Duration = .seconds(2), rise: Int = 2,
                fall: Int = 3, loadMaxAge: Duration = .seconds(30)) {
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.loadMaxAge = loadMaxAge
    }
}

/// The `admin` section: the admin API's Unix socket and TCP listener, tokens and connection limits.
public struct AdminSettings: Sendable, Hashable {
    /// Where the admin API listens. Default `127.0.0.1:8053`.
    public var listen: ListenEndpoint
    /// Bearer token for mutating calls: the `token` value when non-empty, else the value of the
    /// environment variable named by `tokenEnv` when non-empty, else nil. Never log it.
    public var token: String?
    /// Name of the environment variable consulted for the token. Default `PROXIMA_ADMIN_TOKEN`.
    public var tokenEnv: String
    /// Absolute path of the Unix-domain admin socket, or nil for none (`socket: ""`). Default
    /// `proxima-admin.sock` next to the config file.
    public var socket: String?
    /// Absolute path of a file holding the admin token (first line; read at start, so the token
    /// never shows in `ps` or the environment). Used when `token` and `token_env` give none.
    public var tokenFile: String?
    /// The report token (`POST /load` only), from `report_token` or `report_token_env`.
    public var reportToken: String?
    /// Environment variable consulted for the report token. Default `PROXIMA_REPORT_TOKEN`.
    public var reportTokenEnv: String
    /// Absolute path of a file holding the report token.
    public var reportTokenFile: String?
    /// Which backends the report token may report for. Default `.source`.
    public var reportSources: AdminReportSources
    /// The metrics token (`GET /metrics` only), from `metrics_token` or `metrics_token_env`.
    public var metricsToken: String?
    /// Environment variable consulted for the metrics token. Default `PROXIMA_METRICS_TOKEN`.
    public var metricsTokenEnv: String = "PROXIMA_METRICS_TOKEN"
    /// Absolute path of a file holding the metrics token.
    public var metricsTokenFile: String?
    /// Origins (`https://host[:port]`) whose requests are accepted; every other request carrying
    /// an `Origin` header is refused. Default none.
    public var allowedOrigins: [String]
    /// TLS for the TCP listener, or nil for plain HTTP.
    public var tls: AdminTLSSettings?
    /// Idle connections are closed after this long. Default 60 s.
    public var idleTimeout: Duration
    /// A request head must arrive within this long of its first byte. Default 10 s.
    public var headerTimeout: Duration
    /// A request body must arrive within this long of its head. Default 10 s.
    public var bodyTimeout: Duration
    /// Concurrent admin connections (both listeners). Default 256.
    public var maxConnections: Int
    /// Concurrent TCP connections per client address. Default 32.
    public var maxConnectionsPerIP: Int

    /// Creates admin settings; the defaults are the schema's.
    public init(listen: ListenEndpoint = ListenEndpoint.defaultAdmin, token: String? = nil,
                tokenEnv: String = "PROXIMA_ADMIN_TOKEN", socket: String? = nil, tokenFile: String? = nil,
                reportToken: String? = nil, reportTokenEnv: String = "PROXIMA_REPORT_TOKEN",
                reportTokenFile: String? = nil, reportSources: AdminReportSources = .source,
                allowedOrigins: [String] = [], tls: AdminTLSSettings? = nil,
                idleTimeout: Duration = .seconds(60), headerTimeout: Duration = .seconds(10),
                bodyTimeout: Duration = .seconds(10), maxConnections: Int = 256, maxConnectionsPerIP: Int = 32) {
        self.listen = listen
        self.token = token
        self.tokenEnv = tokenEnv
        self.socket = socket
        self.tokenFile = tokenFile
        self.reportToken = reportToken
        self.reportTokenEnv = reportTokenEnv
        self.reportTokenFile = reportTokenFile
        self.reportSources = reportSources
        self.allowedOrigins = allowedOrigins
        self.tls = tls
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
    }
}
