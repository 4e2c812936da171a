import CProximaNet
import DNSServer
import DNSWire
import GeoRouting
import QueryEngine

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds (CLOCK_MONOTONIC), the time base of load reports and caches.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

extension TableMemory {
    /// 2 MiB-aligned memory the kernel is asked to back with transparent huge pages
    /// (`madvise(MADV_HUGEPAGE)`, which works when THP is `always` or `madvise`): the per-thread
    /// location table is read at random, and with 4 KiB pages nearly every query would also miss
    /// the TLB. Falls back to ordinary pages when the kernel declines.
    static let hugePages = TableMemory(
        allocate: { byteCount in
            let huge = 2 << 20
            var pointer: UnsafeMutableRawPointer?
            if posix_memalign(&pointer, huge, byteCount) == 0, let pointer {
                _ = madvise(pointer, byteCount, MADV_HUGEPAGE)
                return pointer
            }
            guard posix_memalign(&pointer, 64, byteCount) == 0, let pointer else {
                fatalError("out of memory allocating the \(byteCount)-byte location table")
            }
            return pointer
        },
        deallocate: { pointer, _ in free(pointer) })
}

/// Waits a bounded time for a remote (ipstack) location; nil when none arrived in time.
public protocol RemoteLocating: Sendable {
    func locateRemote(_ address: IPAddress) async -> Location?
}

/// Connects the transports to the engine: one `EngineWorker` per UDP thread / TCP event loop.
public struct EngineQueryHandler: QueryHandler {
    let store: SnapshotStore
    let remote: (any RemoteLocating)?

    public init(store: SnapshotStore, remote: (any RemoteLocating)?) {
        self.store = store
        self.remote = remote
    }

    public func makeWorker() -> QueryWorker {
        EngineWorker(store: store, remote: remote)
    }
}

/// Per-thread answering: the fast-path caches over the current snapshot, refreshed when the
/// store's generation changes.
final class EngineWorker: QueryWorker {
    let store: SnapshotStore
    let remote: (any RemoteLocating)?
    var cache: AnswerCache
    var states: BackendStates
    var generation: UInt64
    var snapshotGeneration: UInt64
    var batchClock: Double?

    init(store: SnapshotStore, remote: (any RemoteLocating)?) {
        self.store = store
        self.remote = remote
        let cur = store.current()
        cache = AnswerCache(snapshot: cur.snapshot, seed: UInt64.random(in: 1...UInt64.max), tableMemory: .hugePages)
        states = cur.states
        generation = cur.generation
        snapshotGeneration = cur.snapshot.generation
    }

    /// UDP: one clock reading per received batch (a batch is answered within well under a
    /// millisecond). TCP never begins a batch and reads the clock per query.
    func beginBatch() {
        batchClock = monotonicSeconds()
    }

    /// Prefetches the location-table entry the query will read, so a batch's misses overlap.
    func prepare(query: UnsafeRawBufferPointer, client: ClientEndpoint) {
        if let (first, second) = cache.locationPrefetchAddresses(query: query, source: client.address) {
            cproxima_prefetch(first)
            cproxima_prefetch(second)
        }
    }

    func handle(query: UnsafeRawBufferPointer, client: ClientEndpoint, output: UnsafeMutableRawBufferPointer,
                sink: ReplySink) -> QueryDisposition {
        if store.generation != generation {
            let cur = store.current()
            generation = cur.generation
            states = cur.states
            // Health and load changes keep the answer cache (routed answers are ranked per query);
            // a new snapshot clears it.
            if cur.snapshot.generation != snapshotGeneration {
                snapshotGeneration = cur.snapshot.generation
                cache.replace(snapshot: cur.snapshot)
            }
        }
        let transport: QueryTransport = client.transport == .tcp ? .tcp : .udp
        let now = batchClock ?? monotonicSeconds()
        switch cache.answer(query: query, source: client.address, transport: transport, now: now, states: states,
                            statesGeneration: generation, output: output) {
        case .reply(let n):
            return .reply(length: n)
        case .drop:
            return .drop
        case .needsRemote(let address):
            guard let remote else { return .drop }
            let bytes = Array(query)
            let snapshot = cache.snapshot
            let states = self.states
            let entropy = cache.nextEntropy()
            Task {
                let loc = await remote.locateRemote(address)
                let ctx = QueryContext(source: client.address, transport: transport, now: monotonicSeconds(),
                                       entropy: entropy, remoteLocation: .some(loc))
                if case .response(let r) = QueryEngine.respond(to: bytes, context: ctx, snapshot: snapshot, states: states) {
                    sink.send(r, to: client)
                }
            }
            return .later
        }
    }
}
