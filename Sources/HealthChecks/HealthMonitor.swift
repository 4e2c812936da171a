import AsyncHTTPClient
import CoreMetrics
import DNSWire
import GeoRouting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Probes backends and feeds the results through the anti-flap state machine into a
/// `BackendStateStore` (DESIGN §3 "Health").
///
/// One probe loop per target, each its own task on the given `EventLoopGroup` (never on DNS
/// threads), first run jittered within one interval so probes of many backends spread out, then
/// one probe per `interval` (start to start; probes of one target never overlap). A transition is
/// written to the store and logged once (warning when a backend goes down, notice when it comes
/// back), with the address, name and reason.
///
/// Run it in a swift-service-lifecycle `ServiceGroup`: `run()` returns after graceful shutdown
/// (or cancellation) once every loop has stopped and the HTTP client is shut down. `update(targets:)`
/// may be called at any time, before or during `run()`.
public final class HealthMonitor: Service, Sendable {
    private struct Loop {
        var target: HealthTarget
        var id: UInt64
        var task: Task<Void, Never>
    }

    private enum Phase {
        case idle
        case running(Prober)
        case finished
    }

    private struct State {
        var phase: Phase = .idle
        var targets: [IPAddress: HealthTarget] = [:]
        var loops: [IPAddress: Loop] = [:]
        var nextID: UInt64 = 0
    }

    private let store: BackendStateStore
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let initialDelay: @Sendable (Double) -> Double
    private let state = NIOLockedValueBox(State())
    /// Probe latencies and transitions per backend (for `/metrics`).
    public let statistics: HealthStatistics

