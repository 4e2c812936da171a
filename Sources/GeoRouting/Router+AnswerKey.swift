import DNSWire

/// What a located client can be answered, independent of the query's draw: the key the answer map
/// merges networks by (issue #12.1).
///
/// Two client locations with equal keys get the same answer for every entropy: the same members in
/// the same fixed positions, and the same sets of members drawn among (the tie band, or a tier's
/// band with more than one member). So a scope that covers only clients with one key is honest even
/// for answers a per-query draw picks: every client in it would have had the same choice.
public struct AnswerKey: Hashable, Sendable {
    /// Member slots of the family, in answer order; a negative entry `-g` opens a drawn group of
    /// the next `g` slots (in slot order).
    public let codes: [Int32]
    /// The answer when no draw takes part in the answered positions; nil otherwise.
    public let fixedAnswer: [IPAddress]?
}

extension Router {
    /// Whether `route` for `family` can be mapped: a location-dependent policy (`nearest`,
    /// `least-load`), a known pool with members of the family, and at least one of them healthy
    /// (all down is the same for every client and is left to `decide`). `members` is how many
    /// members the family has.
    public static func mappable(route: RouteSpec, pools: GeoData, family: AddressFamily,
                                states: ResolvedBackendStates) -> Bool {
        guard route.policy.isLocationDependent,
              let poolIndex = pools.poolIndex(named: route.pool) else { return false }
        let members = pools.pools[poolIndex].family(family)
        guard !members.isEmpty else { return false }
        if let dense = states.members(of: pools, pool: poolIndex, family: family) {
            return dense.contains { $0.healthy }
        }
        return members.contains { states.states.status(of: $0.address).isHealthy }
    }

    /// The answer key for a client at `client` (valid) — the same tiers, band and orders
    /// `decide` uses, with each draw replaced by the set it draws from. Nil when the route is not
    /// `mappable` or the location is not valid.
    public static func answerKey(route: RouteSpec, pools: GeoData, client: Coordinate, family: AddressFamily,
                                 states: ResolvedBackendStates, now: Double, loadMaxAge: Double) -> AnswerKey? {
        guard client.isValid, mappable(route: route, pools: pools, family: family, states: states),
              let poolIndex = pools.poolIndex(named: route.pool) else { return nil }
        let members = pools.pools[poolIndex].family(family)
        let dense = states.members(of: pools, pool: poolIndex, family: family)
        let ctx = Context(policy: route.policy, tieBand: route.effectiveTieBand, answerLimit: route.answerLimit,
                          client: RadianPoint(client), states: states.states, now: now, loadMaxAge: loadMaxAge,
                          entropy: 0, explain: false)
        var candidates = (0..<members.count).map { evaluate(members, slot: $0, dense, ctx, failOpen: false) }
        candidates.removeAll { $0.tier == 2 }
        var codes: [Int32] = []
        var answer: [IPAddress] = []
        var drawn = false
        var covered = 0
        for tier: UInt8 in 0...1 where covered < ctx.answerLimit {
            var group = candidates.filter { $0.tier == tier }
            guard !group.isEmpty else { continue }
            switch ctx.policy {
            case .leastLoad:
                group.sort(by: Candidate.leastLoadFirst)
            default:
                group.sort { $0.hav != $1.hav ? $0.hav < $1.hav : $0.address < $1.address }
                let threshold = bandThreshold(best: group[0].hav, tieBand: ctx.tieBand)
                var bandEnd = 1
                while bandEnd < group.count && group[bandEnd].hav <= threshold { bandEnd += 1 }
                if bandEnd > 1 {
                    let band = group[0..<bandEnd].sorted { $0.slot < $1.slot }
                    codes.append(-Int32(bandEnd))
                    codes.append(contentsOf: band.map { Int32($0.slot) })
                    drawn = true
                    covered += bandEnd
                    group.removeFirst(bandEnd)
                }
            }
            for c in group where covered < ctx.answerLimit {
                codes.append(Int32(c.slot))
                answer.append(c.address)
                covered += 1
            }
        }
        return AnswerKey(codes: codes, fixedAnswer: drawn ? nil : answer)
    }

    /// The last moment (on the `now` clock) the keys computed at `now` stay right: the first time a
    /// fresh load report that takes part goes stale (capacity tiers for every policy, and every
    /// load for `least-load`); +inf when none does.
    public static func answerKeysValidUntil(route: RouteSpec, pools: GeoData, family: AddressFamily,
                                            states: ResolvedBackendStates, now: Double, loadMaxAge: Double) -> Double {
        guard let poolIndex = pools.poolIndex(named: route.pool) else { return .infinity }
        let members = pools.pools[poolIndex].family(family)
        var until = Double.infinity
        for entry in members where entry.capacity != nil || route.policy == .leastLoad {
            guard let report = states.states.byAddress[entry.address]?.lastLoad else { continue }
            if now - report.receivedAt <= loadMaxAge { until = min(until, report.receivedAt + loadMaxAge) }
        }
        return until
    }

    /// What of `states` the keys of `route` for `family` read at `now`: per member, health, and the
    /// fresh load where it matters (capacity tier, or the load itself for `least-load`). Equal
    /// inputs give equal keys for every location, so a map built for one serves the other.
    public static func answerKeyInputs(route: RouteSpec, pools: GeoData, family: AddressFamily,
                                       states: ResolvedBackendStates, now: Double, loadMaxAge: Double) -> [Double] {
        guard let poolIndex = pools.poolIndex(named: route.pool) else { return [] }
        let members = pools.pools[poolIndex].family(family)
        let dense = states.members(of: pools, pool: poolIndex, family: family)
        let ctx = Context(policy: route.policy, tieBand: route.effectiveTieBand, answerLimit: route.answerLimit,
                          client: nil, states: states.states, now: now, loadMaxAge: loadMaxAge,
                          entropy: 0, explain: false)
        let candidates = (0..<members.count).map { evaluate(members, slot: $0, dense, ctx, failOpen: false) }
        // `least-load` orders by load: only the loads' order (ties included) and which are known
        // move an answer, not their values, so frequent reports that keep the order keep the map.
        let known = candidates.filter { !$0.load.isNaN }.map(\.load)
        var out: [Double] = []
        out.reserveCapacity(members.count * 2)
        for c in candidates {
            out.append(Double(c.tier))
            if route.policy == .leastLoad {
                out.append(c.load.isNaN ? -1 : Double(known.filter { $0 < c.load }.count))
            } else {
                out.append(0)
            }
        }
        return out
    }
}
