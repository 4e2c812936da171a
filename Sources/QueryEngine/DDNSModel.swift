import DNSWire

// The dynamic DNS model (issue #9), in the pure engine because both sides use it: the DDNS
// module (validation, stores, API) produces these values and `DDNSTable` serves them.

/// One record of a silo: `hostname` is a single DNS label (served as `hostname.<silo>.<ddns zone>`)
/// or an absolute name ending in "." inside a zone listed in `ddns.allow_names_in`. An IPv4
/// address is an A record, an IPv6 address an AAAA record.
public struct DDNSRecord: Sendable, Hashable {
    public var hostname: String
    public var address: IPAddress
    /// Nil: the configured default (`ddns.default_ttl`).
    public var ttl: UInt32?

    public init(hostname: String, address: IPAddress, ttl: UInt32? = nil) {
        self.hostname = hostname
        self.address = address
        self.ttl = ttl
    }
}

/// A named group of records, the unit of ownership, update and authorization.
public struct Silo: Sendable, Hashable {
    /// A single DNS label (letters, digits, hyphen; 1...63 octets), compared case-insensitively
    /// and stored lowercased.
    public var id: String
    public var records: [DDNSRecord]

    public init(id: String, records: [DDNSRecord]) {
        self.id = id
        self.records = records
    }
}

/// A committed change as the DNS side needs it. The store emits these after each commit (its own
/// or, for a shared store, another node's) and `replaceAll` at start and on every resync.
public enum DDNSChange: Sendable, Hashable {
    case replaceAll([Silo])
    case upsert(Silo)
    case delete(id: String)
}
