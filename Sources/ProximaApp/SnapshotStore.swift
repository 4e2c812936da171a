import DNSWire
import GeoRouting
import QueryEngine
import Synchronization

/// The one place the running server's data lives: the current engine snapshot and backend states.
///
/// Writers (reload, health, load reports) swap whole values under a lock and bump a generation
/// counter; readers on the query path check the counter with one relaxed atomic load per batch and
/// only take the lock when something changed. Queries in flight finish on the values they hold,
/// so each answer comes from the old data or the new, never a mix.
public final class SnapshotStore: Sendable {
    private let state: Mutex<(EngineSnapshot, BackendStates)>
    private let generationCounter = Atomic<UInt64>(1)

    public init(snapshot: EngineSnapshot, states: BackendStates = BackendStates()) {
        state = Mutex((snapshot, states))
    }

    /// Changes whenever the snapshot or the states change.
    public var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// The current values.
    public func current() -> (snapshot: EngineSnapshot, states: BackendStates, generation: UInt64) {
        state.withLock { s in (s.0, s.1, generationCounter.load(ordering: .acquiring)) }
    }

    public var snapshot: EngineSnapshot { state.withLock { $0.0 } }
    public var states: BackendStates { state.withLock { $0.1 } }

    /// Installs a new snapshot (reload).
    public func replace(snapshot: EngineSnapshot) {
        state.withLock { s in
            s.0 = snapshot
            generationCounter.wrappingAdd(1, ordering: .releasing)
        }
    }

    /// Installs new backend states (health or load changed).
    public func replace(states: BackendStates) {
        state.withLock { s in
            s.1 = states
            generationCounter.wrappingAdd(1, ordering: .releasing)
        }
    }
}
