import DNSWire
import NIOConcurrencyHelpers

/// Probe and transition counts per backend, for `/metrics`: a probe-latency histogram and how
/// often the backend went down and came back. Written once per probe (never on the DNS path).
public final class HealthStatistics: Sendable {
    /// Upper bounds of the latency buckets, seconds (Prometheus `le`; `+Inf` is implied).
    public static let bucketBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// One backend's figures.
    public struct Entry: Sendable, Hashable {
        /// Probes per bucket (not cumulative): index i counts durations ≤ `bucketBounds[i]` and
        /// above the previous bound; the last index counts those above every bound.
        public var buckets = [UInt64](repeating: 0, count: HealthStatistics.bucketBounds.count + 1)
        public var count: UInt64 = 0
        public var sum: Double = 0
        public var failures: UInt64 = 0
        /// Transitions to down and to up.
        public var wentDown: UInt64 = 0
        public var cameUp: UInt64 = 0
    }

    private let entries = NIOLockedValueBox<[IPAddress: Entry]>([:])

    public init() {}

    /// Records one probe of `address` that took `seconds`.
    public func observe(_ address: IPAddress, seconds: Double, success: Bool) {
        let d = seconds.isFinite ? max(0, seconds) : 0
        let i = Self.bucketBounds.firstIndex { d <= $0 } ?? Self.bucketBounds.count
        entries.withLockedValue { all in
            var e = all[address] ?? Entry()
            e.buckets[i] &+= 1
            e.count &+= 1
            e.sum += d
            if !success { e.failures &+= 1 }
            all[address] = e
        }
    }

    /// Records a transition of `address`.
    public func transition(_ address: IPAddress, up: Bool) {
        entries.withLockedValue { all in
            var e = all[address] ?? Entry()
            if up { e.cameUp &+= 1 } else { e.wentDown &+= 1 }
            all[address] = e
        }
    }

    /// Every backend's figures now.
    public func snapshot() -> [IPAddress: Entry] {
        entries.withLockedValue { $0 }
    }
}
