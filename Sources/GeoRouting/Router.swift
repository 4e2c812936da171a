import DNSWire

/// Ranks a pool's members for one query: a pure function of the route, the geo data, the client
/// location, health/load state, the time and caller-supplied entropy (no clock, no randomness
/// source; the same inputs always give the same decision, so `proxima route` explains exactly what
/// the server answers).
///
/// Rules (all policies): only healthy members are ranked; members whose fresh load is at or above
/// their capacity are ranked after every healthy member with room (spill-over), not dropped.
/// - `nearest`: ascending great-circle distance; members within `tieBand` of the best distance are
///   equally near and ordered by a weighted draw (so weights share traffic among them); the rest
///   follow by distance. Without a client location: weighted order.
/// - `roundRobin`: file order rotated by `entropy` (pass a counter).
/// - `random`: uniform shuffle; `weighted`: shuffle with probability proportional to weight.
/// - `leastLoad`: lowest fresh load first, unknown load after any known load, ties by distance then
///   address.
/// - All members of the family down: `failOpen` ranks them as if up (`failedOpen`); `servfail`
///   returns `.servfail`; `fallback(pool)` decides with that pool (one level; if it is all down too
///   it fails open there; if it is missing or has no member of the family, the route's own pool
///   fails open).
///
/// Cost: one pass over the family's members (arithmetic only: sines and cosines are precomputed
/// per member at parse time and once per query for the client), a stack scratch buffer, no
/// dictionary building; with `explain: false`, `nearest` and one answer it does not sort at all.
/// Pass `ResolvedBackendStates` (built when states or geo data change) instead of `BackendStates`
/// to also avoid hashing each member's address.
public enum Router {
    /// Decides the answer for one query.
    ///
    /// - Parameters:
    ///   - route: the routed name's settings.
    ///   - pools: the geo data (snapshot).
    ///   - client: the client's location; nil when unknown.
    ///   - family: `.v4` for A queries, `.v6` for AAAA.
    ///   - states: health and load of backends (missing entries: healthy, no load).
    ///   - now: the current time on the clock `LoadReport.receivedAt` uses, seconds.
    ///   - loadMaxAge: load reports older than this many seconds count as unknown.
    ///   - entropy: the draw for tie-breaking and the random policies (a counter for round-robin).
    ///   - explain: build the per-member explanation (false on the query hot path).
    public static func decide(route: RouteSpec, pools: GeoData, client: Coordinate?, family: AddressFamily,
                              states: BackendStates, now: Double, loadMaxAge: Double, entropy: UInt64,
                              explain: Bool = true) -> RouteDecision {
        decide(route: route, pools: pools, client: client, family: family, states: states, resolved: nil, now: now,
               loadMaxAge: loadMaxAge, entropy: entropy, explain: explain)
    }

    /// Decides the answer for one query, reading health and load from states resolved against
    /// `pools` (no per-member hashing; the same decision as the `BackendStates` overload).
    public static func decide(route: RouteSpec, pools: GeoData, client: Coordinate?, family: AddressFamily,
                              states: ResolvedBackendStates, now: Double, loadMaxAge: Double, entropy: UInt64,
                              explain: Bool = true) -> RouteDecision {
        decide(route: route, pools: pools, client: client, family: family, states: states.states, resolved: states,
               now: now, loadMaxAge: loadMaxAge, entropy: entropy, explain: explain)
    }

