import DNSWire

/// All records of one owner name and type (RFC 2181 §5): one TTL, no duplicates, in the order
/// they were written.
public struct RRset: Hashable, Sendable {
    /// The owner name, as first written.
    public let name: DomainName
    /// The record type.
    public let type: RecordType
    /// The RRset's TTL: the first record's, applied to all (RFC 2181 §5.2, as Knot does).
    public let ttl: UInt32
    /// The records, each with `name` and `ttl` above.
    public let records: [ResourceRecord]

    /// Creates an RRset from records that already share owner, type and TTL.
    init(name: DomainName, type: RecordType, ttl: UInt32, records: [ResourceRecord]) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.records = records
    }

    /// The records with their owner replaced by `owner` (wildcard synthesis, RFC 4592 §3.3.1).
    func records(owner: DomainName) -> [ResourceRecord] {
        records.map { ResourceRecord(name: owner, rclass: $0.rclass, ttl: $0.ttl, rdata: $0.rdata) }
    }
}

/// The RRsets at one owner name. Types are few per name, so a linear scan beats hashing.
struct ZoneNode: Sendable {
    /// RRsets in the order their types first appeared.
    var rrsets: [RRset]

    func rrset(_ type: RecordType) -> RRset? {
        rrsets.first { $0.type == type }
    }

    func has(_ type: RecordType) -> Bool {
        rrsets.contains { $0.type == type }
    }
}
