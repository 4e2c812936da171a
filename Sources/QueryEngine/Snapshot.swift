import DNSWire
import DNSZone
import GeoRouting

/// Where the locator chain placed an address, as the query path needs it (no IO here: the
/// `ClientLocator` implementation is an adapter over the mmdb/ipstack shell).
public enum Placement: Sendable, Hashable {
    /// Coordinates with where they came from and the network they hold for.
    case located(Location)
    /// Nothing knows this address. `network` is the network the "no answer" holds for, if known
    /// (an mmdb gap), which bounds the ECS scope.
    case unknown(network: IPNetwork?)
    /// Only a remote lookup (ipstack) could answer; the shell may wait for it a bounded time.
    case needsRemote
}

/// Synchronous, non-blocking client location (overrides → database → remote cache).
public protocol ClientLocator: Sendable {
    func locate(_ address: IPAddress) -> Placement
    /// An optional cheaper answer for the fast path: the coordinate and network prefix `locate`
    /// would report as `.located` for `address`, or nil to fall back to `locate`. Only answers
    /// that stay true for this locator's whole life (overrides, a database): the fast path keeps
    /// them until the snapshot is replaced.
    /// `source` says which of the two placed it (metrics and the query log report it).
    func quickLocate(_ address: IPAddress) -> (coordinate: Coordinate, networkPrefix: Int, source: LocationSource)?
    /// The database's tree and the overrides, exactly as `quickLocate` places addresses, for the
    /// answer maps (`AnswerMapSet`); nil when there is nothing to map (no database table).
    var placementSpace: PlacementSpace? { get }
    /// Builds what `quickLocate` and `placementSpace` read, when it is not built yet (the
    /// database's coordinate table), on the caller's thread. The server's answer-map builder calls
    /// it after the listeners are up (issue #12.3): until it returns, `quickLocate` answers nil and
    /// queries take `locate`, which places clients the same. Returns what it built (for the log),
    /// nil when there was nothing to build.
    func preparePlacement() -> PreparedPlacement?
    /// Whether `locate`'s `.unknown` stays true for this locator's whole life (no remote fallback
    /// that may place the address later, e.g. once a throttled ipstack accepts lookups again):
    /// only then does the fast path remember unplaced networks.
    var unplacedIsFinal: Bool { get }
}

/// What `ClientLocator.preparePlacement()` built.
public struct PreparedPlacement: Sendable, Hashable {
    /// Records with coordinates in the table.
    public var records: Int
    /// Approximate bytes the table holds.
    public var bytes: Int

    public init(records: Int, bytes: Int) {
        self.records = records
        self.bytes = bytes
    }
}

extension ClientLocator {
    public func preparePlacement() -> PreparedPlacement? { nil }

    public func quickLocate(_ address: IPAddress) -> (coordinate: Coordinate, networkPrefix: Int, source: LocationSource)? {
        nil
    }

    public var placementSpace: PlacementSpace? { nil }

    public var unplacedIsFinal: Bool { true }
}

/// A locator that knows nothing (no database configured).
public struct NoLocator: ClientLocator {
    public init() {}
    public func locate(_ address: IPAddress) -> Placement { .unknown(network: nil) }
}

/// Settings the engine needs from config.
public struct EngineSettings: Sendable, Hashable {
    /// Our maximum UDP payload (advertised in OPT, caps UDP responses); 512...65535.
    public var maxUDPPayload: Int
    /// Load reports older than this (seconds) count as unknown.
    public var loadMaxAge: Double
    /// Sources whose EDNS Client Subnet option is used (config `ecs.trusted_resolvers`); nil
    /// trusts everyone. ECS from any other source is ignored and not echoed.
    public var ecsTrustedResolvers: [IPNetwork]?
    /// Response rate limiting of UDP answers (config `rrl`); nil when off.
    public var rateLimit: RateLimitSettings?
    /// NSID and CHAOS identity (config `identity`); nil: no NSID is sent and CHAOS is REFUSED.
    public var identity: ServerIdentity?

    public init(maxUDPPayload: Int = Limits.defaultMaxUDPPayload, loadMaxAge: Double = 30,
                ecsTrustedResolvers: [IPNetwork]? = nil, rateLimit: RateLimitSettings? = nil,
                identity: ServerIdentity? = nil) {
        self.identity = identity
        self.maxUDPPayload = max(Limits.minUDPPayload, min(65535, maxUDPPayload))
        self.loadMaxAge = loadMaxAge
        self.ecsTrustedResolvers = ecsTrustedResolvers
        self.rateLimit = rateLimit
    }

    /// Whether an ECS option from `source` is used (RFC 7871 §11.1: a server may accept ECS
    /// only from resolvers it knows).
    @inline(__always)
    public func trustsClientSubnet(from source: IPAddress) -> Bool {
        guard let trusted = ecsTrustedResolvers else { return true }
        let s = source.mappedIPv4 ?? source
        return trusted.contains { $0.contains(s) }
    }
}

/// One immutable view of everything a query needs except backend health (which changes far more
/// often and is published separately as `BackendStates`). Reload builds a new one and swaps it.
public final class EngineSnapshot: Sendable {
    public let zones: ZoneSet
    /// Routed names (lowercased) → route.
    public let routes: [DomainName: RouteSpec]
    public let geoData: GeoData?
    public let locator: any ClientLocator
    public let settings: EngineSettings
    /// Increases with every swap; caches keyed on it are invalidated by a new snapshot.
    public let generation: UInt64
    /// The `synthesize:` rules, indexed against `zones`.
    public let synthesis: SynthesisTable
    /// The distinct settings of location-dependent routes, in a fixed order: the answer maps'
    /// slots (`AnswerMapSet`).
    public let answerMapRoutes: [AnswerMapRoute]
    let answerMapSlots: [AnswerMapRoute: Int]

    public init(zones: ZoneSet, routes: [DomainName: RouteSpec], geoData: GeoData?, locator: any ClientLocator,
                settings: EngineSettings, generation: UInt64, synthesis: [SynthesisRule] = []) {
        self.zones = zones
        self.synthesis = synthesis.isEmpty ? .empty : SynthesisTable(rules: synthesis, zones: zones)
        var lowered: [DomainName: RouteSpec] = [:]
        for (k, v) in routes { lowered[k.lowercased()] = v }
        self.routes = lowered
        let mapRoutes = Set(lowered.values.map(AnswerMapRoute.init).filter(\.isLocationDependent))
            .sorted { ($0.pool, $0.policy.rawValue, $0.answers, $0.tieBand) < ($1.pool, $1.policy.rawValue, $1.answers, $1.tieBand) }
        answerMapRoutes = mapRoutes
        answerMapSlots = Dictionary(uniqueKeysWithValues: mapRoutes.enumerated().map { ($1, $0) })
        self.geoData = geoData
        self.locator = locator
        self.settings = settings
        self.generation = generation
    }
}

extension EngineSnapshot {
    /// The answer-map slot of `route`, -1 when its answer does not depend on the client's place.
    public func answerMapSlot(for route: RouteSpec) -> Int {
        answerMapSlots[AnswerMapRoute(route)] ?? -1
    }
}
