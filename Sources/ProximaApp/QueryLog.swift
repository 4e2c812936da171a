import CProximaNet
import DNSServer
import DNSWire
import Foundation
import QueryEngine
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One query thread's query-log buffer: a bounded single-producer/single-consumer ring of
/// fixed-size slots. The query thread copies the query and response bytes and a few facts into
/// the next slot (no allocation, no lock, no syscall) or, when the ring is full, counts the line as
/// dropped; the writer thread formats and writes the lines. Queries are never slowed down by the
/// log's disk (issue #11).
public final class QueryLogRing: @unchecked Sendable {
    // @unchecked: an SPSC ring. Slots in [tail, head) belong to the writer; the rest to the query
    // thread. `head` is published with release after a slot is filled, `tail` with release after
    // it was read; both are read with acquire (CProximaNet's atomic helpers).

    /// Bytes of one slot: a 64-byte header, then the query (≤ `maxQuery`) and response (≤ the rest).
    static let slotBytes = 2048
    static let headerBytes = 64
    static let maxQuery = 512
    static let maxResponse = slotBytes - headerBytes - maxQuery

    let capacity: Int
    let slots: UnsafeMutableRawPointer
    /// head (word 0), tail (word 16), dropped (word 32), sample countdown (word 48): own lines each.
    let words: UnsafeMutablePointer<UInt64>
    let sample: UInt64

    init(capacity: Int, sample: Int) {
        self.capacity = max(1, capacity)
        self.sample = UInt64(max(1, sample))
        slots = UnsafeMutableRawPointer.allocate(byteCount: self.capacity * Self.slotBytes, alignment: 64)
        words = UnsafeMutableRawPointer.allocate(byteCount: 64 * 8, alignment: 128)
            .bindMemory(to: UInt64.self, capacity: 64)
        words.initialize(repeating: 0, count: 64)
    }

    deinit {
        slots.deallocate()
        words.deallocate()
    }

    var head: UInt64 { cproxima_load_acquire(words) }
    var tail: UInt64 { cproxima_load_acquire(words + 16) }
    /// Lines dropped because the ring was full.
    public var dropped: UInt64 { cproxima_counter_load(words + 32) }

    /// Query thread: appends one answered query (or counts it as dropped). `sample` N keeps every
    /// Nth answered query of this thread.
    @inline(__always)
    func record(query: UnsafeRawBufferPointer, response: UnsafeRawBufferPointer, client: ClientEndpoint,
                facts: AnswerFacts) {
        if sample > 1 {
            let n = words[48] &+ 1
            words[48] = n == sample ? 0 : n   // only this thread reads or writes it
            guard n == sample else { return }
        }
        let h = words.pointee            // only this thread writes head
        guard h &- tail < UInt64(capacity) else {
            cproxima_counter_add(words + 32, 1)
            return
        }
        let slot = slots + Int(h % UInt64(capacity)) * Self.slotBytes
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let ql = min(query.count, Self.maxQuery)
        let rl = min(response.count, Self.maxResponse)
        slot.storeBytes(of: Int64(ts.tv_sec), toByteOffset: 0, as: Int64.self)
        slot.storeBytes(of: Int64(ts.tv_nsec), toByteOffset: 8, as: Int64.self)
        let (hi, lo): (UInt64, UInt64)
        switch client.address {
        case .v4(let a): (hi, lo) = QueryCounterBlock.words(v4: a)
        case .v6(let a, let b): (hi, lo) = (a, b)
        }
        slot.storeBytes(of: hi, toByteOffset: 16, as: UInt64.self)
        slot.storeBytes(of: lo, toByteOffset: 24, as: UInt64.self)
        slot.storeBytes(of: facts.routeNameHash, toByteOffset: 32, as: UInt64.self)
        slot.storeBytes(of: client.port, toByteOffset: 40, as: UInt16.self)
        slot.storeBytes(of: UInt16(ql), toByteOffset: 42, as: UInt16.self)
        slot.storeBytes(of: UInt16(rl), toByteOffset: 44, as: UInt16.self)
        slot.storeBytes(of: client.transport == .tcp ? UInt8(1) : 0, toByteOffset: 46, as: UInt8.self)
        slot.storeBytes(of: facts.placement.rawValue, toByteOffset: 47, as: UInt8.self)
        slot.storeBytes(of: UInt8(response.count > rl ? 1 : 0), toByteOffset: 48, as: UInt8.self)
        if ql > 0 { (slot + Self.headerBytes).copyMemory(from: query.baseAddress!, byteCount: ql) }
        if rl > 0 { (slot + Self.headerBytes + Self.maxQuery).copyMemory(from: response.baseAddress!, byteCount: rl) }
        cproxima_store_release(words, h &+ 1)
    }

