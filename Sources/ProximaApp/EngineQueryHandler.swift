import CProximaNet
import DNSServer
import DNSWire
import DNSZone
import Forwarder
import GeoRouting
import QueryEngine

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds (CLOCK_MONOTONIC), the time base of load reports and caches.
/// `CLOCK_MONOTONIC_COARSE` reads the same clock at the kernel tick's resolution (a few
/// milliseconds) without touching the hardware clock: what the UDP path reads once per batch.
@inline(__always)
public func monotonicSeconds(_ clock: clockid_t = CLOCK_MONOTONIC) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

extension TableMemory {
    /// For the per-thread location table: tables of 2 MiB and more are mapped from the kernel
    /// 2 MiB-aligned and the kernel is asked to back them with transparent huge pages
    /// (`madvise(MADV_HUGEPAGE)`, which works when THP is `always` or `madvise`): the table is read
    /// at random, and with 4 KiB pages nearly every query would also miss the TLB. Smaller ones
    /// (a table starts at 256 KiB and doubles as it fills) come from the allocator, zeroed.
    /// Mapped tables go back to the kernel when released (a table that grew, a new snapshot).
    /// Falls back to ordinary pages when the kernel declines huge pages, and to no table (nil)
    /// when there is no memory at all.
    static let hugePages = TableMemory(
        allocate: { byteCount in
            let huge = 2 << 20
            guard byteCount >= huge else { return zeroedHeapMemory(byteCount) }
            guard let pointer = mappedMemory(byteCount, alignment: huge) else { return nil }
            _ = madvise(pointer, byteCount, MADV_HUGEPAGE)
            return pointer
        },
        deallocate: { pointer, byteCount in
            if byteCount >= 2 << 20 { munmap(pointer, byteCount) } else { free(pointer) }
        },
        zeroFilled: true)

    /// For the rate limiter's buckets: fresh pages from the kernel, never huge (a huge page would
    /// back 2 MiB at the first touch), so only the pages of buckets in use are backed — a few
    /// for a server answering a few resolvers, the whole table under a spoofed flood (issue #12.3).
    static let lazyPages = TableMemory(
        allocate: { byteCount in
            guard byteCount >= 64 << 10 else { return zeroedHeapMemory(byteCount) }
            guard let pointer = mappedMemory(byteCount, alignment: Int(getpagesize())) else { return nil }
            _ = madvise(pointer, byteCount, MADV_NOHUGEPAGE)
            return pointer
        },
        deallocate: { pointer, byteCount in
            if byteCount >= 64 << 10 { munmap(pointer, byteCount) } else { free(pointer) }
        },
        zeroFilled: true)

    /// `byteCount` zeroed bytes, 64-byte aligned, from the allocator; nil when out of memory.
    private static func zeroedHeapMemory(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, byteCount) == 0, let pointer else { return nil }
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        return pointer
    }

    /// `byteCount` (a multiple of the page size) bytes of fresh anonymous pages at an address
    /// aligned to `alignment` (a power of two, at least the page size): mapped with room to spare,
    /// the unaligned head and the tail unmapped again. Nil when the kernel refuses.
    private static func mappedMemory(_ byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        let length = byteCount + alignment
        guard let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        let start = UInt(bitPattern: raw)
        let aligned = (start + UInt(alignment) - 1) & ~(UInt(alignment) - 1)
        let head = Int(aligned - start)
        if head > 0 { munmap(raw, head) }
        let tail = length - head - byteCount
        if tail > 0 { munmap(raw + head + byteCount, tail) }
        return raw + head
    }
}

/// Waits a bounded time for a remote (ipstack) location; nil when none arrived in time.
public protocol RemoteLocating: Sendable {
    func locateRemote(_ address: IPAddress) async -> Location?
    /// Takes one of the bounded slots for a query waiting on `locateRemote`; false when all are
    /// taken (the query is then answered at once without a remote location). Every true is
    /// followed by one `releasePending()`.
    func reservePending() -> Bool
    /// Returns a slot taken by `reservePending`.
    func releasePending()
}

