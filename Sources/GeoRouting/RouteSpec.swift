/// How a pool's healthy members are ordered for an answer (config `policy:`).
public enum RoutePolicy: String, Hashable, Sendable, CaseIterable {
    /// Nearest by great-circle distance; members within the tie band share traffic by weight.
    case nearest
    /// Rotate through members; the shell passes a counter as entropy.
    case roundRobin = "round-robin"
    /// Uniformly random order.
    case random
    /// Random order with probability proportional to weight.
    case weighted
    /// Lowest fresh load first; unknown load after every known load; ties by distance, address.
    case leastLoad = "least-load"

    /// The config spelling (`nearest|round-robin|random|weighted|least-load`).
    public var configName: String { rawValue }

    /// Whether the answer depends on where the client is (`nearest`, `least-load`): such answers
    /// carry an ECS scope and can be mapped over the address space; the others do not.
    public var isLocationDependent: Bool { self == .nearest || self == .leastLoad }

    /// Parses the config spelling.
    public init?(configName: String) {
        self.init(rawValue: configName)
    }
}

/// What to answer when every member of the asked family is down (config `all_down:`).
public enum AllDownBehavior: Hashable, Sendable {
    /// Rank as if every member were up (DESIGN §3: the default, as gdnsd and Route 53 do).
    case failOpen
    /// Answer SERVFAIL.
    case servfail
    /// Answer from this pool instead (one level only; if it is all down too it fails open).
    case fallback(pool: String)

    /// The config spelling: `fail-open`, `servfail` or `fallback`.
    public var configName: String {
        switch self {
        case .failOpen: return "fail-open"
        case .servfail: return "servfail"
        case .fallback: return "fallback"
        }
    }

    /// Parses the config spelling; `fallback` needs `fallbackPool` (nil otherwise).
    public init?(configName: String, fallbackPool: String? = nil) {
        switch configName {
        case "fail-open": self = .failOpen
        case "servfail": self = .servfail
        case "fallback":
            guard let fallbackPool, !fallbackPool.isEmpty else { return nil }
            self = .fallback(pool: fallbackPool)
        default: return nil
        }
    }
}

/// How one routed name is answered: which pool, by which policy, how many records, TTL, tie band
/// and the all-down behaviour (config `routing.names.<name>` merged over `routing.defaults`).
public struct RouteSpec: Hashable, Sendable {
    /// The largest number of answers a route may ask for.
    public static let maxAnswers = 8

    /// Pool name in the geo data (`default` for the flat form).
    public var pool: String
    /// Ordering policy.
    public var policy: RoutePolicy
    /// Records per answer, 1...8 (values outside are clamped when deciding).
    public var answers: Int
    /// TTL of the routed records, seconds.
    public var ttl: UInt32
    /// Members within this fraction of the best distance count as equally near (0.05 = 5%).
    public var tieBand: Double
    /// What to do when every member of the family is down.
    public var allDown: AllDownBehavior

    /// Creates a route; the defaults are the config's documented defaults.
    public init(pool: String, policy: RoutePolicy = .nearest, answers: Int = 1, ttl: UInt32 = 60,
                tieBand: Double = 0.05, allDown: AllDownBehavior = .failOpen) {
        self.pool = pool
        self.policy = policy
        self.answers = answers
        self.ttl = ttl
        self.tieBand = tieBand
        self.allDown = allDown
    }

    /// `answers` clamped to 1...8.
    public var answerLimit: Int { min(RouteSpec.maxAnswers, max(1, answers)) }

    /// `tieBand` as a usable non-negative fraction (NaN or negative count as 0).
    public var effectiveTieBand: Double { tieBand.isFinite && tieBand > 0 ? tieBand : 0 }
}
