/// Cumulative CPU time counters from the aggregate `cpu` line of Linux `/proc/stat`, in clock
/// ticks (USER_HZ). See proc(5).
public struct CPUTimes: Hashable, Sendable {
    /// All time accounted: user + nice + system + idle + iowait + irq + softirq + steal.
    /// (`guest` and `guest_nice` are already counted in user and nice, so they are not added.)
    public var total: UInt64
    /// Time doing nothing: idle + iowait.
    public var idle: UInt64

    /// Creates counters.
    public init(total: UInt64, idle: UInt64) {
        self.total = total
        self.idle = idle
    }

    /// Parses the aggregate `cpu ` line out of the text of `/proc/stat`; nil when it is missing or
    /// has fewer than the four fields every kernel since 2.4 writes (user nice system idle).
    public static func parse(procStat text: some StringProtocol) -> CPUTimes? {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.first == "cpu" else { continue }
            var values: [UInt64] = []
            for field in fields.dropFirst().prefix(8) {
                guard let value = UInt64(field) else { return nil }
                values.append(value)
            }
            guard values.count >= 4 else { return nil }
            // Fields: user nice system idle iowait irq softirq steal.
            let idle = values[3] + (values.count > 4 ? values[4] : 0)
            let (total, overflow) = values.reduce((UInt64(0), false)) { acc, v in
                let (sum, o) = acc.0.addingReportingOverflow(v)
                return (sum, acc.1 || o)
            }
            guard !overflow else { return nil }
            return CPUTimes(total: total, idle: idle)
        }
        return nil
    }

    /// The fraction of CPU time busy between `earlier` and `self`, in 0...1; nil when no time
    /// passed or the counters went backwards (a counter reset).
    public func utilisation(since earlier: CPUTimes) -> Double? {
        guard total > earlier.total, idle >= earlier.idle else { return nil }
        let totalDelta = Double(total - earlier.total)
        let idleDelta = Double(idle - earlier.idle)
        return min(1, max(0, 1 - idleDelta / totalDelta))
    }
}
