import DNSWire

/// One backend address in a pool: where it is, how much traffic it takes relative to its
/// equally-near peers, the load at which it spills over, and how it is probed.
public struct PoolMember: Hashable, Sendable {
    /// The address answered in A (IPv4) or AAAA (IPv6) records.
    public var address: IPAddress
    /// Where the backend is.
    public var coordinate: Coordinate
    /// Optional operator label (shown in explanations).
    public var name: String?
    /// Relative share among equally-near members and for the `weighted` policy; finite and > 0.
    public var weight: Double
    /// Load threshold (same unit as `LoadReport.load`): at or above it the member is ranked after
    /// every healthy member with room (spill-over). Nil: never considered full.
    public var capacity: Double?
    /// How the member is probed; nil means no probe (healthy unless forced down).
    public var healthCheck: HealthCheckSpec?

    /// Creates a member. `weight` must be finite and > 0 (checked by `Pool.init`).
    public init(address: IPAddress, coordinate: Coordinate, name: String? = nil, weight: Double = 1,
                capacity: Double? = nil, healthCheck: HealthCheckSpec? = nil) {
        self.address = address
        self.coordinate = coordinate
        self.name = name
        self.weight = weight
        self.capacity = capacity
        self.healthCheck = healthCheck
    }
}

/// GSLB vocabulary alias: a backend is a pool member.
public typealias Backend = PoolMember

/// DNS address family asked for: A records answer IPv4 members, AAAA records IPv6 members.
public enum AddressFamily: String, Hashable, Sendable, CaseIterable {
    /// IPv4 members (query type A).
    case v4
    /// IPv6 members (query type AAAA).
    case v6

    /// The family of `address`.
    public init(of address: IPAddress) {
        switch address {
        case .v4: self = .v4
        case .v6: self = .v6
        }
    }
}

/// One member of one family of a pool, laid out for ranking: position in `Pool.members`, point in
/// radians with cached cosine, weight and capacity. Built once when the pool is built, never per
/// query.
struct MemberEntry: Sendable {
    var memberIndex: Int
    var address: IPAddress
    var point: RadianPoint
    var weight: Double
    var capacity: Double?
}

/// A family's members in file order.
typealias FamilyMembers = [MemberEntry]

/// A pool's precomputed ranking data, shared by every copy of the pool (one reference to retain
/// per query instead of one per array).
final class PoolStorage: Sendable {
    let v4: FamilyMembers
    let v6: FamilyMembers

    init(v4: FamilyMembers, v6: FamilyMembers) {
        self.v4 = v4
        self.v6 = v6
    }
}

/// A named set of backends that can answer a routed name.
public struct Pool: Sendable {
    /// Pool name (`default` for the flat form).
    public let name: String
    /// Members in file order.
    public let members: [PoolMember]

    let storage: PoolStorage

    /// Builds a pool and precomputes its ranking data.
    ///
    /// Throws when the pool is empty, an address repeats, a coordinate is out of range, a weight is
    /// not > 0 or a capacity is not > 0 (the same checks `GeoData.parse` reports with key paths).
    public init(name: String, members: [PoolMember]) throws(GeoDataError) {
        var issues: [GeoDataError.Issue] = []
        let base = GeoData.path("pools", name)
        if members.isEmpty {
            issues.append(.init(code: .emptyPool, path: base, line: nil, message: "pool has no members"))
        }
        var seen = Set<IPAddress>()
        for (i, m) in members.enumerated() {
            let path = "\(base).members[\(i)]"
            if !seen.insert(m.address).inserted {
                issues.append(.init(code: .duplicateAddress, path: path + ".address", line: nil,
                                    message: "duplicate address \(m.address) in the pool"))
            }
            if !(m.coordinate.latitude.isFinite && abs(m.coordinate.latitude) <= 90) {
                issues.append(.init(code: .invalidValue, path: path + ".latitude", line: nil,
                                    message: "must be a number between -90 and 90"))
            }
            if !(m.coordinate.longitude.isFinite && abs(m.coordinate.longitude) <= 180) {
                issues.append(.init(code: .invalidValue, path: path + ".longitude", line: nil,
                                    message: "must be a number between -180 and 180"))
            }
            if !(m.weight.isFinite && m.weight > 0) {
                issues.append(.init(code: .invalidValue, path: path + ".weight", line: nil,
                                    message: "must be a number greater than 0"))
            }
            if let c = m.capacity, !(c.isFinite && c > 0) {
                issues.append(.init(code: .invalidValue, path: path + ".capacity", line: nil,
                                    message: "must be a number greater than 0"))
            }
        }
        if !issues.isEmpty { throw GeoDataError(file: "pool \(name)", issues: issues) }
        self.init(validatedName: name, members: members)
    }

    /// Builds a pool from members already validated by the parser.
    init(validatedName name: String, members: [PoolMember]) {
        self.name = name
        self.members = members
        var v4 = FamilyMembers()
        var v6 = FamilyMembers()
        for (i, m) in members.enumerated() {
            let entry = MemberEntry(memberIndex: i, address: m.address, point: RadianPoint(m.coordinate),
                                    weight: m.weight, capacity: m.capacity)
            switch m.address {
            case .v4: v4.append(entry)
            case .v6: v6.append(entry)
            }
        }
        self.storage = PoolStorage(v4: v4, v6: v6)
    }