    /// The answer `decide` gives (with `explain: false`) for a `nearest` route with one answer when
    /// a healthy member exists, without building a decision; nil in every other case (another
    /// policy or answer count, unknown pool, no member of the family, invalid client location, every
    /// member down), where the caller must use `decide`.
    ///
    /// The result says whether the same inputs give the same pick for any `entropy` (`drawn` is
    /// false when one member alone is nearest) and until when it stays right as time passes
    /// (`validUntil`), so a caller may remember it per client network until health or load change.
    /// A nil `client` is one no locator placed, as for `decide`.
    public static func nearestPick(route: RouteSpec, pools: GeoData, client: Coordinate?, family: AddressFamily,
                                   states: ResolvedBackendStates, now: Double, loadMaxAge: Double,
                                   entropy: UInt64) -> NearestPick? {
        guard route.policy == .nearest, route.answerLimit == 1, client?.isValid ?? true,
              let poolIndex = pools.poolIndex(named: route.pool) else { return nil }
        let members = pools.pools[poolIndex].family(family)
        guard members.count > 0 else { return nil }
        let dense = states.members(of: pools, pool: poolIndex, family: family)
        let ctx = Context(policy: route.policy, tieBand: route.effectiveTieBand, answerLimit: 1,
                          client: client.map(RadianPoint.init), states: states.states, now: now,
                          loadMaxAge: loadMaxAge, entropy: entropy, explain: false)
        guard let pick = fastNearest(members, dense, ctx) else { return nil }
        // Time only changes a pick by letting a load report that decides a capacity tier go stale.
        var validUntil = Double.infinity
        for slot in 0..<members.count where members[slot].capacity != nil {
            let receivedAt: Double
            if let dense {
                guard !dense[slot].load.isNaN else { continue }
                receivedAt = dense[slot].receivedAt
            } else {
                guard let report = states.states.byAddress[members[slot].address]?.lastLoad else { continue }
                receivedAt = report.receivedAt
            }
            if now - receivedAt <= loadMaxAge { validUntil = min(validUntil, receivedAt + loadMaxAge) }
        }
        return NearestPick(address: members[pick.slot].address, drawn: pick.drawn, validUntil: validUntil)
    }

    static func decide(route: RouteSpec, pools: GeoData, client: Coordinate?, family: AddressFamily,
                       states: BackendStates, resolved: ResolvedBackendStates?, now: Double, loadMaxAge: Double,
                       entropy: UInt64, explain: Bool) -> RouteDecision {
        let client = client.flatMap { $0.isValid ? $0 : nil }
        func decision(_ outcome: RouteOutcome, pool: String? = nil, fallback: Bool = false, failedOpen: Bool = false,
                      rankings: [PoolRanking] = []) -> RouteDecision {
            RouteDecision(outcome: outcome, answeringPool: pool, usedFallback: fallback, failedOpen: failedOpen,
                          client: client,
                          explanation: explain
                            ? RouteExplanation(policy: route.policy, family: family, tieBand: route.effectiveTieBand,
                                               pools: rankings)
                            : nil)
        }
        guard let poolIndex = pools.poolIndex(named: route.pool) else { return decision(.unknownPool) }
        let pool = pools.pools[poolIndex]
        let members = pool.family(family)
        let dense = resolved?.members(of: pools, pool: poolIndex, family: family)
        guard members.count > 0 else {
            return decision(.noMembers, rankings: [PoolRanking(pool: pool.name, allDown: false, failedOpen: false,
                                                               members: [])])
        }
        let ctx = Context(policy: route.policy, tieBand: route.effectiveTieBand, answerLimit: route.answerLimit,
                          client: client.map(RadianPoint.init), states: states, now: now,
                          loadMaxAge: loadMaxAge, entropy: entropy, explain: explain)

        if !explain && route.policy == .nearest && route.answerLimit == 1,
           let pick = fastNearest(members, dense, ctx) {
            return decision(.answer([members[pick.slot].address]), pool: pool.name)
        }

        let primary = rank(pool, members, dense, ctx, failOpen: false)
        if !primary.answers.isEmpty {
            return decision(.answer(primary.answers), pool: pool.name, rankings: primary.rankings)
        }
        switch route.allDown {
        case .servfail:
            return decision(.servfail, rankings: primary.rankings)
        case .failOpen:
            let open = rank(pool, members, dense, ctx, failOpen: true)
            return decision(.answer(open.answers), pool: pool.name, failedOpen: true, rankings: open.rankings)
        case .fallback(let name):
            if let otherIndex = pools.poolIndex(named: name), otherIndex != poolIndex,
               pools.pools[otherIndex].family(family).count > 0 {
                let other = pools.pools[otherIndex]
                let otherMembers = other.family(family)
                let otherDense = resolved?.members(of: pools, pool: otherIndex, family: family)
                let second = rank(other, otherMembers, otherDense, ctx, failOpen: false)
                if !second.answers.isEmpty {
                    return decision(.answer(second.answers), pool: other.name, fallback: true,
                                    rankings: primary.rankings + second.rankings)
                }
                let open = rank(other, otherMembers, otherDense, ctx, failOpen: true)
                return decision(.answer(open.answers), pool: other.name, fallback: true, failedOpen: true,
                                rankings: primary.rankings + open.rankings)
            }
            let open = rank(pool, members, dense, ctx, failOpen: true)
            return decision(.answer(open.answers), pool: pool.name, failedOpen: true, rankings: open.rankings)
        }
    }
}

