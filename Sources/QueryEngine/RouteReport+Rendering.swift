import DNSWire
import Foundation
import GeoRouting

/// A JSON-friendly view of a `RouteReport` (stable field names; used by `proxima route --json`
/// and the admin API's `/route`).
public struct RouteReportDocument: Codable, Sendable, Equatable {
    public struct Placement: Codable, Sendable, Equatable {
        public var source: String
        public var latitude: Double?
        public var longitude: Double?
        public var network: String?
        public var country: String?
        public var continent: String?
        public var city: String?
        public var label: String?
        public var accuracyRadiusKm: Int?
    }

    public struct Member: Codable, Sendable, Equatable {
        public var pool: String
        public var address: String
        public var name: String?
        public var latitude: Double
        public var longitude: Double
        public var distanceKm: Double?
        public var healthy: Bool
        public var probeHealthy: Bool
        public var forced: String?
        public var load: Double?
        public var weight: Double
        public var capacity: Double?
        public var overCapacity: Bool
        public var rank: Int?
        public var chosen: Bool
        /// Probability per query that this member is in the answer.
        public var answerProbability: Double?
    }

    /// One address that can be answered, with the probability it is in the answer per query.
    public struct PossibleAnswer: Codable, Sendable, Equatable {
        public var address: String
        public var probability: Double
    }

    /// One answer set that can be served (addresses in address order), with its probability.
    public struct PossibleAnswerSet: Codable, Sendable, Equatable {
        public var addresses: [String]
        public var probability: Double
    }

    public var name: String
    public var type: String
    public var client: String
    public var ecs: String?
    public var placement: Placement
    public var pool: String
    public var policy: String
    public var tieBand: Double
    public var allDown: String
    public var failedOpen: Bool
    public var usedFallback: Bool
    public var outcome: String
    /// One draw of the answer (the explanation's entropy); equal to the answer of every query only
    /// when `deterministic`. Compare `dig` with `possibleAnswers` / `possibleAnswerSets`.
    public var answers: [String]
    public var ttl: UInt32
    public var ecsScope: UInt8?
    public var members: [Member]
    /// True when every query from this client gets the same answer now.
    public var deterministic: Bool?
    /// How the answer is chosen per query: none, tie-band, weighted, uniform, rotation.
    public var draw: String?
    /// Why members are drawn, in words (e.g. "2 members within 5% of the nearest (2989.0 km)").
    public var drawReason: String?
    /// Every address that can be answered to this client now, with its probability per query.
    public var possibleAnswers: [PossibleAnswer]?
    /// Every answer set that can be served, with its probability (omitted when too many to list).
    public var possibleAnswerSets: [PossibleAnswerSet]?
    /// True when the probabilities are exact (false: estimated by running the draw many times).
    public var probabilitiesExact: Bool?
}

