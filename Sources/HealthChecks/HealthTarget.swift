import DNSWire
import GeoRouting

/// One backend the monitor probes: its address, an optional display name for logs, and the probe.
public struct HealthTarget: Hashable, Sendable {
    /// The backend's address; also the key of its state in `BackendStateStore`.
    public var address: IPAddress
    /// Human name from `geo_data.json` (`name`), used in log lines; nil when the member has none.
    public var name: String?
    /// How to probe it.
    public var spec: HealthCheckSpec

    /// Creates a target.
    public init(address: IPAddress, name: String? = nil, spec: HealthCheckSpec) {
        self.address = address
        self.name = name
        self.spec = spec
    }
}
