import DNSWire

/// How a ranking's answer varies from query to query (issue #13: the explanation names every
/// member that can be answered, not one draw of it).
public enum DrawKind: String, Sendable, Hashable {
    /// One answer for these inputs: no draw takes part in the answered positions.
    case none
    /// `nearest`: several members are within the tie band of the nearest and are drawn by weight.
    case tieBand = "tie-band"
    /// `weighted` (or `nearest` without a client location): drawn by weight, without replacement.
    case weighted
    /// `random`: uniform draw without replacement.
    case uniform
    /// `round-robin`: the tier's file order rotated by the query's counter.
    case rotation
}

/// One answer set that can be served, with its probability per query.
public struct PossibleAnswerSet: Sendable, Hashable {
    /// The addresses answered together, in address order (the DNS answer order is not part of it).
    public var addresses: [IPAddress]
    /// Probability per query, 0...1.
    public var probability: Double

    /// Creates an answer set.
    public init(addresses: [IPAddress], probability: Double) {
        self.addresses = addresses
        self.probability = probability
    }
}

/// What the answer of one ranking can be, computed from the same tiers, band and weights the draw
/// in `Router.orderTier` uses.
///
/// Probabilities model each draw as ideal: the router's draws are `SplitMix64` values mapped onto
/// the weights' cumulative sums (error ≤ 2⁻⁵³ per draw) and the round-robin rotation is the query
/// entropy modulo the tier size (error ≤ size/2⁶⁴); both are far below anything observable.
public struct AnswerDistribution: Sendable, Hashable {
    /// How the answer is chosen.
    public var draw: DrawKind
    /// How many members are drawn from (the tie band, the tier, the rotation); 1 when `draw == .none`.
    public var drawnFrom: Int
    /// The nearest member's distance in km and the band's limit (`nearest` ties only).
    public var bandBestKm: Double?
    public var bandLimitKm: Double?
    /// Every answer set with probability > 0, most likely first; cut at `maxListedSets` (then
    /// `setsTruncated`; per-member probabilities stay complete).
    public var sets: [PossibleAnswerSet]
    public var setsTruncated: Bool
    /// False when the pool was too large to enumerate and the probabilities were estimated by
    /// running the router's own draw over many seeds.
    public var exact: Bool

    /// True when every query with these inputs gets the same answer.
    public var isDeterministic: Bool { sets.count == 1 && !setsTruncated }

    /// Most answer sets listed.
    public static let maxListedSets = 256
}

extension Router {
    /// One stretch of a tier's final order: fixed, or chosen by a draw.
    enum Segment {
        case fixed([Candidate])
        case weighted([Candidate])
        case uniform([Candidate])
        case rotation([Candidate])

        var members: [Candidate] {
            switch self {
            case .fixed(let c), .weighted(let c), .uniform(let c), .rotation(let c): return c
            }
        }
    }

