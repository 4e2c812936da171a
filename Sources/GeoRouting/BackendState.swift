import DNSWire

/// An administrator's forced health for a backend, overriding probes until cleared.
public enum ForcedHealth: String, Sendable, Hashable, Codable {
    case up
    case down
}

/// A load report from a backend: a number where 0 is idle and higher is busier (the reporters in
/// use send a fraction 0...1 or a percentage; the pool's `capacity` is in the same unit).
public struct LoadReport: Hashable, Sendable {
    public var load: Double
    /// Monotonic time of receipt, in seconds (the shell's clock; compared with `now` by the ranker).
    public var receivedAt: Double

    public init(load: Double, receivedAt: Double) {
        self.load = load
        self.receivedAt = receivedAt
    }
}

/// What is known about one backend right now: probe health, forced state and last load report.
public struct BackendStatus: Hashable, Sendable {
    /// Health from probes (true when no probe is configured: members start up).
    public var probeHealthy: Bool
    /// Admin override, if any.
    public var forced: ForcedHealth?
    /// Last load report, if any (may be stale; see `BackendStates.load(of:now:maxAge:)`).
    public var lastLoad: LoadReport?

    public init(probeHealthy: Bool = true, forced: ForcedHealth? = nil, lastLoad: LoadReport? = nil) {
        self.probeHealthy = probeHealthy
        self.forced = forced
        self.lastLoad = lastLoad
    }

    /// Effective health: the forced state when set, else the probe's.
    public var isHealthy: Bool {
        switch forced {
        case .up?: return true
        case .down?: return false
        case nil: return probeHealthy
        }
    }
}

/// An immutable view of every backend's status, published by the health/load shell and read by the
/// query path. Backends without an entry are healthy with unknown load.
public struct BackendStates: Sendable {
    public var byAddress: [IPAddress: BackendStatus]

    public init(byAddress: [IPAddress: BackendStatus] = [:]) {
        self.byAddress = byAddress
    }

    /// Status of `address` (default: healthy, not forced, no load).
    public func status(of address: IPAddress) -> BackendStatus {
        byAddress[address] ?? BackendStatus()
    }

    /// The load of `address` if a report exists that is at most `maxAge` seconds old at `now`.
    public func load(of address: IPAddress, now: Double, maxAge: Double) -> Double? {
        guard let r = byAddress[address]?.lastLoad, now - r.receivedAt <= maxAge else { return nil }
        return r.load
    }
}