    /// Writer: hands every line that is ready (at most `limit`), oldest first, to `body` as a view
    /// of its slot (valid only during the call), then frees the slots. Returns how many.
    func drain(limit: Int = .max, _ body: (QueryLogEntry) -> Void) -> Int {
        let h = head
        var t = tail
        var n = 0
        while t != h && n < limit {
            let slot = UnsafeRawPointer(slots + Int(t % UInt64(capacity)) * Self.slotBytes)
            let ql = min(Int(slot.load(fromByteOffset: 42, as: UInt16.self)), Self.maxQuery)
            let rl = min(Int(slot.load(fromByteOffset: 44, as: UInt16.self)), Self.maxResponse)
            body(QueryLogEntry(
                seconds: slot.load(fromByteOffset: 0, as: Int64.self),
                nanoseconds: slot.load(fromByteOffset: 8, as: Int64.self),
                client: QueryCounterBlock.address(hi: slot.load(fromByteOffset: 16, as: UInt64.self),
                                                  lo: slot.load(fromByteOffset: 24, as: UInt64.self)),
                port: slot.load(fromByteOffset: 40, as: UInt16.self),
                tcp: slot.load(fromByteOffset: 46, as: UInt8.self) == 1,
                placement: PlacementKind(rawValue: slot.load(fromByteOffset: 47, as: UInt8.self)) ?? .none,
                routeNameHash: slot.load(fromByteOffset: 32, as: UInt64.self),
                query: UnsafeRawBufferPointer(start: slot + Self.headerBytes, count: ql),
                response: UnsafeRawBufferPointer(start: slot + Self.headerBytes + Self.maxQuery, count: rl),
                responseCut: slot.load(fromByteOffset: 48, as: UInt8.self) == 1))
            t &+= 1
            n += 1
        }
        cproxima_store_release(words + 16, t)
        return n
    }
}

/// The query log (`query_log:`): every query thread's ring, and the writer thread that turns the
/// rings into JSON lines in a file (or stdout). The file is reopened by `reopen()` (SIGUSR1, for
/// logrotate).
///
/// The writer wakes every `drainInterval` (sooner work would only make smaller batches), formats
/// each ready line at byte level (`QueryLogFormatter`) into one reused buffer and writes it with
/// one write(2) per `flushBytes`: on a server pinned to one core it shares that core with the query
/// threads, so its cost per line is what the log costs.
public final class QueryLog: Sendable {
    /// Where lines go.
    public enum Target: Sendable, Equatable {
        case stdout
        case file(String)
    }

    let target: Target
    let ringCapacity: Int
    let sample: Int
    /// The current snapshot: routed lines are labelled (name, pool, member) from its routes and
    /// pools, re-read when its generation changes.
    let snapshot: @Sendable () -> EngineSnapshot
    private let rings = Mutex<[QueryLogRing]>([])
    private let reopenRequested = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    /// Tests: while true, the writer takes nothing from the rings.
    public let paused = Atomic<Bool>(false)
    private let linesWritten = Atomic<UInt64>(0)
    private let writeErrors = Atomic<UInt64>(0)
    private let writerRunning = Atomic<Bool>(false)
    private let fd = Mutex<Int32>(-1)

    /// Sleep between drains that found lines (µs): at 300k lines/s a 1024-line ring fills in
    /// about 3 ms, so this stays well under it.
    static let drainInterval: UInt32 = 1_000
    /// Sleep after a drain that found nothing (µs).
    static let idleInterval: UInt32 = 5_000
    /// Formatted bytes that trigger a write(2).
    static let flushBytes = 256 << 10

    public init(target: Target, ringCapacity: Int, sample: Int, snapshot: @escaping @Sendable () -> EngineSnapshot) {
        self.target = target
        self.ringCapacity = ringCapacity
        self.sample = sample
        self.snapshot = snapshot
    }

    /// A ring for one query thread.
    func makeRing() -> QueryLogRing {
        let r = QueryLogRing(capacity: ringCapacity, sample: sample)
        rings.withLock { $0.append(r) }
        return r
    }