    /// The distribution of the answered prefix for the ranked tiers in `buf` (sorted by tier, then
    /// slot, before `orderTier` runs): the same band threshold, sort keys and draw kinds.
    static func answerDistribution(_ buf: UnsafeMutableBufferPointer<Candidate>, ranked: Int,
                                   _ ctx: Context) -> (AnswerDistribution, [IPAddress: Double])? {
        guard ranked > 0, ctx.answerLimit > 0 else { return nil }
        var segments: [Segment] = []
        var draw = DrawKind.none
        var drawnFrom = 1
        var bandBest: Double?
        var bandLimit: Double?
        var start = 0
        var remaining = ctx.answerLimit
        for tier: UInt8 in 0...1 {
            var end = start
            while end < ranked && buf[end].tier == tier { end += 1 }
            let members = Array(buf[start..<end])
            start = end
            guard !members.isEmpty, remaining > 0 else { continue }
            remaining -= members.count
            if members.count == 1 {
                segments.append(.fixed(members))
                continue
            }
            switch ctx.policy {
            case .nearest:
                guard ctx.client != nil else {
                    segments.append(.weighted(members))
                    if draw == .none { draw = .weighted; drawnFrom = members.count }
                    continue
                }
                let sorted = members.sorted { $0.hav != $1.hav ? $0.hav < $1.hav : $0.address < $1.address }
                let threshold = bandThreshold(best: sorted[0].hav, tieBand: ctx.tieBand)
                var bandEnd = 1
                while bandEnd < sorted.count && sorted[bandEnd].hav <= threshold { bandEnd += 1 }
                if bandEnd > 1 {
                    segments.append(.weighted(sorted[0..<bandEnd].sorted { $0.slot < $1.slot }))
                    if draw == .none {
                        draw = .tieBand
                        drawnFrom = bandEnd
                        bandBest = distanceKm(haversineTerm: sorted[0].hav)
                        bandLimit = distanceKm(haversineTerm: threshold)
                    }
                    if bandEnd < sorted.count { segments.append(.fixed(Array(sorted[bandEnd...]))) }
                } else {
                    segments.append(.fixed(sorted))
                }
            case .weighted:
                segments.append(.weighted(members))
                if draw == .none { draw = .weighted; drawnFrom = members.count }
            case .random:
                segments.append(.uniform(members))
                if draw == .none { draw = .uniform; drawnFrom = members.count }
            case .roundRobin:
                segments.append(.rotation(members))
                if draw == .none { draw = .rotation; drawnFrom = members.count }
            case .leastLoad:
                segments.append(.fixed(members.sorted(by: Candidate.leastLoadFirst)))
            }
        }

        var exact = true
        // Set when a part lists per-member inclusion (single-member entries) instead of real sets.
        var inclusionOnly = false
        var parts: [[PossibleAnswerSet]] = []
        if ctx.policy == .roundRobin {
            parts = [rotationSets(segments, limit: ctx.answerLimit)]
        } else {
            var left = ctx.answerLimit
            for segment in segments where left > 0 {
                let m = segment.members
                let take = min(left, m.count)
                left -= take
                if take == m.count {
                    parts.append([PossibleAnswerSet(addresses: m.map(\.address), probability: 1)])
                    continue
                }
                switch segment {
                case .fixed, .rotation:
                    parts.append([PossibleAnswerSet(addresses: m.prefix(take).map(\.address), probability: 1)])
                case .uniform:
                    let (sets, listed) = uniformSets(m, take: take)
                    parts.append(sets)
                    if !listed { inclusionOnly = true }
                case .weighted:
                    if let sets = weightedSets(m, take: take) {
                        parts.append(sets)
                    } else {
                        exact = false
                        inclusionOnly = true
                        parts.append(sampledWeightedSets(m, take: take))
                    }
                }
            }
        }
        // Per-member inclusion: segments are drawn independently and hold disjoint members.
        var inclusion: [IPAddress: Double] = [:]
        for part in parts {
            for set in part {
                for a in set.addresses { inclusion[a, default: 0] += set.probability }
            }
        }
        // Answer sets: the product of the segments' sets, while it stays listable.
        var sets = [PossibleAnswerSet(addresses: [], probability: 1)]
        var truncated = inclusionOnly
        for part in parts where !truncated {
            if sets.count * part.count > AnswerDistribution.maxListedSets * 16 {
                truncated = true
                break
            }
            var next: [PossibleAnswerSet] = []
            next.reserveCapacity(sets.count * part.count)
            for s in sets {
                for p in part {
                    next.append(PossibleAnswerSet(addresses: s.addresses + p.addresses,
                                                  probability: s.probability * p.probability))
                }
            }
            sets = next
        }
        if truncated {
            sets = []
        } else {
            for i in sets.indices { sets[i].addresses.sort() }
            sets.sort { a, b in
                a.probability != b.probability ? a.probability > b.probability
                    : a.addresses.lexicographicallyPrecedes(b.addresses)
            }
            if sets.count > AnswerDistribution.maxListedSets {
                sets.removeLast(sets.count - AnswerDistribution.maxListedSets)
                truncated = true
            }
        }
        if draw != .none && !truncated && sets.count == 1 { draw = .none; drawnFrom = 1; bandBest = nil; bandLimit = nil }
        return (AnswerDistribution(draw: draw, drawnFrom: drawnFrom, bandBestKm: bandBest, bandLimitKm: bandLimit,
                                   sets: sets, setsTruncated: truncated, exact: exact), inclusion)
    }

