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
    public var answers: [String]
    public var ttl: UInt32
    public var ecsScope: UInt8?
    public var members: [Member]
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
                                     rank: m.rank, chosen: m.chosen))
            }
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
            outcome: outcomeText, answers: answers.map(\.description), ttl: ttl, ecsScope: ecsScope, members: members)
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
        out.append("   rank  address                                  name          distance km  health   load    weight  capacity")
        for m in d.members {
            let rank = m.rank.map { String($0 + 1) } ?? "-"
            let dist = m.distanceKm.map { String(format: "%.1f", $0) } ?? "?"
            var health = m.healthy ? "up" : "down"
            if let f = m.forced { health += "(forced \(f))" }
            let load = m.load.map { String(format: "%.2f", $0) } ?? "-"
            let cap = m.capacity.map { String(format: "%.2f", $0) + (m.overCapacity ? " FULL" : "") } ?? "-"
            let mark = m.chosen ? "*" : " "
            out.append(" \(mark) \(rank.padding(toLength: 5, withPad: " ", startingAt: 0)) \(m.address.padding(toLength: 40, withPad: " ", startingAt: 0)) \((m.name ?? "-").padding(toLength: 13, withPad: " ", startingAt: 0)) \(dist.padding(toLength: 12, withPad: " ", startingAt: 0)) \(health.padding(toLength: 8, withPad: " ", startingAt: 0)) \(load.padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(format: "%.2f", m.weight).padding(toLength: 7, withPad: " ", startingAt: 0)) \(cap)")
        }
        out.append("outcome:   \(d.outcome)")
        out.append("answer:    " + (d.answers.isEmpty ? "(none)" : d.answers.joined(separator: ", ")) + "  TTL \(d.ttl)")
        if let s = d.ecsScope { out.append("ECS scope: /\(s)") }
        return out.joined(separator: "\n")
    }
}
