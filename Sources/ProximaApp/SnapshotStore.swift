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
    /// The dynamic DNS records (`ddns:`), apart from the snapshot: a DDNS change bumps only
    /// `ddnsGeneration`, so the workers keep their answer caches and backend-state resolutions
    /// (answers that depend on the table carry its stamp instead).
    private let ddnsState = Mutex<DDNSTable?>(nil)
    private let ddnsCounter = Atomic<UInt64>(0)

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

    /// Installs new backend states (health or load changed).
    public func replace(states: BackendStates) {
        state.withLock { s in
            s.1 = states
            generationCounter.wrappingAdd(1, ordering: .releasing)
        }
    }
}
