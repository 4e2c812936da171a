import DNSWire

/// Which TCP connections of one listener are open, from which client address, and which of them
/// are idle: the admission policy as a value (STYLE §5). The shell (`TCPConnectionRegistry`)
/// feeds it accepts, activity and closes, and carries out the `AdmitAction` it returns.
///
/// Policy (RFC 7766 §6.2.3, issue #8.2):
/// - at most `maxPerAddress` connections from one client address (for IPv6, one /64: a single
///   host usually holds a whole /64), so one host cannot take the table;
/// - at most `maxConnections` in all; when the table is full, the connection that has been idle
///   longest (no partial query, no answer pending) is closed to make room for the new one; with
///   none idle, the one busy longest if it has been busy for at least `stalledAfter` (a query that
///   takes that long to arrive, or answers the client does not read, is not a healthy client);
///   the new one is refused only when every open connection is busy and none is stalled.
///
/// Times are monotonic nanoseconds supplied by the caller, so tests decide what "oldest" means.
public struct TCPConnectionTable: Sendable {
    /// Identifies one connection (the shell uses the channel's `ObjectIdentifier`).
    public typealias ConnectionID = ObjectIdentifier

    /// Why a new connection was not admitted.
    public enum RefusalReason: String, Sendable, Hashable {
        /// The client address already holds `maxPerAddress` connections.
        case perAddressLimit = "per_address_limit"
        /// The table is full and every open connection is busy.
        case tableFull = "table_full"
    }

    /// What the shell must do with a newly accepted connection.
    public enum AdmitAction: Sendable, Hashable {
        /// Serve it.
        case admit
        /// Close `evicted` (the longest-idle connection), then serve the new one.
        case admitEvicting(ConnectionID)
        /// Close the new connection.
        case refuse(RefusalReason)
    }

    private struct Entry {
        var address: IPAddress?
        /// When the connection last turned idle or busy, or was accepted (monotonic ns).
        var since: UInt64
        /// A query is partly received or answers are still pending.
        var busy: Bool
    }

    /// The cap on open connections (at least 1).
    public let maxConnections: Int
    /// The cap on open connections from one client address (at least 1).
    public let maxPerAddress: Int
    /// A connection busy this long (ns) may be evicted when no connection is idle.
    public let stalledAfter: UInt64
    private var entries: [ConnectionID: Entry] = [:]
    private var perAddress: [IPAddress: Int] = [:]

    /// Creates an empty table; both caps are raised to at least 1.
    public init(maxConnections: Int, maxPerAddress: Int, stalledAfter: Duration = .seconds(1)) {
        self.maxConnections = max(1, maxConnections)
        self.maxPerAddress = max(1, maxPerAddress)
        self.stalledAfter = UInt64(max(0, stalledAfter.clampedNanoseconds))
    }

    /// Open connections.
    public var count: Int { entries.count }

    /// Open connections from `address` (for IPv6, from its /64).
    public func count(from address: IPAddress) -> Int { perAddress[Self.clientKey(address)] ?? 0 }

    /// What the per-address cap counts: the IPv4 address, or the /64 of an IPv6 address
    /// (IPv4-mapped IPv6 addresses count as the IPv4 address they carry).
    static func clientKey(_ address: IPAddress) -> IPAddress {
        if let v4 = address.mappedIPv4 { return v4 }
        if case .v6(let hi, _) = address { return .v6(hi, 0) }
        return address
    }

    /// A connection was accepted at `now`. On `.admit` and `.admitEvicting` it is recorded (idle);
    /// on `.admitEvicting` the evicted one is already forgotten (its close will find nothing).
    public mutating func admit(_ id: ConnectionID, address client: IPAddress?, now: UInt64) -> AdmitAction {
        let address = client.map(Self.clientKey)
        if let address, count(from: address) >= maxPerAddress {
            return .refuse(.perAddressLimit)
        }
        var action = AdmitAction.admit
        if entries.count >= maxConnections {
            guard let victim = evictionCandidate(now: now) else { return .refuse(.tableFull) }
            remove(victim)
            action = .admitEvicting(victim)
        }
        entries[id] = Entry(address: address, since: now, busy: false)
        if let address { perAddress[address, default: 0] += 1 }
        return action
    }

    /// The connection started receiving a query or has answers pending (`busy`), or has finished
    /// them all (`!busy`, idle from `now`). Unknown ids are ignored.
    public mutating func update(_ id: ConnectionID, busy: Bool, now: UInt64) {
        guard var entry = entries[id], entry.busy != busy else { return }
        entry.busy = busy
        entry.since = now
        entries[id] = entry
    }

    /// The connection closed. Unknown ids (already evicted) are ignored.
    public mutating func remove(_ id: ConnectionID) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        if let address = entry.address {
            let left = (perAddress[address] ?? 1) - 1
            perAddress[address] = left > 0 ? left : nil
        }
    }

    /// Every open connection (for closing them all on stop).
    public var ids: [ConnectionID] { Array(entries.keys) }

    /// The connection idle longest; with none idle, the one busy longest if it is stalled; nil
    /// when neither exists. O(n), run only when the table is full.
    private func evictionCandidate(now: UInt64) -> ConnectionID? {
        var idle: (ConnectionID, UInt64)?
        var stalled: (ConnectionID, UInt64)?
        for (id, entry) in entries {
            if !entry.busy {
                if idle == nil || entry.since < idle!.1 { idle = (id, entry.since) }
            } else if now >= entry.since, now - entry.since >= stalledAfter {
                if stalled == nil || entry.since < stalled!.1 { stalled = (id, entry.since) }
            }
        }
        return idle?.0 ?? stalled?.0
    }
}

/// Counts events that are logged at most once per interval (STYLE: a refusal storm must not
/// become a log storm): `record(now:)` says when to log and how many events the line covers.
public struct RateLimitedCounter: Sendable {
    /// Minimum time between two log lines, in nanoseconds.
    public let intervalNanoseconds: UInt64
    /// Events since the process started.
    public private(set) var total: UInt64 = 0
    private var unreported: UInt64 = 0
    private var lastReport: UInt64?

    /// Creates a counter that reports at most once per `interval`.
    public init(interval: Duration) {
        self.intervalNanoseconds = UInt64(max(0, interval.clampedNanoseconds))
    }

    /// Records one event at `now`; returns the number of events to report (this one and those
    /// suppressed since the last report) when a line is due, else nil.
    public mutating func record(now: UInt64) -> UInt64? {
        total += 1
        unreported += 1
        if let last = lastReport, now &- last < intervalNanoseconds { return nil }
        lastReport = now
        defer { unreported = 0 }
        return unreported
    }
}
