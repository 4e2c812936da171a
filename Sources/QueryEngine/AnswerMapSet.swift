import DNSWire
import GeoRouting

/// The route settings an answer map depends on: routes that agree on them share one map.
public struct AnswerMapRoute: Hashable, Sendable {
    public var pool: String
    public var policy: RoutePolicy
    public var answers: Int
    public var tieBand: Double

    public init(_ route: RouteSpec) {
        pool = route.pool
        policy = route.policy
        answers = route.answerLimit
        tieBand = route.effectiveTieBand
    }

    /// A route with these settings (the rest do not change a located client's answer).
    var spec: RouteSpec { RouteSpec(pool: pool, policy: policy, answers: answers, tieBand: tieBand) }

    /// Only policies whose answer depends on where the client is get a map.
    var isLocationDependent: Bool { policy.isLocationDependent }
}

/// Where the locator places clients, as the answer map needs it: the database's tree and the
/// overrides laid over it (nil from a locator without a database table).
public struct PlacementSpace: Sendable {
    public var source: any PlacementSource
    public var overrides: [LocationOverride]

    public init(source: any PlacementSource, overrides: [LocationOverride]) {
        self.source = source
        self.overrides = overrides
    }

    /// The source object when it is a class (a database kept across reloads is the same object):
    /// maps of an earlier snapshot over the same object can be reused.
    var sourceObject: AnyObject? {
        type(of: source) is AnyClass ? source as AnyObject : nil
    }
}

/// Every answer map of one snapshot at one set of backend states (issue #12.1): per routed
/// pool setting (`EngineSnapshot.answerMapSlot`), per answer family (A, AAAA) and per client
/// family. Built off the query path (`build`), published with the states it was built for, and
/// read by the fast path and the engine for located clients: one trie walk gives the answer (when
/// no draw takes part) and the ECS scope, the widest block inside which the answer is the same.
public final class AnswerMapSet: Sendable {
    /// The snapshot the maps were built for.
    public let snapshotGeneration: UInt64
    /// Per slot: maps indexed by `index(answer:client:)`.
    let maps: [[AnswerMap?]]
    /// `maps` flattened (`slot * 4 + index`) and unretained, for the query path: reading a map
    /// out of `maps` retains the slot's array and the map (kept alive by `maps`).
    let unretained: [Unmanaged<AnswerMap>?]
    /// Per slot and answer family: what of the states the maps read (to reuse them).
    let inputs: [[[Double]]]
    /// Until when (on the `now` clock) the maps stay right as load reports go stale.
    public let validUntil: Double
    /// What else the maps were built from, to reuse them for a later snapshot with the same
    /// database, overrides, pools and settings (a reload of zone files redoes no database work).
    let basis: Basis
    /// How many maps this set built (the rest were reused).
    public let builtCount: Int

    struct Basis: @unchecked Sendable {
        /// Held (not just its identity) so that no other object can take its address meanwhile.
        var source: AnyObject?
        var overrides: [LocationOverride]
        var loadMaxAge: Double
        /// Per slot: its route and its pool's members.
        var routes: [AnswerMapRoute]
        var members: [[PoolMember]]
    }

    init(snapshotGeneration: UInt64, maps: [[AnswerMap?]], inputs: [[[Double]]], validUntil: Double, basis: Basis,
         builtCount: Int) {
        self.snapshotGeneration = snapshotGeneration
        self.maps = maps
        var flat = [Unmanaged<AnswerMap>?](repeating: nil, count: maps.count * 4)
        for (slot, family) in maps.enumerated() {
            for (i, map) in family.prefix(4).enumerated() { flat[slot * 4 + i] = map.map { Unmanaged.passUnretained($0) } }
        }
        self.unretained = flat
        self.inputs = inputs
        self.validUntil = validUntil
        self.basis = basis
        self.builtCount = builtCount
    }

    @inline(__always)
    static func index(answer: AddressFamily, client: AddressFamily) -> Int {
        (answer == .v6 ? 2 : 0) + (client == .v6 ? 1 : 0)
    }

    /// The map of `slot` for answers of `answer` family and clients of `client` family.
    @inline(__always)
    public func map(slot: Int, answer: AddressFamily, client: AddressFamily) -> AnswerMap? {
        guard slot >= 0, slot < maps.count else { return nil }
        return maps[slot][AnswerMapSet.index(answer: answer, client: client)]
    }

    /// Runs `body` with the map of `slot` for the answer and client families, without retaining
    /// it (the query path's form of `map(slot:answer:client:)`); nil when there is none.
    @inline(__always)
    func withMap<R>(slot: Int, answer: AddressFamily, client: AddressFamily, _ body: (AnswerMap) -> R) -> R? {
        let i = slot &* 4 &+ AnswerMapSet.index(answer: answer, client: client)
        guard slot >= 0, i < unretained.count, let map = unretained[i] else { return nil }
        return map._withUnsafeGuaranteedRef(body)
    }

    /// Every map, for reports.
    public var allMaps: [AnswerMap] { maps.flatMap { $0.compactMap { $0 } } }
    /// Total trie nodes over every map.
    public var nodeCount: Int { allMaps.reduce(0) { $0 + $1.nodeCount } }
    /// Approximate bytes held by every map.
    public var byteCount: Int { allMaps.reduce(0) { $0 + $1.byteCount } }

