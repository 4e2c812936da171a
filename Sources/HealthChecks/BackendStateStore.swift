import CoreMetrics
import DNSWire
import GeoRouting
import NIOConcurrencyHelpers
import NIOCore

/// The mutable home of every backend's probe health, forced state and last load report.
///
/// Writers (the health monitor, the admin API) call its methods; every change publishes a fresh
/// immutable `BackendStates` through `onChange` so the query path can swap its snapshot
/// (STYLE §8). `onChange` is called while the store's lock is held, so snapshots are delivered in
/// the order the changes happened; it must be quick and must not call back into the store.
/// Calls that change nothing publish nothing.
public final class BackendStateStore: Sendable {
    private struct State {
        var byAddress: [IPAddress: BackendStatus] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let clock: @Sendable () -> Double
    private let onChange: @Sendable (BackendStates) -> Void
    /// `proxima_load_reports_total`, when a metrics factory was given.
    private let loadReports: Counter?

    /// Creates an empty store.
    /// - Parameters:
    ///   - clock: monotonic seconds; stamps load reports (default `monotonicSeconds`, which the
    ///     query path must also use when it judges a report's age).
    ///   - onChange: receives the new snapshot after every change.
    ///   - metrics: where accepted load reports are counted (`proxima_load_reports_total`); nil
    ///     counts none.
    public init(
        clock: @escaping @Sendable () -> Double = BackendStateStore.monotonicSeconds,
        onChange: @escaping @Sendable (BackendStates) -> Void = { _ in },
        metrics: (any MetricsFactory)? = nil
    ) {
        self.clock = clock
        self.onChange = onChange
        loadReports = metrics.map { Counter(label: "proxima_load_reports_total", factory: $0) }
    }

    /// Seconds on the process's monotonic clock (`CLOCK_MONOTONIC` through `NIODeadline`); never
    /// jumps with wall-clock changes.
    public static func monotonicSeconds() -> Double {
        Double(NIODeadline.now().uptimeNanoseconds) / 1_000_000_000
    }

    /// The store's clock reading now.
    public func now() -> Double { clock() }

    /// The current state of every backend that has any.
    public func snapshot() -> BackendStates {
        state.withLockedValue { BackendStates(byAddress: $0.byAddress) }
    }

    /// The status of one backend (default: healthy, not forced, no load).
    public func status(of address: IPAddress) -> BackendStatus {
        state.withLockedValue { $0.byAddress[address] ?? BackendStatus() }
    }

    /// Records a load report received now (or at `now`, in the store clock's seconds).
    public func recordLoad(address: IPAddress, load: Double, now: Double? = nil) {
        let receivedAt = now ?? clock()
        loadReports?.increment()
        mutate(address) { $0.lastLoad = LoadReport(load: load, receivedAt: receivedAt) }
    }

    /// Sets (or with nil clears) the administrator's forced health of `address`.
    public func force(address: IPAddress, state forced: ForcedHealth?) {
        mutate(address) { $0.forced = forced }
    }

    /// Sets the probe health of `address` (called by `HealthMonitor` on transitions).
    public func setProbeHealth(address: IPAddress, healthy: Bool) {
        mutate(address) { $0.probeHealthy = healthy }
    }

    /// Drops the state of every backend not in `addresses` (members removed from the config).
    public func retain(addresses: Set<IPAddress>) {
        state.withLockedValue { state in
            let before = state.byAddress.count
            state.byAddress = state.byAddress.filter { addresses.contains($0.key) }
            if state.byAddress.count != before {
                onChange(BackendStates(byAddress: state.byAddress))
            }
        }
    }

    private func mutate(_ address: IPAddress, _ change: (inout BackendStatus) -> Void) {
        state.withLockedValue { state in
            let old = state.byAddress[address] ?? BackendStatus()
            var new = old
            change(&new)
            guard new != old else { return }
            // An entry equal to the default says nothing; dropping it keeps snapshots small.
            state.byAddress[address] = new == BackendStatus() ? nil : new
            onChange(BackendStates(byAddress: state.byAddress))
        }
    }
}
