import DNSWire
import GeoRouting

/// Where the locator chain placed a client address.
public enum LocateOutcome: Sendable, Hashable {
    /// A location from an override, the database or the ipstack cache.
    case located(Location)
    /// No location. `network`, when known, is the widest network the same answer holds for
    /// (the database gap or record, narrowed to the ipstack cache network when that was asked),
    /// which bounds the ECS scope of the answer.
    case unknown(network: IPNetwork?)
    /// ipstack is enabled, the address is public and nothing is cached: call
    /// ``GeoLocator/locateRemote(_:)``.
    case needsRemote
}

/// The client location chain for the DNS hot path: overrides → database → ipstack cache.
///
/// Immutable apart from its caches: the database is fixed for the locator's lifetime (a reload
/// builds a new locator with the new database and the same ``IPStackClient``, whose cache
/// survives). Database answers are cached per network in a sharded, lock-protected table, so
/// repeat lookups within a network cost one short critical section rather than a tree walk and
/// record decode.
public final class GeoLocator: Sendable {
    /// Checked first.
    public let overrides: LocationOverrides
    /// The offline database, if configured.
    public let database: MaxMindDatabase?
    /// The remote fallback, if enabled.
    public let ipstack: IPStackClient?
    private let cache: NetworkCache

    /// Creates a locator. `cacheCapacity` bounds the per-network database cache (entries).
    public init(overrides: LocationOverrides = LocationOverrides(), database: MaxMindDatabase?,
                ipstack: IPStackClient? = nil, cacheCapacity: Int = 1 << 17) {
        self.overrides = overrides
        self.database = database
        self.ipstack = ipstack
        cache = NetworkCache(capacity: cacheCapacity)
    }

    /// Places `ip` without IO. IPv4-mapped IPv6 addresses are located as IPv4.
    public func locate(_ ip: IPAddress, now: ContinuousClock.Instant) -> LocateOutcome {
        let address = ip.mappedIPv4 ?? ip
        if !overrides.isEmpty, let hit = overrides.lookup(address) { return .located(hit) }
        // Past this point no override holds `address`, but one may lie inside the database or
        // ipstack network: every network reported is narrowed around it (`excludingOverrides`).
        var databaseNetwork: IPNetwork?
        if let answer = databaseAnswer(address) {
            switch answer {
            case .located(let location): return .located(excludingOverrides(location, around: address))
            case .noCoordinates(let network), .notFound(let network):
                databaseNetwork = overrides.excluding(from: network, around: address)
            }
        }
        guard let ipstack, !address.isSpecialPurpose else { return .unknown(network: databaseNetwork) }
        let remoteNetwork = overrides.excluding(from: ipstack.cacheNetwork(for: address), around: address)
        switch ipstack.cached(address, now: now) {
        case .hit(let location):
            return .located(excludingOverrides(Self.narrowed(location, to: databaseNetwork), around: address))
        case .negative:
            return .unknown(network: Self.narrower(databaseNetwork, remoteNetwork))
        case .miss:
            guard ipstack.acceptsLookups(now: now) else {
                return .unknown(network: Self.narrower(databaseNetwork, remoteNetwork))
            }
            return .needsRemote
        }
    }

    /// `location` with its network narrowed around the overrides inside it.
    func excludingOverrides(_ location: Location, around address: IPAddress) -> Location {
        guard !overrides.isEmpty else { return location }
        var narrowed = location
        narrowed.network = overrides.excluding(from: location.network, around: address)
        return narrowed
    }

    /// The ipstack step for a `.needsRemote` outcome: waits at most the configured budget.
    /// Nil when ipstack is not configured, times out or has no location.
    public func locateRemote(_ ip: IPAddress) async -> Location? {
        guard let ipstack else { return nil }
        let address = ip.mappedIPv4 ?? ip
        guard let location = await ipstack.lookup(address, budget: ipstack.configuration.budget) else {
            return nil
        }
        return excludingOverrides(Self.narrowed(location, to: databaseAnswer(address)?.network), around: address)
    }

    /// The database answer for `address` (already unmapped), through the per-network cache.
    /// Nil without a database or when the database reports corruption for this record.
    public func databaseAnswer(_ address: IPAddress) -> MaxMindLookup? {
        guard let database else { return nil }
        if let cached = cache.get(address) { return cached }
        guard let answer = try? database.lookup(address) else { return nil }
        cache.put(address, answer)
        return answer
    }

    /// A remote location holds only where the database also gives the same (no) answer: when
    /// the database gap or record is narrower than the ipstack cache network, report that.
    static func narrowed(_ location: Location, to databaseNetwork: IPNetwork?) -> Location {
        guard let databaseNetwork, databaseNetwork.prefixLength > location.network.prefixLength,
              databaseNetwork.address.family == location.network.address.family else { return location }
        var narrowed = location
        narrowed.network = databaseNetwork
        return narrowed
    }

    static func narrower(_ a: IPNetwork?, _ b: IPNetwork) -> IPNetwork {
        guard let a, a.address.family == b.address.family else { return b }
        return a.prefixLength > b.prefixLength ? a : b
    }
}