    /// Creates a monitor.
    /// - Parameters:
    ///   - store: receives probe health on transitions.
    ///   - targets: the initial targets (see `update(targets:)`).
    ///   - eventLoopGroup: where probe connections run (default: NIO's shared singleton group).
    ///   - logger: transitions are logged here.
    ///   - initialDelay: delay before a new loop's first probe, given its interval (default: uniform
    ///     random in `0..<interval`); inject for deterministic tests.
    ///   - metrics: where probe latencies and transitions are recorded (`HealthStatistics`); nil
    ///     records none.
    public init(
        store: BackendStateStore,
        targets: [HealthTarget] = [],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "proxima.health"),
        initialDelay: @escaping @Sendable (Double) -> Double = { Double.random(in: 0..<max($0, 0.001)) },
        metrics: (any MetricsFactory)? = nil
    ) {
        self.store = store
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.initialDelay = initialDelay
        statistics = HealthStatistics(factory: metrics)
        let deduplicated = Self.deduplicate(targets, logger: logger)
        state.withLockedValue { $0.targets = deduplicated }
        statistics.track(deduplicated)
    }

    /// The addresses currently being probed (empty before `run()` starts and after it ends).
    public var probedAddresses: Set<IPAddress> {
        state.withLockedValue { Set($0.loops.keys) }
    }

    /// Replaces the target list (config reload): starts loops for new targets, stops the loops of
    /// removed ones (their probe health returns to up: a member without a probe is healthy unless
    /// forced down), restarts changed ones keeping their current health, and leaves unchanged
    /// loops running untouched. One address is probed at most once; the first target wins.
    public func update(targets: [HealthTarget]) {
        let wanted = Self.deduplicate(targets, logger: logger)
        statistics.track(wanted)
        state.withLockedValue { state in
            state.targets = wanted
            guard case .running(let prober) = state.phase else { return }
            for (address, loop) in state.loops where wanted[address] != loop.target {
                // Cancelled loops finish on their own; `apply` ignores a result from a replaced loop.
                loop.task.cancel()
                state.loops[address] = nil
                if wanted[address] == nil {
                    store.setProbeHealth(address: address, healthy: true)
                }
            }
            for (address, target) in wanted where state.loops[address] == nil {
                state.loops[address] = startLoop(target, prober: prober, state: &state)
            }
        }
    }

    /// Runs the probe loops until graceful shutdown or cancellation.
    public func run() async throws {
        var configuration = HTTPClient.Configuration(
            certificateVerification: .none,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(30)),
            maximumAllowedIdleTimeInConnectionPool: .seconds(1)
        )
        configuration.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
        let prober = Prober(httpClient: client, eventLoopGroup: eventLoopGroup)

        let started = state.withLockedValue { state -> Bool in
            guard case .idle = state.phase else { return false }
            state.phase = .running(prober)
            for (address, target) in state.targets {
                state.loops[address] = startLoop(target, prober: prober, state: &state)
            }
            return true
        }
        guard started else {
            // A second run() (or one after the first finished) must not disturb the first.
            try? await client.shutdown()
            logger.warning("health monitor run() called more than once; ignoring")
            return
        }
        logger.info("health monitor started", metadata: ["targets": "\(probedAddresses.count)"])
        // Returns on graceful shutdown; throws CancellationError when cancelled. Either way stop.
        try? await gracefulShutdown()
        let tasks = state.withLockedValue { state -> [Task<Void, Never>] in
            state.phase = .finished
            let tasks = state.loops.values.map(\.task)
            state.loops = [:]
            return tasks
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        try? await client.shutdown()
    }

    /// Starts one probe loop; call with the lock held (the caller stores the result).
    private func startLoop(_ target: HealthTarget, prober: Prober, state: inout State) -> Loop {
        state.nextID &+= 1
        let id = state.nextID
        let address = target.address
        let spec = target.spec
        let interval = max(0.01, spec.interval)
        let firstDelay = max(0, initialDelay(interval))
        let startsUp = store.status(of: address).probeHealthy
        let task = Task { [self] in
            var machine = HealthStateMachine(spec: spec, initial: startsUp ? .up : .down)
            try? await Task.sleep(nanoseconds: UInt64(firstDelay * 1e9))
            while !Task.isCancelled {
                let started = BackendStateStore.monotonicSeconds()
                let result = await prober.probe(address, spec)
                if Task.isCancelled { break }
                statistics.observe(address, seconds: BackendStateStore.monotonicSeconds() - started, success: result.success)
                logger.trace("probe", metadata: [
                    "address": "\(address)", "success": "\(result.success)", "reason": "\(result.reason)",
                ])
                let action = machine.probeResult(success: result.success)
                if action != .none {
                    apply(action, target: target, loopID: id, reason: result.reason)
                }
                let elapsed = BackendStateStore.monotonicSeconds() - started
                let pause = max(0, interval - elapsed)
                try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
            }
        }
        return Loop(target: target, id: id, task: task)
    }

    /// Writes a transition to the store and logs it, unless the loop was replaced meanwhile.
    private func apply(_ action: HealthAction, target: HealthTarget, loopID: UInt64, reason: String) {
        let current = state.withLockedValue { state -> Bool in
            guard state.loops[target.address]?.id == loopID else { return false }
            store.setProbeHealth(address: target.address, healthy: action == .markUp)
            statistics.transition(target.address, up: action == .markUp)
            return true
        }
        guard current else { return }
        let label = target.name.map { "\(target.address) (\($0))" } ?? "\(target.address)"
        var metadata: Logger.Metadata = ["address": "\(target.address)", "reason": "\(reason)"]
        if let name = target.name { metadata["name"] = "\(name)" }
        switch action {
        case .markDown:
            logger.warning("backend \(label) is down: \(reason)", metadata: metadata)
        case .markUp:
            logger.notice("backend \(label) is up: \(reason)", metadata: metadata)
        case .none:
            break
        }
    }

    private static func deduplicate(_ targets: [HealthTarget], logger: Logger) -> [IPAddress: HealthTarget] {
        var result: [IPAddress: HealthTarget] = [:]
        for target in targets {
            if let existing = result[target.address] {
                if existing.spec != target.spec {
                    logger.warning("backend \(target.address) has two different health checks; probing with the first",
                                   metadata: ["address": "\(target.address)"])
                }
                continue
            }
            result[target.address] = target
        }
        return result
    }
}