// MARK: - Internals

/// SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014): turns
/// the caller's entropy (possibly a plain counter) into well-mixed draws, deterministically.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in 0..<n (n > 0), by multiply-high (Lemire).
    @inline(__always)
    mutating func next(below n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }
}

/// One member of the family being ranked (scratch, lives on the stack).
struct Candidate {
    /// Index into the family's `MemberEntry` array.
    var slot: Int
    var address: IPAddress
    var weight: Double
    /// Haversine term to the client (monotonic in distance); 0 when the client is unknown.
    var hav: Double
    /// Fresh load, NaN when unknown.
    var load: Double
    /// 0: healthy with room, 1: healthy at/over capacity, 2: not ranked (down).
    var tier: UInt8

    /// The `leastLoad` order: members with a fresh load report first, least loaded first, then
    /// nearest, then by address (so equal members always rank the same way).
    static func leastLoadFirst(_ a: Candidate, _ b: Candidate) -> Bool {
        let aKnown = !a.load.isNaN
        let bKnown = !b.load.isNaN
        if aKnown != bKnown { return aKnown }
        if aKnown && a.load != b.load { return a.load < b.load }
        if a.hav != b.hav { return a.hav < b.hav }
        return a.address < b.address
    }
}

/// The per-query inputs shared by the ranking helpers.
struct Context {
    // The route's fields the ranking reads (not the whole `RouteSpec`: its strings would be retained
    // and released on every copy).
    var policy: RoutePolicy
    var tieBand: Double
    var answerLimit: Int
    var client: RadianPoint?
    var states: BackendStates
    var now: Double
    var loadMaxAge: Double
    var entropy: UInt64
    var explain: Bool
}

/// One pool's ranked answers and (when explaining) its explanation.
struct RankResult {
    var answers: [IPAddress]
    var rankings: [PoolRanking]
}

extension Router {
    /// Health, fresh load and distance of one member. Status lookups are skipped entirely when no
    /// backend has any state.
    @inline(__always)
    static func evaluate(_ members: FamilyMembers, slot: Int, _ dense: [MemberState]?, _ ctx: Context,
                         failOpen: Bool) -> Candidate {
        let entry = members[slot]
        let address = entry.address
        var healthy = true
        var load = Double.nan
        if let dense {
            let state = dense[slot]
            healthy = state.healthy
            if !state.load.isNaN, ctx.now - state.receivedAt <= ctx.loadMaxAge { load = state.load }
        } else if !ctx.states.byAddress.isEmpty, let status = ctx.states.byAddress[address] {
            healthy = status.isHealthy
            if let report = status.lastLoad, ctx.now - report.receivedAt <= ctx.loadMaxAge {
                load = report.load
            }
        }
        var tier: UInt8 = 0
        if let capacity = entry.capacity, !load.isNaN, load >= capacity { tier = 1 }
        if !healthy && !failOpen { tier = 2 }
        let hav = ctx.client.map { haversineTerm($0, entry.point) } ?? 0
        return Candidate(slot: slot, address: address, weight: entry.weight, hav: hav, load: load, tier: tier)
    }

    /// The haversine term below which a member is within `tieBand` of the best distance.
    @inline(__always)
    static func bandThreshold(best: Double, tieBand: Double) -> Double {
        guard tieBand > 0 else { return best }
        return max(best, haversineTerm(distanceKm: distanceKm(haversineTerm: best) * (1 + tieBand)))
    }

