/// The waits between attempts of one request: exponential (initial × 2ⁿ⁻¹, capped at `maximum`)
/// with "equal jitter" (a uniformly drawn point in the upper half), so many clients that failed
/// together (a server restart) do not come back together, while every wait stays at least half
/// the nominal one. Bounded: at most `attempts` tries in all. Randomness is injected.
public struct Backoff: Sendable, Hashable {
    /// Tries in all, the first one included (1 = never retry).
    public var attempts: Int
    /// Nominal wait after the first failure.
    public var initial: Duration
    /// No wait is longer than this (a server's `Retry-After` included).
    public var maximum: Duration

    public init(attempts: Int, initial: Duration = .seconds(1), maximum: Duration = .seconds(30)) {
        self.attempts = max(1, attempts)
        self.initial = max(.zero, initial)
        self.maximum = max(self.initial, maximum)
    }

    /// The nominal (jitter-free) wait after `failures` failed attempts (1 = after the first).
    public func nominal(after failures: Int) -> Duration {
        let base = Self.nanoseconds(initial)
        let cap = Self.nanoseconds(maximum)
        let shift = min(max(failures - 1, 0), 62)
        let (scaled, overflow) = base.multipliedReportingOverflow(by: Int64(1) << Int64(shift))
        return .nanoseconds(overflow ? cap : min(scaled, cap))
    }

    /// How long to wait after `failures` failed attempts before the next one, or nil when the
    /// attempts are used up. `retryAfter` (a server's hint, e.g. from a 429) raises the wait to it,
    /// but never past `maximum`.
    public func delay<R: RandomNumberGenerator>(after failures: Int, retryAfter: Duration? = nil, using rng: inout R) -> Duration? {
        guard failures >= 1, failures < attempts else { return nil }
        let nominal = Self.nanoseconds(self.nominal(after: failures))
        let half = nominal / 2
        var wait = half + (nominal - half > 0 ? Int64.random(in: 0...(nominal - half), using: &rng) : 0)
        if let retryAfter {
            wait = max(wait, min(Self.nanoseconds(retryAfter), Self.nanoseconds(maximum)))
        }
        return .nanoseconds(wait)
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let c = d.components
        let (s, o1) = c.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, o2) = s.addingReportingOverflow(c.attoseconds / 1_000_000_000)
        return (o1 || o2) ? (c.seconds < 0 ? 0 : Int64.max / 4) : max(0, sum)
    }
}
