import DNSWire

/// Where the fallback resolver sends questions (`forward.upstreams`).
public enum ForwardUpstream: Sendable, Hashable, CustomStringConvertible {
    /// The `nameserver` lines of `forward.resolv_conf` (default `/etc/resolv.conf`), read when
    /// the server starts; our own listen addresses are skipped so we never forward to ourselves.
    case fromResolvConf
    /// One upstream resolver (port 53 unless written `a.b.c.d:port` / `"[v6]:port"`).
    case address(ListenEndpoint)

    public var description: String {
        switch self {
        case .fromResolvConf: return "from-resolv-conf"
        case .address(let e): return e.description
        }
    }
}

/// The answer cache of the fallback resolver (`forward.cache`).
public struct ForwardCacheSettings: Sendable, Hashable {
    /// Cached answers, 1...10,000,000 (least recently used evicted first). Default 100,000.
    public var maxEntries: Int
    /// Cap on how long a positive answer is cached (and on the TTLs relayed). Default 1d.
    public var maxTTL: Duration
    /// Cap on how long NXDOMAIN/NODATA is cached (RFC 2308 §5). Default 5m.
    public var negativeTTL: Duration

    public init(maxEntries: Int = 100_000, maxTTL: Duration = .seconds(86_400), negativeTTL: Duration = .seconds(300)) {
        self.maxEntries = maxEntries
        self.maxTTL = maxTTL
        self.negativeTTL = negativeTTL
    }
}

/// The opt-in fallback resolver (`forward:`, issue #10). Absent (the default): names outside our
/// zones are REFUSED and Proxima is not a resolver for anyone.
public struct ForwardSettings: Sendable, Hashable {
    /// Clients whose questions for names outside every zone are forwarded. Non-empty.
    public var allow: [IPNetwork]
    /// Upstream resolvers, tried in order. Non-empty, no duplicates.
    public var upstreams: [ForwardUpstream]
    /// The file `from-resolv-conf` reads. Default `/etc/resolv.conf`.
    public var resolvConf: String
    /// How long one upstream has to answer (UDP, and the TCP retry after TC) before the next is
    /// tried, 10ms...30s. Default 1500ms.
    public var timeout: Duration
    /// Distinct questions waiting for an upstream at once, 1...100,000; past it clients get
    /// SERVFAIL. Default 1024.
    public var maxPending: Int
    public var cache: ForwardCacheSettings

    public init(allow: [IPNetwork], upstreams: [ForwardUpstream], resolvConf: String = "/etc/resolv.conf",
                timeout: Duration = .milliseconds(1500), maxPending: Int = 1024,
                cache: ForwardCacheSettings = ForwardCacheSettings()) {
        self.allow = allow
        self.upstreams = upstreams
        self.resolvConf = resolvConf
        self.timeout = timeout
        self.maxPending = maxPending
        self.cache = cache
    }
}
