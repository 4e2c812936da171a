import DNSWire
import GeoRouting

/// The `GET /state` document: every pool and member with its live status.
struct StateDocument: Encodable {
    /// Seconds after which a load report counts as unknown (`health.load_max_age`).
    var loadMaxAgeSeconds: Double
    var pools: [PoolState]

    enum CodingKeys: String, CodingKey {
        case loadMaxAgeSeconds = "load_max_age_seconds"
        case pools
    }

    /// Joins the configured layout with the store's statuses at `now`.
    init(pools: [PoolView], states: BackendStates, now: Double, loadMaxAge: Double) {
        loadMaxAgeSeconds = loadMaxAge
        self.pools = pools.map { pool in
            PoolState(name: pool.name, members: pool.members.map {
                MemberState(view: $0, status: states.status(of: $0.address), now: now, maxAge: loadMaxAge)
            })
        }
    }
}

/// One pool in `GET /state`.
struct PoolState: Encodable {
    var name: String
    var members: [MemberState]
}

/// One member in `GET /state`; absent values are encoded as JSON `null`, so every key is always
/// present.
struct MemberState: Encodable {
    var view: MemberView
    var status: BackendStatus
    var now: Double
    var maxAge: Double

    enum CodingKeys: String, CodingKey {
        case name, address, latitude, longitude, weight, capacity
        case health, probeHealth = "probe_health", forced
        case load, loadAgeSeconds = "load_age_seconds", stale
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(view.name, forKey: .name)
        try c.encode(view.address.description, forKey: .address)
        try c.encode(view.latitude, forKey: .latitude)
        try c.encode(view.longitude, forKey: .longitude)
        try c.encode(view.weight, forKey: .weight)
        try c.encode(view.capacity, forKey: .capacity)
        try c.encode(status.isHealthy ? "up" : "down", forKey: .health)
        let probe = view.hasHealthCheck ? (status.probeHealthy ? "up" : "down") : "unchecked"
        try c.encode(probe, forKey: .probeHealth)
        try c.encode(status.forced?.rawValue, forKey: .forced)
        if let report = status.lastLoad {
            let age = max(0, now - report.receivedAt)
            try c.encode(report.load, forKey: .load)
            try c.encode((age * 1000).rounded() / 1000, forKey: .loadAgeSeconds)
            try c.encode(age > maxAge, forKey: .stale)
        } else {
            try c.encodeNil(forKey: .load)
            try c.encodeNil(forKey: .loadAgeSeconds)
            try c.encodeNil(forKey: .stale)
        }
    }
}

/// One backend's status after a mutating call (`POST /backends/{ip}/force`).
struct BackendStatusDocument: Encodable {
    var address: IPAddress
    var status: BackendStatus

    enum CodingKeys: String, CodingKey {
        case address, health, probeHealthy = "probe_healthy", forced
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address.description, forKey: .address)
        try c.encode(status.isHealthy ? "up" : "down", forKey: .health)
        try c.encode(status.probeHealthy, forKey: .probeHealthy)
        try c.encode(status.forced?.rawValue, forKey: .forced)
    }
}
