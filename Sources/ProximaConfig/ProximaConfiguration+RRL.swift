import DNSWire

/// Response rate limiting of UDP answers (`rrl`), as Knot's `mod-rrl` and NSD's `rrl-*`: a token
/// bucket per source network, response class and name; over the rate, replies are dropped, and
/// every `slip`-th one is sent truncated (TC=1) so a real resolver retries over TCP. TCP is never
/// limited.
public struct RRLSettings: Sendable, Hashable {
    /// Whether UDP answers are rate limited. Default true.
    public var enabled: Bool
    /// Responses per second per bucket (burst: one second's worth). Default 200, NSD's default:
    /// a resolver caches what we answer for the TTL, so even a large one sends a few questions
    /// per second per name; 200 per second for one name and class from one /24 is an attack.
    public var rate: Int
    /// Every slip-th limited reply is sent truncated; 0 drops all, 1 truncates all. Default 2.
    public var slip: Int
    /// IPv4 sources are grouped by this prefix, 8...32. Default 24.
    public var ipv4Prefix: Int
    /// IPv6 sources are grouped by this prefix, 16...128. Default 56 (a site, RFC 6177).
    public var ipv6Prefix: Int
    /// Buckets per UDP thread, 1024...16777216 (rounded up to a power of two; 32 bytes each).
    /// Default 65536 (2 MiB per thread).
    public var tableSize: Int
    /// Networks never rate limited. Default none.
    public var exempt: [IPNetwork]

    /// Creates RRL settings; the defaults are the schema's.
    public init(enabled: Bool = true, rate: Int = 200, slip: Int = 2, ipv4Prefix: Int = 24, ipv6Prefix: Int = 56,
                tableSize: Int = 65536, exempt: [IPNetwork] = []) {
        self.enabled = enabled
        self.rate = rate
        self.slip = slip
        self.ipv4Prefix = ipv4Prefix
        self.ipv6Prefix = ipv6Prefix
        self.tableSize = tableSize
        self.exempt = exempt
    }
}

/// EDNS Client Subnet policy (`ecs`).
public struct ECSSettings: Sendable, Hashable {
    /// Sources whose ECS option is used; ECS from anyone else is ignored (answered by the source
    /// address) and not echoed (RFC 7871 §7.1.1, §11.1). nil (the default) trusts every source.
    public var trustedResolvers: [IPNetwork]?

    /// Creates ECS settings; the default trusts everyone.
    public init(trustedResolvers: [IPNetwork]? = nil) {
        self.trustedResolvers = trustedResolvers
    }
}
