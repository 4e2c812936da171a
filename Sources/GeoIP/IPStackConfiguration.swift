/// Settings of the ipstack fallback (`geoip.ipstack` in the config schema).
public struct IPStackConfiguration: Sendable, Hashable {
    /// Base URL without a trailing path, e.g. `http://api.ipstack.com`.
    public var baseURL: String
    /// The API access key. Never logged and never part of an error message.
    public var accessKey: String
    /// Strict limit for one HTTP lookup (connect, request and body).
    public var timeout: Duration
    /// How long a DNS query may wait for an uncached lookup (used by ``GeoLocator``).
    public var budget: Duration
    /// Most HTTP lookups in flight at once; lookups beyond it are treated as misses.
    public var maxConcurrent: Int
    /// How long a location is cached.
    public var cacheTTL: Duration
    /// How long "no location" (null coordinates, API or transport failure) is cached.
    public var negativeCacheTTL: Duration
    /// IPv4 results are cached for the client's network of this prefix length.
    public var cachePrefixV4: Int
    /// IPv6 results are cached for the client's network of this prefix length.
    public var cachePrefixV6: Int
    /// Consecutive failures that open the circuit breaker.
    public var breakerFailures: Int
    /// How long an open breaker refuses lookups before one trial request is allowed.
    public var breakerCooldown: Duration
    /// Bound on cached networks (positive and negative together).
    public var maxCacheEntries: Int
    /// Bound on a response body.
    public var maxResponseBytes: Int
    /// Most requests sent in any 60 seconds; lookups beyond it are misses (not cached).
    public var maxPerMinute: Int
    /// Most requests sent per calendar month (UTC); lookups beyond it are misses.
    public var monthlyQuota: Int
    /// Where the month's request count is kept across restarts; nil: in memory only.
    public var usageFile: String?

    /// Creates a configuration; defaults are those of the config schema.
    public init(baseURL: String = "http://api.ipstack.com", accessKey: String,
                timeout: Duration = .seconds(1), budget: Duration = .milliseconds(250),
                maxConcurrent: Int = 8, cacheTTL: Duration = .seconds(3600),
                negativeCacheTTL: Duration = .seconds(600), cachePrefixV4: Int = 24,
                cachePrefixV6: Int = 48, breakerFailures: Int = 5,
                breakerCooldown: Duration = .seconds(30), maxCacheEntries: Int = 100_000,
                maxResponseBytes: Int = 64 * 1024, maxPerMinute: Int = 60, monthlyQuota: Int = 10_000,
                usageFile: String? = nil) {
        self.baseURL = baseURL
        self.accessKey = accessKey
        self.timeout = timeout
        self.budget = budget
        self.maxConcurrent = maxConcurrent
        self.cacheTTL = cacheTTL
        self.negativeCacheTTL = negativeCacheTTL
        self.cachePrefixV4 = cachePrefixV4
        self.cachePrefixV6 = cachePrefixV6
        self.breakerFailures = breakerFailures
        self.breakerCooldown = breakerCooldown
        self.maxCacheEntries = maxCacheEntries
        self.maxResponseBytes = maxResponseBytes
        self.maxPerMinute = maxPerMinute
        self.monthlyQuota = monthlyQuota
        self.usageFile = usageFile
    }

    /// Checks the values a client cannot work without. Messages never include the key.
    public func validate() throws {
        func bad(_ message: String) -> GeoIPError { GeoIPError(.ipstackConfiguration, message) }
        guard baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://") else {
            throw bad("base_url must start with http:// or https://")
        }
        guard !accessKey.isEmpty else { throw bad("access key is empty") }
        guard accessKey.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw bad("access key contains whitespace or non-ASCII characters")
        }
        guard timeout > .zero else { throw bad("timeout must be positive") }
        guard budget >= .zero else { throw bad("budget must not be negative") }
        guard maxConcurrent >= 1 else { throw bad("max_concurrent must be at least 1") }
        guard (1...32).contains(cachePrefixV4) else { throw bad("cache_prefix_v4 must be 1...32") }
        guard (1...128).contains(cachePrefixV6) else { throw bad("cache_prefix_v6 must be 1...128") }
        guard breakerFailures >= 1 else { throw bad("breaker_failures must be at least 1") }
        guard maxCacheEntries >= 1, maxResponseBytes >= 256 else { throw bad("cache/body bounds too small") }
        guard maxPerMinute >= 1 else { throw bad("max_per_minute must be at least 1") }
        guard monthlyQuota >= 0 else { throw bad("monthly_quota must not be negative") }
    }
}
