import DNSWire

/// What routing decided for one query.
public enum RouteOutcome: Hashable, Sendable {
    /// Answer with these addresses, best first (1...`RouteSpec.answers` of them).
    case answer([IPAddress])
    /// Every member is down and the route is configured to answer SERVFAIL.
    case servfail
    /// The pool has no member of the asked family (e.g. AAAA asked, only IPv4 members): the caller
    /// falls back to the zone file (NODATA or the zone's own record).
    case noMembers
    /// The route names a pool the geo data does not have (config and geo data out of step).
    case unknownPool
}

/// The result of `Router.decide`: the outcome plus how it was reached.
public struct RouteDecision: Hashable, Sendable {
    /// The answer, or why there is none.
    public var outcome: RouteOutcome
    /// The pool whose members answered (the fallback pool when `usedFallback`); nil unless the
    /// outcome is `.answer`.
    public var answeringPool: String?
    /// True when the route's pool was all down and its fallback pool answered.
    public var usedFallback: Bool
    /// True when the answer ranks members as if all were up because all were down.
    public var failedOpen: Bool
    /// The client location used; nil when unknown (the caller may prefer a zone-file record).
    public var client: Coordinate?
    /// Full per-member explanation; nil when `decide` was called with `explain: false`.
    public var explanation: RouteExplanation?

    /// Creates a decision (normally made by `Router.decide`).
    public init(outcome: RouteOutcome, answeringPool: String?, usedFallback: Bool, failedOpen: Bool,
                client: Coordinate?, explanation: RouteExplanation?) {
        self.outcome = outcome
        self.answeringPool = answeringPool
        self.usedFallback = usedFallback
        self.failedOpen = failedOpen
        self.client = client
        self.explanation = explanation
    }

    /// The answered addresses (empty unless the outcome is `.answer`).
    public var answers: [IPAddress] {
        if case .answer(let a) = outcome { return a }
        return []
    }

    /// True when the client location was known.
    public var clientLocated: Bool { client != nil }
}

/// Why `Router.decide` answered what it did: every member of every pool it consulted.
public struct RouteExplanation: Hashable, Sendable {
    /// The route's policy.
    public var policy: RoutePolicy
    /// The family asked.
    public var family: AddressFamily
    /// The tie band used (fraction).
    public var tieBand: Double
    /// The pools consulted, in order: the route's pool, then the fallback pool when it was used.
    public var pools: [PoolRanking]

    /// Creates an explanation.
    public init(policy: RoutePolicy, family: AddressFamily, tieBand: Double, pools: [PoolRanking]) {
        self.policy = policy
        self.family = family
        self.tieBand = tieBand
        self.pools = pools
    }
}

/// One pool's ranking for the asked family.
public struct PoolRanking: Hashable, Sendable {
    /// Pool name.
    public var pool: String
    /// True when no member of the family was healthy.
    public var allDown: Bool
    /// True when this ranking treated every member as up (fail open).
    public var failedOpen: Bool
    /// Members of the family: ranked ones in rank order, then unranked (down) ones in file order.
    public var members: [MemberRanking]
    /// Every answer this ranking can give per query, with probabilities (nil when nothing is ranked).
    /// `members` holds one draw of it (entropy of the call).
    public var distribution: AnswerDistribution?

    /// Creates a pool ranking.
    public init(pool: String, allDown: Bool, failedOpen: Bool, members: [MemberRanking],
                distribution: AnswerDistribution? = nil) {
        self.pool = pool
        self.allDown = allDown
        self.failedOpen = failedOpen
        self.members = members
        self.distribution = distribution
    }
}

/// One member's inputs and result in a ranking.
public struct MemberRanking: Hashable, Sendable {
    /// The member's address.
    public var address: IPAddress
    /// The member's name, if any.
    public var name: String?
    /// The member's coordinate.
    public var coordinate: Coordinate
    /// Great-circle distance to the client in km; nil when the client location is unknown.
    public var distanceKm: Double?
    /// Health from probes.
    public var probeHealthy: Bool
    /// Admin override, if any.
    public var forced: ForcedHealth?
    /// Effective health (forced state, else probe).
    public var healthy: Bool
    /// Fresh load; nil when no report exists or it is older than the maximum age.
    public var load: Double?
    /// The member's weight.
    public var weight: Double
    /// The member's capacity, if any.
    public var capacity: Double?
    /// True when the fresh load is at or above capacity (ranked after members with room).
    public var overCapacity: Bool
    /// 0-based position in the ranking; nil when not ranked (down and not failing open).
    public var rank: Int?
    /// True when the member is in the answer.
    public var chosen: Bool
    /// Probability per query that the member is in the answer (1 for a member always answered).
    public var answerProbability: Double

    /// Creates a member ranking.
    public init(address: IPAddress, name: String?, coordinate: Coordinate, distanceKm: Double?,
                probeHealthy: Bool, forced: ForcedHealth?, healthy: Bool, load: Double?, weight: Double,
                capacity: Double?, overCapacity: Bool, rank: Int?, chosen: Bool, answerProbability: Double = 0) {
        self.address = address
        self.name = name
        self.coordinate = coordinate
        self.distanceKm = distanceKm
        self.probeHealthy = probeHealthy
        self.forced = forced
        self.healthy = healthy
        self.load = load
        self.weight = weight
        self.capacity = capacity
        self.overCapacity = overCapacity
        self.rank = rank
        self.chosen = chosen
        self.answerProbability = answerProbability
    }
}

/// `Router.nearestPick`'s answer: the member a `nearest` route answers with.
public struct NearestPick: Sendable, Equatable {
    /// The address answered.
    public var address: IPAddress
    /// True when several members were equally near and the query's entropy chose among them (the
    /// pick differs per query); false when one member alone was nearest.
    public var drawn: Bool
    /// The last moment (on the `now` clock) the same health and load give the same pick: when the
    /// first load report that puts a member over its capacity, or not, goes stale. +inf when no
    /// load report matters.
    public var validUntil: Double
}
