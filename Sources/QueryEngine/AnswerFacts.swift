import DNSWire
import GeoRouting

/// Where a routed answer's client was placed, as metrics and the query log report it.
public enum PlacementKind: UInt8, Sendable, CaseIterable {
    /// Not a routed answer (nothing was placed).
    case none = 0
    /// A CIDR override from config.
    case override = 1
    /// The offline database.
    case database = 2
    /// The ipstack API (its cache or a lookup).
    case ipstack = 3
    /// Nothing knew the address (the answer fell back to the zone or to the pool's order).
    case unplaced = 4

    init(_ source: LocationSource) {
        switch source {
        case .override: self = .override
        case .database: self = .database
        case .ipstack: self = .ipstack
        }
    }

    init(_ placement: Placement) {
        if case .located(let l) = placement { self.init(l.source) } else { self = .unplaced }
    }

    /// The label value (`proxima_client_placements_total{source=…}`, the log's `placement`).
    public var label: String {
        switch self {
        case .none: return "none"
        case .override: return "override"
        case .database: return "database"
        case .ipstack: return "ipstack"
        case .unplaced: return "unplaced"
        }
    }
}

/// What the response rate limiter did with the last UDP answer.
public enum RateLimitOutcome: UInt8, Sendable {
    case none = 0
    case drop = 1
    /// Answered truncated (TC=1) instead of dropped (RRL "slip").
    case slip = 2
}

/// Facts about the last `AnswerCache.answer` that only the answering code knows, for the worker's
/// metrics and query-log step (DESIGN §4: the cross-cutting step reads them right after the answer,
/// on the same thread). Plain values: setting them costs a few stores per query.
public struct AnswerFacts: Sendable {
    /// `AnswerFacts.nameHash` of the routed name whose pool answered (0: no pool answer).
    public var routeNameHash: UInt64 = 0
    /// Where the client was placed, for a routed name.
    public var placement: PlacementKind = .none
    /// What the rate limiter did.
    public var rateLimit: RateLimitOutcome = .none

    public init() {}

    /// FNV-1a over a name's lowercased wire form: how routed names are identified in per-thread
    /// counters (the scrape hashes the configured routed names the same way to label them).
    @inline(__always)
    public static func nameHash(_ p: UnsafeRawBufferPointer, from start: Int, count: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for j in start..<(start + count) {
            var b = p[j]
            if b >= 0x41 && b <= 0x5a { b |= 0x20 }
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3
        }
        return h == 0 ? 1 : h
    }

    /// The same hash of a parsed name.
    public static func nameHash(_ name: DomainName) -> UInt64 {
        let wire = name.lowercased().wire
        return wire.withUnsafeBytes { nameHash($0, from: 0, count: $0.count) }
    }
}
