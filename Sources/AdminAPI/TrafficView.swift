import DNSWire

/// Where answers went recently, as the status page shows it; the composition root builds it from
/// the query threads' counters (`AnswerFlowRecorder` in QueryEngine).
public struct TrafficView: Sendable {
    /// One client region → backend flow.
    public struct Flow: Hashable, Sendable {
        /// Centre of the client's grid cell.
        public var latitude: Double
        public var longitude: Double
        /// The backend answered.
        public var address: IPAddress
        /// Answers in the window.
        public var count: UInt64

        /// Creates a flow.
        public init(latitude: Double, longitude: Double, address: IPAddress, count: UInt64) {
            self.latitude = latitude
            self.longitude = longitude
            self.address = address
            self.count = count
        }
    }

    /// Seconds the flows cover.
    public var windowSeconds: Double
    /// Size of a client grid cell in degrees.
    public var cellDegrees: Double
    /// Flows, largest first.
    public var flows: [Flow]
    /// Answers per second per backend over the recent `rateSeconds`.
    public var answersPerSecond: [IPAddress: Double]
    /// Seconds the rates are averaged over.
    public var rateSeconds: Double
    /// Answers in the window that could not be attributed (a thread's table was full).
    public var unattributed: UInt64

    /// Creates a view.
    public init(windowSeconds: Double, cellDegrees: Double, flows: [Flow], answersPerSecond: [IPAddress: Double],
                rateSeconds: Double, unattributed: UInt64) {
        self.windowSeconds = windowSeconds
        self.cellDegrees = cellDegrees
        self.flows = flows
        self.answersPerSecond = answersPerSecond
        self.rateSeconds = rateSeconds
        self.unattributed = unattributed
    }
}