    /// Builds the maps of `snapshot` at `states` and time `now`; maps of `previous` whose inputs
    /// did not change are reused — from the same snapshot (load reports that change no answer) or
    /// from an earlier one over the same database object, overrides, pool members and settings (a
    /// reload of zone files). Nil when the snapshot has no geo data, no routed location-dependent
    /// policy, or its locator offers no placement space.
    public static func build(snapshot: EngineSnapshot, states: BackendStates, now: Double,
                             previous: AnswerMapSet? = nil) -> AnswerMapSet? {
        guard let geo = snapshot.geoData, let space = snapshot.locator.placementSpace,
              !snapshot.answerMapRoutes.isEmpty else { return nil }
        let resolved = ResolvedBackendStates(states, for: geo)
        let loadMaxAge = snapshot.settings.loadMaxAge
        let object = space.sourceObject
        let reuse = previous.flatMap { p -> AnswerMapSet? in
            if p.snapshotGeneration == snapshot.generation { return p }
            guard let object, let old = p.basis.source, old === object, p.basis.overrides == space.overrides,
                  p.basis.loadMaxAge == loadMaxAge else { return nil }
            return p
        }
        var maps: [[AnswerMap?]] = []
        var inputs: [[[Double]]] = []
        var members: [[PoolMember]] = []
        var validUntil = Double.infinity
        var built = 0
        for mapRoute in snapshot.answerMapRoutes {
            let route = mapRoute.spec
            let poolMembers = geo.pools.first { $0.name == mapRoute.pool }?.members ?? []
            members.append(poolMembers)
            // The earlier set's slot with the same route and pool members, if any.
            let old = reuse.flatMap { r -> Int? in
                guard let i = r.basis.routes.firstIndex(of: mapRoute), r.basis.members[i] == poolMembers else { return nil }
                return i
            }
            var slotMaps: [AnswerMap?] = [nil, nil, nil, nil]
            var slotInputs: [[Double]] = [[], []]
            for answer in [AddressFamily.v4, .v6] {
                guard Router.mappable(route: route, pools: geo, family: answer, states: resolved) else { continue }
                let these = Router.answerKeyInputs(route: route, pools: geo, family: answer, states: resolved, now: now,
                                                   loadMaxAge: loadMaxAge)
                slotInputs[answer == .v6 ? 1 : 0] = these
                validUntil = min(validUntil, Router.answerKeysValidUntil(route: route, pools: geo, family: answer,
                                                                         states: resolved, now: now,
                                                                         loadMaxAge: loadMaxAge))
                for client in [AddressFamily.v4, .v6] {
                    let i = index(answer: answer, client: client)
                    if let reuse, let old, reuse.inputs[old][answer == .v6 ? 1 : 0] == these,
                       let map = reuse.maps[old][i] {
                        slotMaps[i] = map
                        continue
                    }
                    built += 1
                    slotMaps[i] = AnswerMap.build(source: space.source, family: client, overrides: space.overrides) { c in
                        Router.answerKey(route: route, pools: geo, client: c, family: answer, states: resolved, now: now,
                                         loadMaxAge: loadMaxAge)
                    }
                }
            }
            maps.append(slotMaps)
            inputs.append(slotInputs)
        }
        return AnswerMapSet(snapshotGeneration: snapshot.generation, maps: maps, inputs: inputs, validUntil: validUntil,
                            basis: Basis(source: object, overrides: space.overrides, loadMaxAge: loadMaxAge,
                                         routes: snapshot.answerMapRoutes, members: members),
                            builtCount: built)
    }
}

extension AnswerMapSet {
    /// True when these maps give the same answers at `states` and `now` as at the states they were
    /// built for (same snapshot, same mappable families, same inputs, not gone stale): a load
    /// report that changes no answer keeps them without a rebuild.
    public func holds(for snapshot: EngineSnapshot, states: BackendStates, now: Double) -> Bool {
        guard snapshotGeneration == snapshot.generation, now <= validUntil, let geo = snapshot.geoData else { return false }
        let resolved = ResolvedBackendStates(states, for: geo)
        let loadMaxAge = snapshot.settings.loadMaxAge
        for (slot, mapRoute) in snapshot.answerMapRoutes.enumerated() where slot < inputs.count {
            let route = mapRoute.spec
            for answer in [AddressFamily.v4, .v6] {
                let f = answer == .v6 ? 1 : 0
                let mappable = Router.mappable(route: route, pools: geo, family: answer, states: resolved)
                guard mappable == !inputs[slot][f].isEmpty else { return false }
                guard mappable else { continue }
                let these = Router.answerKeyInputs(route: route, pools: geo, family: answer, states: resolved, now: now,
                                                   loadMaxAge: loadMaxAge)
                guard these == inputs[slot][f] else { return false }
                guard Router.answerKeysValidUntil(route: route, pools: geo, family: answer, states: resolved, now: now,
                                                  loadMaxAge: loadMaxAge) >= validUntil else { return false }
            }
        }
        return true
    }
}