extension RouteReport {
    /// The document form of this report.
    public var document: RouteReportDocument {
        var placement = RouteReportDocument.Placement(source: "unknown")
        switch location {
        case .located(let l):
            placement = .init(source: l.source.rawValue, latitude: l.coordinate.latitude, longitude: l.coordinate.longitude,
                              network: l.network.description, country: l.countryCode, continent: l.continentCode,
                              city: l.city, label: l.label, accuracyRadiusKm: l.accuracyRadiusKm)
        case .unknown(let n):
            placement.network = n?.description
        case .needsRemote:
            placement.source = "needs-remote-lookup"
        }
        var members: [RouteReportDocument.Member] = []
        for p in decision.explanation?.pools ?? [] {
            for m in p.members {
                members.append(.init(pool: p.pool, address: m.address.description, name: m.name,
                                     latitude: m.coordinate.latitude, longitude: m.coordinate.longitude,
                                     distanceKm: m.distanceKm.map { ($0 * 10).rounded() / 10 }, healthy: m.healthy,
                                     probeHealthy: m.probeHealthy, forced: m.forced?.rawValue, load: m.load,
                                     weight: m.weight, capacity: m.capacity, overCapacity: m.overCapacity,
                                     rank: m.rank, chosen: m.chosen, answerProbability: m.answerProbability))
            }
        }
        // What the answer can be: the answering ranking's distribution (the last one consulted),
        // the zone's own RRset for a zone fallback, nothing for SERVFAIL.
        typealias Possible = RouteReportDocument.PossibleAnswer
        typealias PossibleSet = RouteReportDocument.PossibleAnswerSet
        var possible: [Possible] = []
        var sets: [PossibleSet]?
        var draw = DrawKind.none
        var reason: String?
        var exact = true
        var deterministic = true
        switch outcome {
        case .pool:
            if let ranking = decision.explanation?.pools.last, let dist = ranking.distribution {
                draw = dist.draw
                exact = dist.exact
                deterministic = dist.isDeterministic
                for m in ranking.members where m.answerProbability > 0 {
                    possible.append(Possible(address: m.address.description, probability: m.answerProbability))
                }
                possible.sort { (a: Possible, b: Possible) -> Bool in
                    a.probability != b.probability ? a.probability > b.probability : a.address < b.address
                }
                if !dist.setsTruncated {
                    sets = dist.sets.map { (s: GeoRouting.PossibleAnswerSet) -> PossibleSet in
                        PossibleSet(addresses: s.addresses.map(\.description), probability: s.probability)
                    }
                }
                reason = Self.drawReason(dist, policy: route.policy, tieBand: route.effectiveTieBand,
                                         answers: route.answerLimit)
            } else {
                possible = answers.map { Possible(address: $0.description, probability: 1) }
                sets = [PossibleSet(addresses: answers.sorted().map(\.description), probability: 1)]
            }
        case .zoneFallback:
            possible = zoneAnswers.map { Possible(address: $0.description, probability: 1) }
            sets = [PossibleSet(addresses: zoneAnswers.sorted().map(\.description), probability: 1)]
        case .servfail:
            sets = []
        }
        let outcomeText: String
        switch outcome {
        case .pool: outcomeText = "pool"
        case .zoneFallback(let reason): outcomeText = "zone-fallback: \(reason)"
        case .servfail: outcomeText = "servfail"
        }
        return RouteReportDocument(
            name: name.description, type: type.description, client: clientAddress.description,
            ecs: clientSubnet.map { "\($0.address)/\($0.sourcePrefixLength)" }, placement: placement,
            pool: decision.answeringPool ?? route.pool, policy: route.policy.rawValue, tieBand: route.tieBand,
            allDown: route.allDown.configName, failedOpen: decision.failedOpen, usedFallback: decision.usedFallback,
            outcome: outcomeText, answers: answers.map(\.description), ttl: ttl, ecsScope: ecsScope, members: members,
            deterministic: deterministic, draw: draw.rawValue, drawReason: reason, possibleAnswers: possible,
            possibleAnswerSets: sets, probabilitiesExact: exact)
    }

    /// The draw in words.
    static func drawReason(_ d: AnswerDistribution, policy: RoutePolicy, tieBand: Double, answers: Int) -> String? {
        let subset = answers > 1 ? "\(answers) answers" : "1 answer"
        switch d.draw {
        case .none:
            return nil
        case .tieBand:
            let pct = Self.percent(tieBand)
            var text = "\(d.drawnFrom) members within \(pct) of the nearest"
            if let best = d.bandBestKm, let limit = d.bandLimitKm {
                text += String(format: " (%.1f km; the band ends at %.1f km)", best, limit)
            }
            return text + " are equally near: \(subset) drawn by weight per query"
        case .weighted:
            return policy == .nearest
                ? "client location unknown: \(subset) drawn by weight per query from \(d.drawnFrom) members"
                : "policy weighted: \(subset) drawn by weight per query from \(d.drawnFrom) members"
        case .uniform:
            return "policy random: \(subset) drawn uniformly per query from \(d.drawnFrom) members"
        case .rotation:
            // The server's per-query entropy picks the starting turn, so every start is equally likely.
            return "policy round-robin: the \(d.drawnFrom) members take turns in file order (rank = turn); each query starts at one of the \(d.drawnFrom) turns, equally often"
        }
    }

    static func percent(_ fraction: Double) -> String {
        let p = fraction * 100
        return p == p.rounded() ? "\(Int(p))%" : String(format: "%.1f%%", p)
    }

    /// Pretty JSON of `document`.
    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? enc.encode(document) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Human-readable explanation, as `proxima route` prints it.
    public func text() -> String { RouteReportDocument.renderText(document) }
}