    /// `nearest` with one answer and no explanation: the same pick as the first entry of the full
    /// ranking (same tiers, band, index order and first draw), without sorting; `drawn` is false
    /// when the band held one member (no draw). Nil when every member is down.
    static func fastNearest(_ members: FamilyMembers, _ dense: [MemberState]?,
                            _ ctx: Context) -> (slot: Int, drawn: Bool)? {
        let n = members.count
        return withUnsafeTemporaryAllocation(of: Candidate.self, capacity: n) { buf -> (slot: Int, drawn: Bool)? in
            var bestTier: UInt8 = 2
            var bestHav = Double.infinity
            for slot in 0..<n {
                let c = evaluate(members, slot: slot, dense, ctx, failOpen: false)
                buf.initializeElement(at: slot, to: c)
                if c.tier < bestTier || (c.tier == bestTier && c.hav < bestHav) {
                    bestTier = c.tier
                    bestHav = c.hav
                }
            }
            guard bestTier < 2 else { return nil }
            let threshold = ctx.client == nil
                ? Double.infinity
                : bandThreshold(best: bestHav, tieBand: ctx.tieBand)
            var total = 0.0
            var inBand = 0
            var only = 0
            for slot in 0..<n where buf[slot].tier == bestTier && buf[slot].hav <= threshold {
                total += buf[slot].weight
                inBand += 1
                only = slot
            }
            if inBand == 1 { return (only, false) }
            var rng = SplitMix64(seed: ctx.entropy)
            let r = rng.nextUnit() * total
            var acc = 0.0
            var pick = only  // the last in-band slot: float rounding can leave r at the very top
            for slot in 0..<n where buf[slot].tier == bestTier && buf[slot].hav <= threshold {
                acc += buf[slot].weight
                if r < acc {
                    pick = slot
                    break
                }
            }
            return (pick, true)
        }
    }

    /// Full ranking of one pool's family members.
    static func rank(_ pool: Pool, _ members: FamilyMembers, _ dense: [MemberState]?, _ ctx: Context,
                     failOpen: Bool) -> RankResult {
        let n = members.count
        return withUnsafeTemporaryAllocation(of: Candidate.self, capacity: n) { buf -> RankResult in
            for slot in 0..<n {
                buf.initializeElement(at: slot, to: evaluate(members, slot: slot, dense, ctx, failOpen: failOpen))
            }
            // Tiers in order, each in file order (the canonical order every policy starts from).
            sortRange(buf, 0..<n) { $0.tier != $1.tier ? $0.tier < $1.tier : $0.slot < $1.slot }
            // The explanation's answer distribution is read off this canonical order, before the draw.
            var distribution: (AnswerDistribution, [IPAddress: Double])?
            if ctx.explain {
                var rankable = 0
                while rankable < n && buf[rankable].tier < 2 { rankable += 1 }
                distribution = answerDistribution(buf, ranked: rankable, ctx)
            }
            let limit = ctx.answerLimit
            // Only the answered prefix needs ordering unless the explanation shows everything.
            let picks = ctx.explain ? n : limit
            var rng = SplitMix64(seed: ctx.entropy)
            var start = 0
            var placed = 0
            for tier: UInt8 in 0...1 {
                var end = start
                while end < n && buf[end].tier == tier { end += 1 }
                if end > start && placed < picks {
                    orderTier(buf, start..<end, members, ctx, &rng, picks: picks - placed)
                }
                placed += end - start
                start = end
            }
            let ranked = start
            let answerCount = min(limit, ranked)
            var answers: [IPAddress] = []
            answers.reserveCapacity(answerCount)
            for i in 0..<answerCount { answers.append(buf[i].address) }
            var rankings: [PoolRanking] = []
            if ctx.explain {
                rankings.append(explanation(pool, members, buf, ranked: ranked, answered: answerCount, ctx,
                                            failOpen: failOpen, distribution: distribution))
            }
            return RankResult(answers: answers, rankings: rankings)
        }
    }

