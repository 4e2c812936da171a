import DNSWire

/// The zones one server is authoritative for, selected by longest matching origin (DESIGN §2
/// step 3). Immutable and Sendable: part of the runtime snapshot.
public struct ZoneSet: Sendable {
    /// The zones, in the order given.
    public let zones: [Zone]
    /// Zones by origin (case-insensitive).
    let byOrigin: [DomainName: Zone]
    /// Most labels of any origin: QNAME labels beyond this can be skipped at once.
    let maxOriginLabels: Int

    /// An empty set: every query is outside our authority.
    public static let empty = ZoneSet(checked: [])

    /// Creates a set; two zones with the same origin are an error (`.duplicateZone`).
    public init(_ zones: [Zone]) throws(ZoneError) {
        var seen: Set<DomainName> = []
        var issues: [ZoneIssue] = []
        for z in zones where !seen.insert(z.origin).inserted {
            issues.append(ZoneIssue(.duplicateZone, file: "\(z.origin)", line: nil, "zone \(z.origin) is loaded twice"))
        }
        guard issues.isEmpty else { throw ZoneError(issues: issues) }
        self.init(checked: zones)
    }

    private init(checked zones: [Zone]) {
        self.zones = zones
        var map: [DomainName: Zone] = [:]
        for z in zones { map[z.origin] = z }
        self.byOrigin = map
        self.maxOriginLabels = zones.map { $0.origin.labelCount }.max() ?? 0
    }

    /// The zone whose origin is the longest suffix of `qname`, or nil (the engine answers REFUSED).
    /// Cost: one hash probe per label from min(labels, deepest origin) up to the root.
    public func zone(for qname: DomainName) -> Zone? {
        guard !byOrigin.isEmpty else { return nil }
        let extra = qname.labelCount - maxOriginLabels
        var name: DomainName? = extra > 0 ? qname.droppingLabels(extra) : qname
        while let n = name {
            if let z = byOrigin[n] { return z }
            name = n.parent
        }
        return nil
    }
}