    /// Lines dropped because a thread's ring was full, over every thread.
    public var dropped: UInt64 { rings.withLock { $0.reduce(0) { $0 &+ $1.dropped } } }
    /// Lines written so far.
    public var written: UInt64 { linesWritten.load(ordering: .relaxed) }
    /// Failed writes or opens.
    public var errors: UInt64 { writeErrors.load(ordering: .relaxed) }

    /// Opens the target (throws naming the path when it cannot) and starts the writer thread.
    public func start() throws {
        try openTarget()
        writerRunning.store(true, ordering: .releasing)
        let t = Thread { [self] in
            runWriter()
            writerRunning.store(false, ordering: .releasing)
        }
        t.name = "proxima-querylog"
        t.start()
    }

    /// Asks the writer to reopen the file (after logrotate moved it); lines already taken go to
    /// the old file first.
    public func reopen() { reopenRequested.store(true, ordering: .relaxed) }

    /// Writes what is buffered and stops the writer.
    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        while writerRunning.load(ordering: .acquiring) { usleep(2000) }
        fd.withLock { f in
            if f > 2 { close(f) }
            f = -1
        }
    }

    private func openTarget() throws {
        switch target {
        case .stdout:
            fd.withLock { $0 = 1 }
        case .file(let path):
            let f = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard f >= 0 else {
                writeErrors.add(1, ordering: .relaxed)
                throw QueryLogError(path: path, reason: String(cString: strerror(errno)))
            }
            fd.withLock { old in
                if old > 2 { close(old) }
                old = f
            }
        }
    }

    /// The writer thread's own state: the output buffer and the labels of the last snapshot seen.
    struct WriterState: ~Copyable {
        var formatter = QueryLogFormatter(capacity: QueryLog.flushBytes + (64 << 10))
        var labels: QueryLogLabels?
        var labelsGeneration: UInt64 = 0
        /// Lines formatted but not yet written.
        var unwritten = 0
    }

    private func runWriter() {
        var state = WriterState()
        while true {
            let stopping = stopRequested.load(ordering: .relaxed)
            let n = paused.load(ordering: .relaxed) ? 0 : drainOnce(&state)
            if reopenRequested.exchange(false, ordering: .relaxed) {
                // A failure keeps the old descriptor (lines still land somewhere) and is counted.
                try? openTarget()
            }
            if stopping && n == 0 { return }
            usleep(n == 0 ? Self.idleInterval : Self.drainInterval)
        }
    }

    /// Formats and writes every ready line; returns how many.
    func drainOnce(_ state: inout WriterState) -> Int {
        let all = rings.withLock { $0 }
        var count = 0
        var labelsChecked = false
        for ring in all {
            while true {
                let n = ring.drain(limit: 4096) { entry in
                    if entry.routeNameHash != 0 && !labelsChecked {
                        labelsChecked = true
                        refreshLabels(&state)
                    }
                    state.formatter.append(entry, labels: state.labels)
                    state.unwritten += 1
                    if state.formatter.count >= Self.flushBytes { flush(&state) }
                }
                count += n
                if n < 4096 { break }
            }
        }
        flush(&state)
        return count
    }

    /// Labels from the current snapshot, rebuilt only when it changed (at most once per drain).
    private func refreshLabels(_ state: inout WriterState) {
        let snap = snapshot()
        if state.labels == nil || snap.generation != state.labelsGeneration {
            state.labels = RouteLabels(snapshot: snap).queryLog
            state.labelsGeneration = snap.generation
        }
    }

    /// Writes the formatted lines with as few write(2) calls as the kernel allows.
    private func flush(_ state: inout WriterState) {
        guard state.formatter.count > 0 else { return }
        let bytes = state.formatter.bytes
        let ok = fd.withLock { f -> Bool in
            var off = 0
            while off < bytes.count {
                let w = write(f, bytes.baseAddress! + off, bytes.count - off)
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { return false }
                off += w
            }
            return true
        }
        if ok { linesWritten.add(UInt64(state.unwritten), ordering: .relaxed) } else { writeErrors.add(1, ordering: .relaxed) }
        state.unwritten = 0
        state.formatter.removeAll()
    }
}

/// The query log's file could not be opened.
public struct QueryLogError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "query_log.path \(path): cannot open: \(reason)" }
}
