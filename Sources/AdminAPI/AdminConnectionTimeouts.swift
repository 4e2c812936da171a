/// The deadlines of one admin connection, as a value that returns actions (STYLE §5); the channel
/// handlers in `AdminConnectionGuard` feed it events and carry out what it returns.
///
/// A connection is always in one phase, and each phase but one has a deadline:
/// - idle (no request in progress, no byte of the next one yet): `idle`, from connect or from
///   the end of the last response;
/// - reading a head (a byte arrived, the head is not complete): `header`, from that first byte —
///   this is what cuts off slow-header (slowloris) clients and HTTP/0.9 requests the HTTP/1
///   parser keeps waiting on;
/// - reading a body (head complete, end not yet): `body`, from the head — bodies promised by
///   Content-Length or chunk sizes that never arrive;
/// - responding (request complete, response not yet written): no deadline; the server's own work
///   is bounded elsewhere.
///
/// Times are nanoseconds on a monotonic clock chosen by the caller.
struct AdminConnectionTimeouts: Equatable {
    enum Phase: Equatable {
        case idle, readingHead, readingBody, responding
    }

    /// Why a connection was closed.
    enum Reason: String, Equatable {
        case idle, header, body
    }

    /// What the shell must do.
    enum Action: Equatable {
        /// (Re)arm the single timer for this deadline.
        case arm(deadline: UInt64)
        /// Cancel the timer.
        case disarm
        /// Close the connection.
        case close(Reason)
        /// Nothing changes.
        case none
    }

    let idle: UInt64
    let header: UInt64
    let body: UInt64
    private(set) var phase: Phase = .idle
    private(set) var phaseStart: UInt64
    /// Inside a request body (head seen, end not yet).
    private var inBody = false
    /// Requests whose response has not been completely written.
    private var pendingResponses = 0

    init(idle: Duration, header: Duration, body: Duration, now: UInt64) {
        self.idle = Self.nanoseconds(idle)
        self.header = Self.nanoseconds(header)
        self.body = Self.nanoseconds(body)
        phaseStart = now
    }

    /// The connection opened: the idle deadline starts.
    func start() -> Action { .arm(deadline: phaseStart &+ idle) }

    /// True when no request is in progress (the connection may be evicted).
    var isIdle: Bool { phase == .idle }

    /// The deadline of the current phase, nil while responding.
    var deadline: UInt64? {
        switch phase {
        case .idle: return phaseStart &+ idle
        case .readingHead: return phaseStart &+ header
        case .readingBody: return phaseStart &+ body
        case .responding: return nil
        }
    }

    /// Bytes arrived from the client.
    mutating func bytesRead(now: UInt64) -> Action {
        guard phase == .idle else { return .none }
        enter(.readingHead, now)
        return .arm(deadline: now &+ header)
    }

    /// A complete request head was parsed.
    mutating func requestHead(now: UInt64) -> Action {
        inBody = true
        pendingResponses += 1
        enter(.readingBody, now)
        return .arm(deadline: now &+ body)
    }

    /// The request's body ended.
    mutating func requestEnd(now: UInt64) -> Action {
        inBody = false
        return settle(now)
    }

    /// A response was completely written (it may precede the request's end, e.g. a 401 sent
    /// before the body is read; the body deadline then still applies).
    mutating func responseEnd(now: UInt64) -> Action {
        pendingResponses = max(0, pendingResponses - 1)
        return settle(now)
    }

    /// The timer fired at `now`.
    mutating func timerFired(now: UInt64) -> Action {
        guard let deadline else { return .none }
        if now >= deadline {
            switch phase {
            case .idle: return .close(.idle)
            case .readingHead: return .close(.header)
            case .readingBody: return .close(.body)
            case .responding: return .none
            }
        }
        return .arm(deadline: deadline)
    }

    private mutating func settle(_ now: UInt64) -> Action {
        if inBody { return .none }
        if pendingResponses > 0 {
            enter(.responding, now)
            return .disarm
        }
        enter(.idle, now)
        return .arm(deadline: now &+ idle)
    }

    private mutating func enter(_ phase: Phase, _ now: UInt64) {
        self.phase = phase
        phaseStart = now
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let c = d.components
        guard c.seconds >= 0 else { return 0 }
        let (s, overflow) = UInt64(c.seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? UInt64.max / 2 : s &+ UInt64(c.attoseconds / 1_000_000_000)
    }
}
