/// `BackendStates` laid out for one `GeoData`: every pool member's health and last load in an array
/// aligned with the pool's members, so ranking a query reads an array instead of hashing each
/// member's address.
///
/// Build one whenever either the states or the geo data change (the health/load shell publishes
/// states far less often than queries arrive), and pass it to `Router.decide`. Used with a
/// different `GeoData` than it was built for, it is still correct: `Router.decide` notices and
/// falls back to address lookups in `states`.
public struct ResolvedBackendStates: Sendable {
    /// The states this was built from (used for explanations and as the fallback).
    public let states: BackendStates
    let identity: GeoDataIdentity
    /// Per pool (in `GeoData.pools` order): per family, one entry per member slot.
    let v4: [[MemberState]]
    let v6: [[MemberState]]

    /// Resolves `states` against the members of every pool of `geoData`.
    public init(_ states: BackendStates, for geoData: GeoData) {
        self.states = states
        identity = geoData.identity
        func resolve(_ members: FamilyMembers) -> [MemberState] {
            members.map { entry in
                let status = states.status(of: entry.address)
                return MemberState(healthy: status.isHealthy, load: status.lastLoad?.load ?? .nan,
                                   receivedAt: status.lastLoad?.receivedAt ?? -.infinity)
            }
        }
        v4 = geoData.pools.map { resolve($0.storage.v4) }
        v6 = geoData.pools.map { resolve($0.storage.v6) }
    }

    /// The slot-aligned states of pool `index` for `family`, if this was built for `geoData`.
    @inline(__always)
    func members(of geoData: GeoData, pool index: Int, family: AddressFamily) -> [MemberState]? {
        guard identity === geoData.identity else { return nil }
        switch family {
        case .v4: return v4[index]
        case .v6: return v6[index]
        }
    }
}

/// One member's effective health and last load report (NaN load: none).
struct MemberState: Sendable {
    var healthy: Bool
    var load: Double
    var receivedAt: Double
}