/// Connects the transports to the engine: one `EngineWorker` per UDP thread / TCP event loop.
public struct EngineQueryHandler: QueryHandler {
    let store: SnapshotStore
    let remote: (any RemoteLocating)?
    /// Bytes of each worker's location table (`fast_path.memory` divided among the workers).
    let locationTableBytes: Int
    /// The opt-in fallback resolver (`forward:`), shared by every worker; nil: not a resolver.
    let forwarder: Forwarder?
    /// Where routed answers went (the status page's map); each worker counts in its own table.
    let answerFlow: AnswerFlowRecorder?
    /// The cross-cutting steps after each answer (metrics, query log).
    let steps: QuerySteps
    /// The response rate limiter of UDP answers sent after an ipstack lookup (shared by workers).
    let deferredLimiter = SharedResponseRateLimiter()

    public init(store: SnapshotStore, remote: (any RemoteLocating)?,
                locationTableBytes: Int = AnswerCache.maxLocationTableBytes, forwarder: Forwarder? = nil,
                answerFlow: AnswerFlowRecorder? = nil, steps: QuerySteps = QuerySteps()) {
        self.store = store
        self.remote = remote
        self.locationTableBytes = locationTableBytes
        self.forwarder = forwarder
        self.answerFlow = answerFlow
        self.steps = steps
    }

    public func makeWorker() -> QueryWorker {
        EngineWorker(store: store, remote: remote, locationTableBytes: locationTableBytes, forwarder: forwarder,
                     flow: answerFlow?.makeTable(),
                     steps: steps, deferredLimiter: deferredLimiter)
    }
}

/// The query path's cross-cutting steps (DESIGN §4), each with per-thread state made per worker:
/// counters summed on scrape, log lines in a bounded per-thread ring. nil: the step is off and
/// costs one branch per query.
public struct QuerySteps: Sendable {
    /// Per-thread query counters (`metrics.enabled`).
    public var counters: QueryCounterRegistry?
    /// The query log (`query_log:`).
    public var log: QueryLog?

    public init(counters: QueryCounterRegistry? = nil, log: QueryLog? = nil) {
        self.counters = counters
        self.log = log
    }
}

/// Per-thread answering: the fast-path caches over the current snapshot, refreshed when the
/// store's generation changes.
///
/// The mutable state lives behind a pointer this worker alone owns: class stored properties get
/// dynamic exclusivity checks (a thread-local access set) on every query, which showed in profiles;
/// one thread per worker is the transports' contract (`QueryWorker`).
final class EngineWorker: QueryWorker {
    struct State {
        /// The store's generation the cache's snapshot, states and maps are from.
        var generation: UInt64
        var snapshotGeneration: UInt64
        var batchClock: Double?
        /// The store's DDNS generation the cache's table is from.
        var ddnsGeneration: UInt64
    }

    let store: SnapshotStore
    let remote: (any RemoteLocating)?
    let state: UnsafeMutablePointer<State>
    let cache: UnsafeMutablePointer<AnswerCache>
    let forwarder: Forwarder?
    /// With a forwarder: hashes (`ForwardQuery.hash`) of questions found to be inside our zones,
    /// direct-mapped, cleared with each new snapshot, so an allowed client's questions for our own
    /// names skip the forward cache and the zone check after the first time. A (64-bit) hash
    /// collision only sends that one foreign name to the engine (REFUSED) on this thread until
    /// the next reload; nil without a forwarder.
    let inZoneMemo: UnsafeMutablePointer<UInt64>?
    static let inZoneMemoSlots = 1024
    /// This worker's answer-flow counts (the status page's map); nil: not recorded.
    let flow: AnswerFlowTable?
    /// With a forwarder: this thread's front for the shared forward cache (no lock on a hit);
    /// nil without a forwarder.
    let forwardLocal: UnsafeMutablePointer<ForwardLocalCache>?
    /// This thread's metrics counters (nil: metrics off), and their writer for the query path.
    let counters: QueryCounterBlock?
    let counterWriter: QueryCounterWriter?
    /// This thread's query-log ring (nil: no query log).
    let logRing: QueryLogRing?
    /// Rate limits UDP answers sent after an ipstack lookup (shared with the other workers).
    let deferredLimiter: SharedResponseRateLimiter

