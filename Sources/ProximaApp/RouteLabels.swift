import DNSWire
import GeoRouting
import QueryEngine

/// Names the routed answers the query threads count by (name hash, address): the routed name, the
/// pool that answered and the member. Built from a snapshot when metrics are scraped or log lines
/// written, never on the query path.
public struct RouteLabels: Sendable {
    public struct Label: Sendable, Hashable {
        public var name: String
        public var pool: String
        public var member: String
    }

    fileprivate var names: [UInt64: (name: String, pools: [String])] = [:]
    fileprivate var members: [String: [IPAddress: String]] = [:]

    public init(snapshot: EngineSnapshot) {
        for pool in snapshot.geoData?.pools ?? [] {
            var m: [IPAddress: String] = [:]
            for member in pool.members { m[member.address] = member.name ?? member.address.description }
            members[pool.name] = m
        }
        for (name, route) in snapshot.routes {
            var pools = [route.pool]
            if case .fallback(let p) = route.allDown { pools.append(p) }
            names[AnswerFacts.nameHash(name)] = (name.description, pools)
        }
    }

    /// The label of an answer of `address` for the routed name hashed as `nameHash`; nil when the
    /// name is no longer routed (counted before a reload). An address no pool of the route holds
    /// keeps its pool label empty and is named by its address.
    public func label(nameHash: UInt64, address: IPAddress) -> Label? {
        guard let n = names[nameHash] else { return nil }
        for pool in n.pools {
            if let member = members[pool]?[address] { return Label(name: n.name, pool: pool, member: member) }
        }
        return Label(name: n.name, pool: "", member: address.description)
    }
}

extension RouteLabels {
    /// The same labels in the query log's pre-encoded JSON form.
    public var queryLog: QueryLogLabels {
        QueryLogLabels(routes: names.map { (nameHash: $0.key, name: $0.value.name, pools: $0.value.pools) },
                       members: members)
    }
}
