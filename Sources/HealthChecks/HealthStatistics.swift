import CoreMetrics
import DNSWire
import NIOConcurrencyHelpers

/// Probe and transition metrics per probed backend (README, "Operations"): a swift-metrics
/// `Timer` of probe latency (`proxima_probe_duration_seconds`, a histogram on the Prometheus
/// registry), and counters of failed probes and of transitions. Recorded once per probe, never on
/// the DNS path, through the factory the server passes in (not the process-global
/// `MetricsSystem`, so several servers in one process keep their own).
public final class HealthStatistics: Sendable {
    /// One probed backend's series.
    private struct Series: Sendable {
        var member: String
        var duration: Timer
        var failures: Counter
        var wentDown: Counter
        var cameUp: Counter

        init(address: IPAddress, member: String, factory: any MetricsFactory) {
            self.member = member
            let labels = [("member", member), ("address", address.description)]
            duration = Timer(label: "proxima_probe_duration_seconds", dimensions: labels, factory: factory)
            failures = Counter(label: "proxima_probe_failures_total", dimensions: labels, factory: factory)
            wentDown = Counter(label: "proxima_member_state_changes_total", dimensions: labels + [("to", "down")], factory: factory)
            cameUp = Counter(label: "proxima_member_state_changes_total", dimensions: labels + [("to", "up")], factory: factory)
        }

        func destroy() {
            duration.destroy()
            failures.destroy()
            wentDown.destroy()
            cameUp.destroy()
        }
    }

    private let factory: (any MetricsFactory)?
    private let series = NIOLockedValueBox<[IPAddress: Series]>([:])

    /// Records into `factory`'s metrics; with nil it records nothing.
    public init(factory: (any MetricsFactory)?) {
        self.factory = factory
    }

    /// Makes the series of new targets, renames those whose member name changed, and destroys
    /// those of targets no longer probed (so a member a reload removed leaves `/metrics`).
    func track(_ targets: [IPAddress: HealthTarget]) {
        guard let factory else { return }
        series.withLockedValue { all in
            for (address, s) in all {
                let member = targets[address].map { $0.name ?? address.description }
                if member != s.member {
                    s.destroy()
                    all[address] = nil
                }
            }
            for (address, target) in targets where all[address] == nil {
                all[address] = Series(address: address, member: target.name ?? address.description, factory: factory)
            }
        }
    }

    /// Records one probe of `address` that took `seconds`.
    public func observe(_ address: IPAddress, seconds: Double, success: Bool) {
        guard let s = series.withLockedValue({ $0[address] }) else { return }
        let d = seconds.isFinite ? max(0, seconds) : 0
        s.duration.recordNanoseconds(d < 9e9 ? Int64(d * 1e9) : Int64.max)
        if !success { s.failures.increment() }
    }

    /// Records a transition of `address`.
    public func transition(_ address: IPAddress, up: Bool) {
        guard let s = series.withLockedValue({ $0[address] }) else { return }
        (up ? s.cameUp : s.wentDown).increment()
    }
}