extension RouteReportDocument {
    /// Human-readable form of a report document (also used for documents fetched from the admin API).
    public static func renderText(_ d: RouteReportDocument) -> String {
        var out: [String] = []
        out.append("name:      \(d.name) \(d.type)")
        out.append("client:    \(d.client)" + (d.ecs.map { "  (ECS \($0))" } ?? ""))
        var place = "placed:    by \(d.placement.source)"
        if let lat = d.placement.latitude, let lon = d.placement.longitude {
            place += String(format: " at %.4f, %.4f", lat, lon)
        }
        if let n = d.placement.network { place += " (network \(n))" }
        let where_ = [d.placement.city, d.placement.country, d.placement.continent, d.placement.label].compactMap { $0 }
        if !where_.isEmpty { place += " — " + where_.joined(separator: ", ") }
        out.append(place)
        out.append("pool:      \(d.pool)  policy \(d.policy)  tie band \(Int((d.tieBand * 100).rounded()))%  all-down \(d.allDown)"
                   + (d.failedOpen ? "  [ALL DOWN: failing open]" : "") + (d.usedFallback ? "  [fallback pool]" : ""))
        out.append("members:")
        let showP = d.possibleAnswers != nil
        out.append("   rank  address                                  name          distance km  health   load    weight  capacity"
                   + (showP ? "  P(answered)" : ""))
        // Members drawn among share one rank, marked `=` (their order differs per query).
        let drawn = d.members.filter { ($0.answerProbability ?? 0) > 0 && ($0.answerProbability ?? 0) < 1 }
        // (Round-robin keeps its ranks: they are the members' turns.)
        let tiedRank = d.deterministic == false && d.draw != DrawKind.rotation.rawValue ? drawn.compactMap(\.rank).min() : nil
        for m in d.members {
            let p0 = m.answerProbability ?? 0
            var rank = m.rank.map { String($0 + 1) } ?? "-"
            if let tiedRank, p0 > 0 && p0 < 1 { rank = "\(tiedRank + 1)=" }
            let dist = m.distanceKm.map { String(format: "%.1f", $0) } ?? "?"
            var health = m.healthy ? "up" : "down"
            if let f = m.forced { health += "(forced \(f))" }
            let load = m.load.map { String(format: "%.2f", $0) } ?? "-"
            let cap = m.capacity.map { String(format: "%.2f", $0) + (m.overCapacity ? " FULL" : "") } ?? "-"
            // `*`: always answered; `~`: answered on some queries (see P); blank: never now.
            let p = m.answerProbability ?? (m.chosen ? 1 : 0)
            let mark = showP ? (p >= 1 ? "*" : p > 0 ? "~" : " ") : (m.chosen ? "*" : " ")
            let pText = showP ? "  " + Self.probability(p) : ""
            out.append(" \(mark) \(rank.padding(toLength: 5, withPad: " ", startingAt: 0)) \(m.address.padding(toLength: 40, withPad: " ", startingAt: 0)) \((m.name ?? "-").padding(toLength: 13, withPad: " ", startingAt: 0)) \(dist.padding(toLength: 12, withPad: " ", startingAt: 0)) \(health.padding(toLength: 8, withPad: " ", startingAt: 0)) \(load.padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(format: "%.2f", m.weight).padding(toLength: 7, withPad: " ", startingAt: 0)) \(cap.padding(toLength: 9, withPad: " ", startingAt: 0))\(pText)")
        }
        out.append("outcome:   \(d.outcome)")
        if let possible = d.possibleAnswers {
            if possible.isEmpty {
                out.append("answer:    (none)  TTL \(d.ttl)")
            } else if d.deterministic ?? true {
                out.append("answer:    " + possible.map(\.address).joined(separator: ", ")
                           + "  (every query: one answer, no draw)  TTL \(d.ttl)")
            } else {
                out.append("answer:    drawn per query" + ((d.probabilitiesExact ?? true) ? "" : " (probabilities estimated)")
                           + "  TTL \(d.ttl)")
                if let reason = d.drawReason { out.append("  why:     \(reason)") }
                if let sets = d.possibleAnswerSets, sets.contains(where: { $0.addresses.count > 1 }) {
                    for set in sets {
                        out.append("  \(Self.probability(set.probability).padding(toLength: 8, withPad: " ", startingAt: 0)) "
                                   + set.addresses.joined(separator: ", "))
                    }
                } else {
                    for a in possible {
                        out.append("  \(Self.probability(a.probability).padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.address)")
                    }
                }
                out.append("  (`dig` gets any of these; \(d.answers.joined(separator: ", ")) is just one draw)")
            }
        } else {
            out.append("answer:    " + (d.answers.isEmpty ? "(none)" : d.answers.joined(separator: ", ")) + "  TTL \(d.ttl)")
        }
        if let s = d.ecsScope { out.append("ECS scope: /\(s)") }
        return out.joined(separator: "\n")
    }

    /// A probability as a percentage with enough digits to tell 49.7% from 50%.
    static func probability(_ p: Double) -> String {
        if p >= 1 { return "100%" }
        if p <= 0 { return "0%" }
        return String(format: "%.1f%%", p * 100)
    }
}