    /// Orders one tier (`range`, in file order on entry) by the route's policy.
    static func orderTier(_ buf: UnsafeMutableBufferPointer<Candidate>, _ range: Range<Int>, _ members: FamilyMembers,
                          _ ctx: Context, _ rng: inout SplitMix64, picks: Int) {
        switch ctx.policy {
        case .nearest:
            guard ctx.client != nil else {
                weightedShuffle(buf, range, &rng, picks: picks)
                return
            }
            sortRange(buf, range) { $0.hav != $1.hav ? $0.hav < $1.hav : $0.address < $1.address }
            let threshold = bandThreshold(best: buf[range.lowerBound].hav, tieBand: ctx.tieBand)
            var bandEnd = range.lowerBound + 1
            while bandEnd < range.upperBound && buf[bandEnd].hav <= threshold { bandEnd += 1 }
            if bandEnd - range.lowerBound > 1 {
                let band = range.lowerBound..<bandEnd
                sortRange(buf, band) { $0.slot < $1.slot }
                weightedShuffle(buf, band, &rng, picks: picks)
            }
        case .weighted:
            weightedShuffle(buf, range, &rng, picks: picks)
        case .random:
            // Forward Fisher-Yates: position k gets a uniform pick among the rest.
            var k = range.lowerBound
            while k < range.upperBound - 1 && k - range.lowerBound < picks {
                let j = k + rng.next(below: range.upperBound - k)
                buf.swapAt(k, j)
                k += 1
            }
        case .roundRobin:
            let count = range.count
            let shift = Int(ctx.entropy % UInt64(count))
            if shift > 0 {
                var tail = UnsafeMutableBufferPointer(rebasing: buf[range])
                tail[0..<shift].reverse()
                tail[shift..<count].reverse()
                tail.reverse()
            }
        case .leastLoad:
            sortRange(buf, range, by: Candidate.leastLoadFirst)
        }
    }

    /// Sequential weighted draws without replacement over `range` (its current order is the
    /// canonical order of each draw); only the first `picks` positions are drawn.
    static func weightedShuffle(_ buf: UnsafeMutableBufferPointer<Candidate>, _ range: Range<Int>,
                                _ rng: inout SplitMix64, picks: Int) {
        var k = range.lowerBound
        while k < range.upperBound - 1 && k - range.lowerBound < picks {
            var total = 0.0
            for j in k..<range.upperBound { total += buf[j].weight }
            let r = rng.nextUnit() * total
            var acc = 0.0
            var pick = range.upperBound - 1
            for j in k..<range.upperBound {
                acc += buf[j].weight
                if r < acc {
                    pick = j
                    break
                }
            }
            // Move the pick to position k keeping the others in order (the next draw's order).
            let chosen = buf[pick]
            var m = pick
            while m > k {
                buf[m] = buf[m - 1]
                m -= 1
            }
            buf[k] = chosen
            k += 1
        }
    }

    /// Sorts `buf[range]` in place: insertion sort for the small ranges pools have (no allocation),
    /// the standard library's sort beyond that.
    @inline(__always)
    static func sortRange(_ buf: UnsafeMutableBufferPointer<Candidate>, _ range: Range<Int>,
                          by less: (Candidate, Candidate) -> Bool) {
        if range.count > 48 {
            var sub = UnsafeMutableBufferPointer(rebasing: buf[range])
            sub.sort(by: less)
            return
        }
        var i = range.lowerBound + 1
        while i < range.upperBound {
            let x = buf[i]
            var j = i
            while j > range.lowerBound && less(x, buf[j - 1]) {
                buf[j] = buf[j - 1]
                j -= 1
            }
            buf[j] = x
            i += 1
        }
    }

    /// The explanation of one ranking (slow path only).
    static func explanation(_ pool: Pool, _ members: FamilyMembers, _ buf: UnsafeMutableBufferPointer<Candidate>,
                            ranked: Int, answered: Int, _ ctx: Context, failOpen: Bool,
                            distribution: (AnswerDistribution, [IPAddress: Double])?) -> PoolRanking {
        var out: [MemberRanking] = []
        out.reserveCapacity(buf.count)
        var anyHealthy = false
        for (position, c) in buf.enumerated() {
            let member = pool.members[members[c.slot].memberIndex]
            let status = ctx.states.status(of: c.address)
            anyHealthy = anyHealthy || status.isHealthy
            let load: Double? = c.load.isNaN ? nil : c.load
            let over = member.capacity.map { cap in load.map { $0 >= cap } ?? false } ?? false
            out.append(MemberRanking(
                address: c.address, name: member.name, coordinate: member.coordinate,
                distanceKm: ctx.client == nil ? nil : distanceKm(haversineTerm: c.hav),
                probeHealthy: status.probeHealthy, forced: status.forced, healthy: status.isHealthy,
                load: load, weight: member.weight, capacity: member.capacity, overCapacity: over,
                rank: position < ranked ? position : nil, chosen: position < answered,
                answerProbability: distribution?.1[c.address] ?? 0))
        }
        return PoolRanking(pool: pool.name, allDown: !anyHealthy, failedOpen: failOpen, members: out,
                           distribution: distribution?.0)
    }
}