    /// Round-robin: tier k is rotated by `entropy % size_k` (one entropy for every tier), so the
    /// rotations repeat with the sizes' least common multiple; each residue is equally likely.
    static func rotationSets(_ segments: [Segment], limit: Int) -> [PossibleAnswerSet] {
        var period = 1
        for s in segments {
            let c = s.members.count
            period = period / gcd(period, c) * c
            if period > 100_000 { period = 100_000; break }
        }
        var counts: [[IPAddress]: Int] = [:]
        for r in 0..<period {
            var answer: [IPAddress] = []
            for s in segments where answer.count < limit {
                var m = s.members
                if case .rotation = s {
                    let shift = r % m.count
                    m = Array(m[shift...] + m[..<shift])
                }
                answer += m.prefix(limit - answer.count).map(\.address)
            }
            counts[answer.sorted(), default: 0] += 1
        }
        return counts.map { PossibleAnswerSet(addresses: $0.key, probability: Double($0.value) / Double(period)) }
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Every `take`-subset of `m`, equally likely (Fisher–Yates prefix).
    /// `listed` is false when there are too many to list and the entries are per-member inclusions.
    static func uniformSets(_ m: [Candidate], take: Int) -> (sets: [PossibleAnswerSet], listed: Bool) {
        var out: [PossibleAnswerSet] = []
        var total = 1.0
        for i in 0..<take { total = total * Double(m.count - i) / Double(i + 1) }
        if total > Double(AnswerDistribution.maxListedSets * 16) {
            // Too many to list: report inclusion (take/m for everyone) through single-member sets.
            return (m.map { PossibleAnswerSet(addresses: [$0.address], probability: Double(take) / Double(m.count)) }, false)
        }
        func go(_ from: Int, _ chosen: [IPAddress]) {
            if chosen.count == take {
                out.append(PossibleAnswerSet(addresses: chosen, probability: 1 / total))
                return
            }
            guard from < m.count else { return }
            for i in from..<m.count { go(i + 1, chosen + [m[i].address]) }
        }
        go(0, [])
        return (out, true)
    }

    /// Sequential weighted draws without replacement (`weightedShuffle`), as exact set
    /// probabilities by dynamic programming over the drawn subsets; nil when there are too many.
    static func weightedSets(_ m: [Candidate], take: Int) -> [PossibleAnswerSet]? {
        // The last layer holds C(m, take) subsets (the largest for take ≤ m/2); bound it up front.
        var subsets = 1.0
        for i in 0..<take { subsets = subsets * Double(m.count - i) / Double(i + 1) }
        if subsets > 50_000 { return nil }
        let total = m.reduce(0) { $0 + $1.weight }
        var layer: [[Int]: Double] = [[]: 1]
        for _ in 0..<take {
            var next: [[Int]: Double] = [:]
            for (drawn, p) in layer {
                let left = total - drawn.reduce(0) { $0 + m[$1].weight }
                for j in 0..<m.count where !drawn.contains(j) {
                    var key = drawn
                    key.append(j)
                    key.sort()
                    next[key, default: 0] += p * m[j].weight / left
                }
            }
            layer = next
        }
        return layer.map { PossibleAnswerSet(addresses: $0.key.map { m[$0].address }, probability: $0.value) }
    }

    /// The fallback for very large pools: the router's own `weightedShuffle` over 65,536 seeds.
    static func sampledWeightedSets(_ m: [Candidate], take: Int) -> [PossibleAnswerSet] {
        let rounds = 65_536
        var counts: [IPAddress: Int] = [:]
        var scratch = m
        scratch.withUnsafeMutableBufferPointer { buf in
            for seed in 0..<rounds {
                for i in m.indices { buf[i] = m[i] }
                var rng = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15)
                weightedShuffle(buf, 0..<m.count, &rng, picks: take)
                for i in 0..<take { counts[buf[i].address, default: 0] += 1 }
            }
        }
        return counts.map { PossibleAnswerSet(addresses: [$0.key], probability: Double($0.value) / Double(rounds)) }
    }
}
