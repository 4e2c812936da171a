import DNSWire

/// One authoritative zone: validated, indexed, immutable (safe to share across threads).
///
/// Build one with `ZoneParser.parse(text:file:origin:)` or `Zone(origin:records:)`. Everything a
/// query needs is precomputed here: the RRsets per owner name (hash lookup, case-insensitive per
/// RFC 4343), the set of existing names including empty non-terminals, the zone cuts with their
/// glue, and which names are occluded by a cut. See `lookup(_:_:)` for answering.
public final class Zone: Sendable, CustomStringConvertible {
    /// The zone apex.
    public let origin: DomainName
    /// The apex SOA record.
    public let soa: ResourceRecord
    /// The apex SOA fields.
    public let soaData: SOAData
    /// Problems that did not prevent loading (occluded data, missing glue, TTL differences…).
    public let warnings: [ZoneIssue]
    /// Number of records after de-duplication.
    public let recordCount: Int

    /// RRsets by owner name (DomainName equality and hashing ignore ASCII case).
    let nodes: [DomainName: ZoneNode]
    /// Every name that exists: owners of data and their ancestors up to the apex, which covers
    /// empty non-terminals (RFC 8020: a name with descendants exists).
    let existingNames: Set<DomainName>
    /// Zone cuts below the apex (the highest cut on each branch), with NS RRset and glue.
    let delegations: [DomainName: Delegation]
    /// Names at or below a zone cut: their data is not ours to serve (RFC 1034 §4.2.1).
    let occludedNames: Set<DomainName>
    /// Occluded names that are NS targets: their A/AAAA records are glue and may be handed out.
    let glueNames: Set<DomainName>
    /// `origin.labelCount`, kept for the label walk in `lookup`.
    let originLabelCount: Int

    /// The NS RRset and glue of one zone cut, precomputed at build time.
    struct Delegation: Sendable {
        let ns: [ResourceRecord]
        let glue: [ResourceRecord]
    }

    /// Builds and validates a zone from records (owners must be absolute). `file` only labels
    /// messages. Throws every validation issue at once; warnings end up in `warnings`.
    public convenience init(origin: DomainName, records: [ResourceRecord], file: String = "<records>") throws(ZoneError) {
        try self.init(origin: origin, located: records.map { LocatedRecord(record: $0, line: nil) },
                      file: file, issues: [], warnings: [])
    }

    /// Builds from parsed records, adding validation issues to those the parser found.
    init(origin: DomainName, located: [LocatedRecord], file: String, issues: [ZoneIssue],
         warnings: [ZoneIssue]) throws(ZoneError) {
        var builder = ZoneBuilder(origin: origin, file: file, issues: issues, warnings: warnings)
        let built = try builder.build(located)
        self.origin = origin
        self.soa = built.soa
        self.soaData = built.soaData
        self.warnings = built.warnings
        self.recordCount = built.recordCount
        self.nodes = built.nodes
        self.existingNames = built.existingNames
        self.delegations = built.delegations
        self.occludedNames = built.occludedNames
        self.glueNames = built.glueNames
        self.originLabelCount = origin.labelCount
    }

    /// The negative-caching TTL: min(SOA TTL, SOA MINIMUM) (RFC 2308 §3, §5).
    public var negativeTTL: UInt32 { min(soa.ttl, soaData.minimum) }

    /// The SOA record to put in the authority section of NXDOMAIN/NODATA answers, with its TTL
    /// lowered to `negativeTTL` (RFC 2308 §3).
    public var negativeSOA: ResourceRecord {
        ResourceRecord(name: soa.name, rclass: soa.rclass, ttl: negativeTTL, rdata: soa.rdata)
    }

    /// The apex NS records.
    public var apexNS: [ResourceRecord] { nodes[origin]?.rrset(.ns)?.records ?? [] }

    /// The records of exactly `name` and `type` as stored: no wildcard, CNAME or delegation
    /// processing (use `lookup` to answer queries).
    public func records(at name: DomainName, type: RecordType) -> [ResourceRecord] {
        nodes[name]?.rrset(type)?.records ?? []
    }

    /// All RRsets at `name` as stored, in the order their types first appeared.
    public func rrsets(at name: DomainName) -> [RRset] {
        nodes[name]?.rrsets ?? []
    }

    /// True when `name` exists in the zone: it owns data or is an empty non-terminal.
    public func exists(_ name: DomainName) -> Bool {
        existingNames.contains(name)
    }

    /// The zone cut `name` is at or below, if any (never the apex).
    public func enclosingDelegation(of name: DomainName) -> DomainName? {
        guard name.isSubdomain(of: origin) else { return nil }
        var n = name
        while n.labelCount > originLabelCount {
            if delegations[n] != nil { return n }
            guard let p = n.parent else { break }
            n = p
        }
        return nil
    }

    /// A and AAAA records at `name` for additional-section processing (RFC 1034 §4.3.2 step 6):
    /// empty outside the zone, and for names at or below a zone cut unless they are glue (an NS
    /// target). Exact names only; wildcards are not expanded here.
    public func addresses(of name: DomainName) -> [ResourceRecord] {
        guard let node = nodes[name] else { return [] }
        if occludedNames.contains(name) && !glueNames.contains(name) { return [] }
        return (node.rrset(.a)?.records ?? []) + (node.rrset(.aaaa)?.records ?? [])
    }

    /// Every record: the SOA first, then by owner in canonical order (RFC 4034 §6.1), RRsets in
    /// the order their types appeared. Occluded data is included (it is part of the zone file).
    public func allRecords() -> [ResourceRecord] {
        var out = [soa]
        for name in nodes.keys.sorted() {
            guard let node = nodes[name] else { continue }
            for set in node.rrsets where !(set.type == .soa && name == origin) {
                out.append(contentsOf: set.records)
            }
        }
        return out
    }

    /// `Zone(example.test., 42 records)`.
    public var description: String { "Zone(\(origin), \(recordCount) records)" }
}
