import DNSWire
// Silo, DDNSRecord and DDNSChange live in the pure engine (QueryEngine/DDNSModel.swift), which
// serves them; everything that imports DDNS sees them too.
@_exported import QueryEngine

/// The DNS side of the service: it applies committed changes to the table the query path reads.
/// `version` increases with every committed change in the store (shared by all nodes on a shared
/// store), so every node derives the same DDNS zone SOA serial from it.
public protocol DDNSPublisher: Sendable {
    func apply(_ changes: [DDNSChange], version: UInt64)
}

/// Names a silo may not use beyond the API's own checks (supplied by the server from its current
/// data): e.g. a routed name, or an absolute name outside `ddns.allow_names_in`. Returns why the
/// name is refused (the 400 message), or nil when it is fine.
public protocol DDNSNamePolicy: Sendable {
    func refusal(for name: DomainName) -> String?
}
