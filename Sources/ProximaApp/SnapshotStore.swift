import DNSWire
import GeoRouting
import QueryEngine
import Synchronization

/// The one place the running server's data lives: the current engine snapshot, backend states and
/// the answer maps built for the two.
///
/// Writers (reload, health, load reports) swap whole values under a lock and bump a generation
/// counter; readers on the query path check the counter with one relaxed atomic load per batch and
/// only take the lock when something changed. Queries in flight finish on the values they hold,
/// so each answer comes from the old data or the new, never a mix. The answer maps are published
/// only for the snapshot and states they were built from (`install(answerMaps:forVersion:)`), so a
/// reader always gets maps that agree with its states, or none.
public final class SnapshotStore: Sendable {
    struct Content {
        var snapshot: EngineSnapshot
        var states: BackendStates
        /// Bumped whenever the snapshot or the states change (not when maps are installed).
        var version: UInt64
        var answerMaps: AnswerMapSet?
    }

    private let state: Mutex<Content>
    private let generationCounter = Atomic<UInt64>(1)
    /// The dynamic DNS records (`ddns:`), apart from the snapshot: a DDNS change bumps only
    /// `ddnsGeneration`, so the workers keep their answer caches and backend-state resolutions
    /// (answers that depend on the table carry its stamp instead).
    private let ddnsState = Mutex<DDNSTable?>(nil)
    private let ddnsCounter = Atomic<UInt64>(0)
    /// Called after the snapshot or the states change (the answer-map builder's wake-up).
    private let contentObserver = Mutex<(@Sendable () -> Void)?>(nil)
    /// The clock states changes are judged at (maps that still hold are kept).
    private let clock: @Sendable () -> Double

    public init(snapshot: EngineSnapshot, states: BackendStates = BackendStates(),
                clock: @escaping @Sendable () -> Double = { monotonicSeconds() }) {
        state = Mutex(Content(snapshot: snapshot, states: states, version: 1, answerMaps: nil))
        self.clock = clock
    }

    /// Changes whenever the snapshot, the states or the answer maps change.
    public var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// The current values.
    public func current() -> (snapshot: EngineSnapshot, states: BackendStates, generation: UInt64,
                              answerMaps: AnswerMapSet?) {
        state.withLock { s in (s.snapshot, s.states, generationCounter.load(ordering: .acquiring), s.answerMaps) }
    }

    /// The snapshot and states with their version, for the answer-map builder.
    public func content() -> (snapshot: EngineSnapshot, states: BackendStates, version: UInt64,
                              answerMaps: AnswerMapSet?) {
        state.withLock { s in (s.snapshot, s.states, s.version, s.answerMaps) }
    }

    public var snapshot: EngineSnapshot { state.withLock { $0.snapshot } }
    public var states: BackendStates { state.withLock { $0.states } }
    /// The answer maps serving now (nil while they are built, or when there is nothing to map).
    public var answerMaps: AnswerMapSet? { state.withLock { $0.answerMaps } }

    /// Installs a new snapshot (reload). Its answer maps are built afterwards, off this path.
    public func replace(snapshot: EngineSnapshot) {
        state.withLock { s in
            s.snapshot = snapshot
            s.version &+= 1
            s.answerMaps = nil
            generationCounter.wrappingAdd(1, ordering: .releasing)
        }
        contentObserver.withLock { $0 }?()
    }

    /// Installs answer maps built from the content of `version`; ignored when the snapshot or
    /// states changed since (the builder then builds again). Returns whether they were installed.
    @discardableResult
    public func install(answerMaps: AnswerMapSet?, forVersion version: UInt64) -> Bool {
        state.withLock { s in
            guard s.version == version, answerMaps.map({ $0.snapshotGeneration == s.snapshot.generation }) ?? true
            else { return false }
            s.answerMaps = answerMaps
            generationCounter.wrappingAdd(1, ordering: .releasing)
            return true
        }
    }

    /// Sets the function called after every snapshot or states change (one observer).
    public func observeContent(_ observer: (@Sendable () -> Void)?) {
        contentObserver.withLock { $0 = observer }
    }

    /// Changes whenever the DDNS table is replaced.
    @inline(__always)
    public var ddnsGeneration: UInt64 { ddnsCounter.load(ordering: .acquiring) }

    /// The current DDNS table (nil: `ddns:` is off).
    public var ddns: DDNSTable? { ddnsState.withLock { $0 } }

    /// Replaces the DDNS table with `body(current)`, atomically with respect to other updates;
    /// queries see the new table from their next packet on.
    @discardableResult
    public func updateDDNS(_ body: (DDNSTable?) -> DDNSTable?) -> DDNSTable? {
        ddnsState.withLock { t in
            t = body(t)
            ddnsCounter.wrappingAdd(1, ordering: .releasing)
            return t
        }
    }

    /// Installs new backend states (health or load changed). Answer maps that give the same
    /// answers at the new states stay (a load report that moves no answer); others are dropped
    /// until the builder has made new ones.
    public func replace(states: BackendStates) {
        let now = clock()
        state.withLock { s in
            s.states = states
            s.version &+= 1
            if let maps = s.answerMaps, !maps.holds(for: s.snapshot, states: states, now: now) { s.answerMaps = nil }
            generationCounter.wrappingAdd(1, ordering: .releasing)
        }
        contentObserver.withLock { $0 }?()
    }
}