    init(store: SnapshotStore, remote: (any RemoteLocating)?, locationTableBytes: Int = AnswerCache.maxLocationTableBytes,
         forwarder: Forwarder? = nil, flow: AnswerFlowTable? = nil, steps: QuerySteps = QuerySteps(),
         deferredLimiter: SharedResponseRateLimiter = SharedResponseRateLimiter()) {
        self.deferredLimiter = deferredLimiter
        self.store = store
        self.remote = remote
        self.forwarder = forwarder
        self.flow = flow
        counters = steps.counters?.makeBlock()
        counterWriter = counters?.writer
        logRing = steps.log?.makeRing()
        if forwarder != nil {
            let memo = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.inZoneMemoSlots)
            memo.initialize(repeating: 0, count: Self.inZoneMemoSlots)
            inZoneMemo = memo
            let local = UnsafeMutablePointer<ForwardLocalCache>.allocate(capacity: 1)
            local.initialize(to: ForwardLocalCache())
            forwardLocal = local
        } else {
            inZoneMemo = nil
            forwardLocal = nil
        }
        let cur = store.current()
        let ddnsGeneration = store.ddnsGeneration
        state = UnsafeMutablePointer<State>.allocate(capacity: 1)
        state.initialize(to: State(generation: cur.generation,
                                   snapshotGeneration: cur.snapshot.generation, batchClock: nil,
                                   ddnsGeneration: ddnsGeneration))
        cache = UnsafeMutablePointer<AnswerCache>.allocate(capacity: 1)
        cache.initialize(to: AnswerCache(snapshot: cur.snapshot, seed: UInt64.random(in: 1...UInt64.max),
                                         tableMemory: .hugePages, locationTableBytes: locationTableBytes,
                                         rateLimitMemory: .lazyPages))
        cache.pointee.install(ddns: store.ddns)
        cache.pointee.install(states: cur.states, generation: cur.generation)
        cache.pointee.install(answerMaps: cur.answerMaps)
        cache.pointee.collectsFacts = counters != nil || logRing != nil
    }

    deinit {
        inZoneMemo?.deallocate()
        forwardLocal?.deinitialize(count: 1)
        forwardLocal?.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
        cache.deinitialize(count: 1)
        cache.deallocate()
    }

    /// UDP: one clock reading per received batch (a batch is answered within well under a
    /// millisecond; the coarse clock is within a few milliseconds, far finer than any health or
    /// load timing). TCP never begins a batch and reads the clock per query.
    func beginBatch() {
        state.pointee.batchClock = monotonicSeconds(CLOCK_MONOTONIC_COARSE)
    }

    /// Prefetches the location-table sets the query will read, so a batch's misses overlap.
    func prepare(query: UnsafeRawBufferPointer, client: ClientEndpoint) {
        if let (first, second) = cache.pointee.locationPrefetchAddresses(query: query, source: client.address) {
            cproxima_prefetch(first)
            cproxima_prefetch(second)
        }
    }

    /// Takes the store's current snapshot and states.
    func refresh() {
        let cur = store.current()
        state.pointee.generation = cur.generation
        // Health and load changes keep the answer cache (routed answers carry the states
        // generation); a new snapshot clears it.
        if cur.snapshot.generation != state.pointee.snapshotGeneration {
            state.pointee.snapshotGeneration = cur.snapshot.generation
            cache.pointee.replace(snapshot: cur.snapshot)
            inZoneMemo?.update(repeating: 0, count: Self.inZoneMemoSlots)
            forwardLocal?.pointee.removeAll()
        }
        // The maps agree with `cur.states` (the store publishes them together).
        cache.pointee.install(states: cur.states, generation: cur.generation)
        cache.pointee.install(answerMaps: cur.answerMaps)
    }

    /// An idle UDP thread lets go of a replaced snapshot within one receive timeout (≤ 200 ms)
    /// instead of holding it (and the zones and database it references) until its next query.
    func idle() {
        if store.generation != state.pointee.generation { refresh() }
        if store.ddnsGeneration != state.pointee.ddnsGeneration { refreshDDNS() }
    }

    /// Takes the store's current DDNS table (the answer cache stays; see `AnswerCache.install`).
    func refreshDDNS() {
        state.pointee.ddnsGeneration = store.ddnsGeneration
        cache.pointee.install(ddns: store.ddns)
    }

    /// Answers, then runs the cross-cutting steps: the one seam where metrics and the query log see
    /// every query (DESIGN §4). Each step is off (nil) or writes only this thread's state.
    func handle(query: UnsafeRawBufferPointer, client: ClientEndpoint, output: UnsafeMutableRawBufferPointer,
                sink: ReplySink) -> QueryDisposition {
        let disposition = answer(query: query, client: client, output: output, sink: sink)
        if let counterWriter {
            QueryMetricsStep.count(disposition, query: query, client: client, output: output,
                                   facts: cache.pointee.facts, into: counterWriter)
        }
        if let logRing, case .reply(let n) = disposition, n >= 12, n <= output.count {
            logRing.record(query: query, response: UnsafeRawBufferPointer(rebasing: output[0..<n]), client: client,
                           facts: cache.pointee.facts)
        }
        return disposition
    }

    func answer(query: UnsafeRawBufferPointer, client: ClientEndpoint, output: UnsafeMutableRawBufferPointer,
                sink: ReplySink) -> QueryDisposition {
        if store.generation != state.pointee.generation { refresh() }
        if store.ddnsGeneration != state.pointee.ddnsGeneration { refreshDDNS() }
        cache.pointee.facts = AnswerFacts()
        let transport: QueryTransport = client.transport == .tcp ? .tcp : .udp
        let now = state.pointee.batchClock ?? monotonicSeconds()
        // The fallback resolver's step: only with `forward:` configured and for allowed clients;
        // everyone else takes the authoritative path unchanged (REFUSED outside our zones).
        if let forwarder, forwarder.allows(client.address), let q = ForwardQuery.parse(query),
           let disposition = forward(q, forwarder: forwarder, query: query, client: client, now: now, output: output,
                                     sink: sink) {
            return disposition
        }
        switch cache.pointee.answer(query: query, source: client.address, transport: transport, now: now,
                                    output: output) {
        case .reply(let n):
            if let flow {
                cache.pointee.noteAnswerFlow(query: query, response: UnsafeRawBufferPointer(rebasing: output[0..<n]),
                                             source: client.address, now: now, into: flow)
            }
            return .reply(length: n)
        case .drop:
            return .drop
        case .needsRemote(let address):
            guard let remote else { return .drop }
            let bytes = Array(query)
            let snapshot = cache.pointee.snapshot
            let ddns = cache.pointee.ddns
            let states = cache.pointee.states
            let entropy = cache.pointee.nextEntropy()
            // Bounded: each waiting query is a task; past the bound (ECS floods of new networks)
            // answer now as if ipstack had no location, rather than queue without limit.
            guard remote.reservePending() else {
                let ctx = QueryContext(source: client.address, transport: transport, now: now,
                                       entropy: entropy, remoteLocation: .some(nil))
                guard case .response(let r) = QueryEngine.respond(to: bytes, context: ctx, snapshot: snapshot,
                                                                  states: states, ddns: ddns),
                      r.count <= output.count else { return .drop }
                r.withUnsafeBytes { output.copyMemory(from: $0) }
                guard transport == .udp else { return .reply(length: r.count) }
                switch cache.pointee.rateLimit(length: r.count, source: client.address, now: now, output: output) {
                case .reply(let n): return .reply(length: n)
                default: return .drop
                }
            }
            let deferredLimiter = deferredLimiter
            Task {
                defer { remote.releasePending() }
                let loc = await remote.locateRemote(address)
                let ctx = QueryContext(source: client.address, transport: transport, now: monotonicSeconds(),
                                       entropy: entropy, remoteLocation: .some(loc))
                guard case .response(let r) = QueryEngine.respond(to: bytes, context: ctx, snapshot: snapshot, states: states,
                                                                  ddns: ddns) else { return }
                // UDP answers pass the response rate limiter here too: a flood of clients that
                // need a lookup must not reach a spoofed source unlimited.
                let limited = transport == .udp
                    ? deferredLimiter.admit(r, source: client.address, now: ctx.now, settings: snapshot.settings.rateLimit)
                    : r
                if let limited { sink.send(limited, to: client) }
            }
            return .later
        }
    }

    /// Answers a question for a name outside every zone from the forwarder: a cache hit now, a miss
    /// later (the transport's deferred answer, as for ipstack lookups). nil: the name is in one of
    /// our zones (or cannot be forwarded), so the engine answers it as usual. Forwarded answers
    /// skip the response rate limiter: only `forward.allow` clients get them.
    ///
    /// The cache is looked up before the zones: it never holds a name inside a zone of the current
    /// snapshot (entries are learned after the zone check and are tied to the snapshot generation).
    func forward(_ q: ForwardQuery, forwarder: Forwarder, query: UnsafeRawBufferPointer, client: ClientEndpoint,
                 now: Double, output: UnsafeMutableRawBufferPointer, sink: ReplySink) -> QueryDisposition? {
        // Read through the pointer: a local copy of the snapshot reference is a retain and a
        // release per query, and a cache hit needs only these two values.
        let ourPayload = cache.pointee.snapshot.settings.maxUDPPayload
        let limit = q.sizeLimit(tcp: client.transport == .tcp, maxUDPPayload: ourPayload)
        let generation = cache.pointee.snapshot.generation
        let memoSlot = Int(truncatingIfNeeded: q.hash) & (Self.inZoneMemoSlots - 1)
        if let memo = inZoneMemo, memo[memoSlot] == q.hash { return nil }
        if let local = forwardLocal,
           let n = forwarder.cachedAnswer(query: query, q: q, now: now, generation: generation, limit: limit,
                                          ourPayload: ourPayload, local: &local.pointee, output: output) {
            return .reply(length: n)
        }
        guard let name = q.name(query) else { return nil }
        guard cache.pointee.snapshot.zones.zone(for: name) == nil else {
            inZoneMemo?[memoSlot] = q.hash
            return nil
        }
        let bytes = Array(query)
        let question = Question(name: name, type: RecordType(rawValue: q.qtype), qclass: .in)
        forwarder.resolve(key: q.key(query), hash: q.hash, question: question, generation: generation,
                          now: { monotonicSeconds() }) { outcome in
            var out = [UInt8](repeating: 0, count: max(limit, Limits.minUDPPayload))
            let n: Int? = bytes.withUnsafeBytes { qb in
                out.withUnsafeMutableBytes { ob in
                    switch outcome {
                    case .answer(let a):
                        return a.render(query: qb, q: q, age: 0, limit: limit, ourPayload: ourPayload, output: ob)
                    case .failure:
                        forwarder.stats.countServFail()
                        return RelayedAnswer.servFail(query: qb, q: q, ourPayload: ourPayload, output: ob)
                    }
                }
            }
            if let n { sink.send(Array(out[0..<n]), to: client) }
        }
        return .later
    }
}
