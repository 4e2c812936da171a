import DNSWire

/// One configured pool as the admin API shows it; the composition root builds these from the live
/// configuration (`GET /state` lists every pool and member in this order).
public struct PoolView: Hashable, Sendable {
    /// Pool name (`default` for the flat geo_data form).
    public var name: String
    /// The pool's members.
    public var members: [MemberView]

    /// Creates a pool view.
    public init(name: String, members: [MemberView]) {
        self.name = name
        self.members = members
    }
}

/// One configured pool member (backend) as the admin API shows it.
public struct MemberView: Hashable, Sendable {
    /// The backend's address (the key of its state).
    public var address: IPAddress
    /// Optional human name from geo_data.
    public var name: String?
    /// Latitude in degrees.
    public var latitude: Double
    /// Longitude in degrees.
    public var longitude: Double
    /// Relative weight within the tie band.
    public var weight: Double
    /// Load threshold above which `nearest` spills over, if configured.
    public var capacity: Double?
    /// True when the member has a health check (else its probe health is shown as `unchecked`).
    public var hasHealthCheck: Bool

    /// Creates a member view.
    public init(address: IPAddress, name: String? = nil, latitude: Double, longitude: Double,
                weight: Double = 1, capacity: Double? = nil, hasHealthCheck: Bool = false) {
        self.address = address
        self.name = name
        self.latitude = latitude
        self.longitude = longitude
        self.weight = weight
        self.capacity = capacity
        self.hasHealthCheck = hasHealthCheck
    }
}
