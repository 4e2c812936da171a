import DNSWire

/// How one backend is probed (DESIGN §3 "Health"). Parsed from the `health_check` object of a
/// member (or pool default) in `geo_data.json`.
public struct HealthCheckSpec: Hashable, Sendable {
    /// The probe itself.
    public enum Probe: Hashable, Sendable {
        /// HTTP or HTTPS GET of `path` on the member's address and `port`, with an optional Host
        /// header; healthy when the status is one of `expectedStatus`.
        case http(HTTPProbe)
        /// A TCP connect to the member's address on `port`; healthy when it completes in time.
        case tcp(port: Int)
    }

    /// Parameters of an HTTP(S) probe.
    public struct HTTPProbe: Hashable, Sendable {
        public var useTLS: Bool
        public var port: Int
        public var path: String
        public var host: String?
        public var expectedStatus: [Int]

        public init(useTLS: Bool = false, port: Int = 80, path: String = "/", host: String? = nil,
                    expectedStatus: [Int] = [200]) {
            self.useTLS = useTLS
            self.port = port
            self.path = path
            self.host = host
            self.expectedStatus = expectedStatus
        }
    }

    public var probe: Probe
    /// Seconds between probes (default 10).
    public var interval: Double
    /// Seconds a probe may take before it counts as failed (default 2).
    public var timeout: Double
    /// Consecutive successes needed to come back up (default 2).
    public var rise: Int
    /// Consecutive failures needed to go down (default 3).
    public var fall: Int

    public init(probe: Probe, interval: Double = 10, timeout: Double = 2, rise: Int = 2, fall: Int = 3) {
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
    }
}