    @inline(__always)
    func family(_ f: AddressFamily) -> FamilyMembers {
        switch f {
        case .v4: return storage.v4
        case .v6: return storage.v6
        }
    }

    /// Number of members of `family`.
    public func memberCount(of family: AddressFamily) -> Int {
        self.family(family).count
    }
}

/// Defaults for the fields a `health_check` object in `geo_data.json` leaves out; the config's
/// `health:` section (interval 10s, timeout 2s, rise 2, fall 3).
public struct HealthCheckDefaults: Hashable, Sendable {
    /// Seconds between probes.
    public var interval: Double
    /// Seconds before a probe counts as failed.
    public var timeout: Double
    /// Consecutive successes to come back up.
    public var rise: Int
    /// Consecutive failures to go down.
    public var fall: Int

    /// Creates defaults (the arguments' defaults are the documented ones).
    public init(interval: Double = 10, timeout: Double = 2, rise: Int = 2, fall: Int = 3) {
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
    }
}

/// One probe the health shell runs: an address and its check. Several pools may list the same
/// address; identical (address, check) pairs appear once.
public struct ProbeTarget: Hashable, Sendable {
    /// The backend probed.
    public var address: IPAddress
    /// How it is probed.
    public var spec: HealthCheckSpec

    /// Creates a probe target.
    public init(address: IPAddress, spec: HealthCheckSpec) {
        self.address = address
        self.spec = spec
    }
}

/// All pools from one `geo_data.json`, immutable once built (part of the runtime snapshot).
public struct GeoData: Sendable {
    /// Which of the two file forms the data came from.
    public enum Form: String, Hashable, Sendable {
        /// `{"192.0.2.1": {"latitude": …, "longitude": …}, …}`: one pool named `default`.
        case flat
        /// `{"pools": {"name": {"members": […], "health_check": {…}}}}`.
        case rich
    }

    /// The pool name the flat form loads as.
    public static let defaultPoolName = "default"

    /// The form parsed (`.rich` for data built in code).
    public let form: Form
    /// Pools in file order.
    public let pools: [Pool]
    private let indexByName: [String: Int]
    /// Identifies this geo data (and its copies) so states resolved against it are not used with
    /// another one.
    let identity = GeoDataIdentity()

    /// Builds geo data from pools; throws when two pools share a name or there are none.
    public init(pools: [Pool], form: Form = .rich) throws(GeoDataError) {
        var index: [String: Int] = [:]
        var issues: [GeoDataError.Issue] = []
        if pools.isEmpty {
            issues.append(.init(code: .emptyPool, path: "pools", line: nil, message: "no pools"))
        }
        for (i, p) in pools.enumerated() {
            if index[p.name] != nil {
                issues.append(.init(code: .invalidValue, path: GeoData.path("pools", p.name),
                                    line: nil, message: "duplicate pool name"))
            } else {
                index[p.name] = i
            }
        }
        if !issues.isEmpty { throw GeoDataError(file: "geo data", issues: issues) }
        self.form = form
        self.pools = pools
        self.indexByName = index
    }

    /// Builds from pools whose names are known unique.
    init(validatedPools pools: [Pool], form: Form) {
        var index: [String: Int] = [:]
        for (i, p) in pools.enumerated() { index[p.name] = i }
        self.form = form
        self.pools = pools
        self.indexByName = index
    }

    /// The pool called `name`, if any.
    public func pool(named name: String) -> Pool? {
        guard let i = indexByName[name] else { return nil }
        return pools[i]
    }

    /// Position of the pool called `name` in `pools`.
    func poolIndex(named name: String) -> Int? {
        indexByName[name]
    }

    /// Every distinct (address, health check) pair to probe, in file order. Members without a
    /// check are not listed (they are healthy unless forced down).
    public var probeTargets: [ProbeTarget] {
        var seen = Set<ProbeTarget>()
        var out: [ProbeTarget] = []
        for pool in pools {
            for m in pool.members {
                guard let spec = m.healthCheck else { continue }
                let t = ProbeTarget(address: m.address, spec: spec)
                if seen.insert(t).inserted { out.append(t) }
            }
        }
        return out
    }

    /// A key as it appears in a key path: bare when it is a plain identifier, else quoted in
    /// brackets (`["192.0.2.1"]`).
    static func keySegment(_ key: String) -> String {
        let plain = !key.isEmpty && key.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
                || c == UInt8(ascii: "-")
        }
        return plain ? key : "[\"\(key)\"]"
    }

    /// `base` extended by object key `key` (`pools.web`, `pools["a.b"]`, `["192.0.2.1"]`).
    static func path(_ base: String, _ key: String) -> String {
        let seg = keySegment(key)
        if base.isEmpty { return seg }
        return seg.hasPrefix("[") ? base + seg : base + "." + seg
    }
}

/// Identity token of one `GeoData` value (shared by its copies).
final class GeoDataIdentity: Sendable {}
