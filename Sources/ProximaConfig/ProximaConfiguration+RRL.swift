import DNSWire
import QueryEngine

/// Response rate limiting of UDP answers (`rrl`), as Knot's `mod-rrl` and NSD's `rrl-*`: a token
/// bucket per source network, response class and name; over the rate, replies are dropped, and
/// every `slip`-th one is sent truncated (TC=1) so a real resolver retries over TCP. TCP is never
/// limited.
public struct RRLSettings: Sendable, Hashable {
    /// Whether UDP answers are rate limited. Default true.
    public var enabled: Bool
    /// The limiter's settings (QueryEngine's type, so the fields exist once). Defaults: rate 200
    /// (NSD's: a resolver caches what we answer for the TTL, so even a large one sends a few
    /// questions per second per name; 200 per second for one name and class from one /24 is an
    /// attack), slip 2, IPv4 /24, IPv6 /56 (a site, RFC 6177), 65536 buckets per UDP thread
    /// (1024...16777216, rounded up to a power of two, 32 bytes each), no exempt networks.
    public var limits: RateLimitSettings

    /// What the engine is given: the limits, or nil when rate limiting is off.
    public var engineSettings: RateLimitSettings? { enabled ? limits : nil }

    /// Creates RRL settings; the defaults are the schema's.
    public init(enabled: Bool = true, rate: Int = 200, slip: Int = 2, ipv4Prefix: Int = 24, ipv6Prefix: Int = 56,
                tableSize: Int = 65536, exempt: [IPNetwork] = []) {
        self.enabled = enabled
        limits = RateLimitSettings(rate: rate, slip: slip, ipv4Prefix: ipv4Prefix, ipv6Prefix: ipv6Prefix,
                                   tableSize: tableSize, exempt: exempt)
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
