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

    /// One line's facts, read by the writer.
    struct Line {
        var seconds: Int64
        var nanoseconds: Int64
        var client: IPAddress
        var port: UInt16
        var tcp: Bool
        var placement: PlacementKind
        var routeNameHash: UInt64
        var query: [UInt8]
        var response: [UInt8]
        var responseCut: Bool
    }

    /// Writer: takes every line that is ready (at most `limit`), oldest first.
    func drain(limit: Int = .max) -> [Line] {
        let h = head
        var t = tail
        var out: [Line] = []
        while t != h && out.count < limit {
            let slot = UnsafeRawPointer(slots + Int(t % UInt64(capacity)) * Self.slotBytes)
            let ql = Int(slot.load(fromByteOffset: 42, as: UInt16.self))
            let rl = Int(slot.load(fromByteOffset: 44, as: UInt16.self))
            out.append(Line(
                seconds: slot.load(fromByteOffset: 0, as: Int64.self),
                nanoseconds: slot.load(fromByteOffset: 8, as: Int64.self),
                client: QueryCounterBlock.address(hi: slot.load(fromByteOffset: 16, as: UInt64.self),
                                                  lo: slot.load(fromByteOffset: 24, as: UInt64.self)),
                port: slot.load(fromByteOffset: 40, as: UInt16.self),
                tcp: slot.load(fromByteOffset: 46, as: UInt8.self) == 1,
                placement: PlacementKind(rawValue: slot.load(fromByteOffset: 47, as: UInt8.self)) ?? .none,
                routeNameHash: slot.load(fromByteOffset: 32, as: UInt64.self),
                query: Array(UnsafeRawBufferPointer(start: slot + Self.headerBytes, count: ql)),
                response: Array(UnsafeRawBufferPointer(start: slot + Self.headerBytes + Self.maxQuery, count: rl)),
                responseCut: slot.load(fromByteOffset: 48, as: UInt8.self) == 1))
            t &+= 1
        }
        cproxima_store_release(words + 16, t)
        return out
    }
}

/// The query log (`query_log:`): every query thread's ring, and the writer thread that turns the
/// rings into JSON lines in a file (or stdout). The file is reopened by `reopen()` (SIGUSR1, for
/// logrotate).
public final class QueryLog: Sendable {
    /// Where lines go.
    public enum Target: Sendable, Equatable {
        case stdout
        case file(String)
    }

    let target: Target
    let ringCapacity: Int
    let sample: Int
    /// Names a routed answer's (name hash, address) as (name, pool, member); read per drain.
    let labels: @Sendable () -> RouteLabels
    private let rings = Mutex<[QueryLogRing]>([])
    private let reopenRequested = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    /// Tests: while true, the writer takes nothing from the rings.
    public let paused = Atomic<Bool>(false)
    private let linesWritten = Atomic<UInt64>(0)
    private let writeErrors = Atomic<UInt64>(0)
    private let writerRunning = Atomic<Bool>(false)
    private let fd = Mutex<Int32>(-1)

    public init(target: Target, ringCapacity: Int, sample: Int, labels: @escaping @Sendable () -> RouteLabels) {
        self.target = target
        self.ringCapacity = ringCapacity
        self.sample = sample
        self.labels = labels
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

    private func runWriter() {
        while true {
            let stopping = stopRequested.load(ordering: .relaxed)
            let n = paused.load(ordering: .relaxed) ? 0 : drainOnce()
            if reopenRequested.exchange(false, ordering: .relaxed) {
                // A failure keeps the old descriptor (lines still land somewhere) and is counted.
                try? openTarget()
            }
            if stopping && n == 0 { return }
            if n == 0 { usleep(20_000) }
        }
    }

    /// Formats and writes every ready line; returns how many.
    func drainOnce() -> Int {
        let all = rings.withLock { $0 }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 * 64)
        var count = 0
        var names: RouteLabels?
        var seconds: (Int64, String)?
        for ring in all {
            for line in ring.drain(limit: 4096) {
                if line.routeNameHash != 0 && names == nil { names = labels() }
                bytes.append(contentsOf: QueryLog.format(line, labels: names, seconds: &seconds).utf8)
                bytes.append(0x0a)
                count += 1
            }
        }
        guard count > 0 else { return 0 }
        let ok = fd.withLock { f -> Bool in
            var off = 0
            while off < bytes.count {
                let w = bytes.withUnsafeBytes { write(f, $0.baseAddress! + off, $0.count - off) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { return false }
                off += w
            }
            return true
        }
        if ok { linesWritten.add(UInt64(count), ordering: .relaxed) } else { writeErrors.add(1, ordering: .relaxed) }
        return count
    }

    /// One JSON line (see README, "Query log").
    static func format(_ line: QueryLogRing.Line, labels: RouteLabels?, seconds: inout (Int64, String)?) -> String {
        var o = JSONLine()
        o.string("time", rfc3339(seconds: line.seconds, nanoseconds: line.nanoseconds, cache: &seconds))
        o.string("client", line.client.description)
        o.number("port", Int(line.port))
        o.string("transport", line.tcp ? "tcp" : "udp")
        let query = try? Message(parsing: line.query)
        let response = line.responseCut ? nil : try? Message(parsing: line.response)
        if let ecs = query?.edns?.clientSubnet {
            o.string("ecs", "\(ecs.address)/\(ecs.sourcePrefixLength)")
            if let scope = response?.edns?.clientSubnet?.scopePrefixLength { o.number("ecs_scope", Int(scope)) }
        }
        if let q = query?.questions.first ?? response?.questions.first {
            o.string("name", q.name.description)
            o.string("type", q.type.description)
        }
        if line.response.count >= 4 {
            let rcode = response?.rcode.rawValue ?? UInt16(line.response[3] & 0x0f)
            o.string("rcode", rcodeName(rcode))
            o.bool("tc", line.response[2] & 0x02 != 0)
        }
        if let response {
            o.strings("answer", response.answerSection.map { "\($0.type) \($0.rdata)" })
        }
        if line.routeNameHash != 0, let labels, let response {
            for rr in response.answerSection {
                let a: IPAddress
                switch rr.rdata {
                case .a(let x), .aaaa(let x): a = x
                default: continue
                }
                if let l = labels.label(nameHash: line.routeNameHash, address: a) {
                    o.string("routed_name", l.name)
                    o.string("pool", l.pool)
                    o.string("member", l.member)
                }
                break
            }
        }
        if line.placement != .none { o.string("placement", line.placement.label) }
        return o.finish()
    }

    static func rcodeName(_ r: UInt16) -> String {
        if r < 16 { return QueryCounterBlock.rcodes[Int(r)] }
        return r == 16 ? "BADVERS" : "RCODE\(r)"
    }

    /// RFC 3339 UTC with milliseconds: 2026-11-30T15:04:05.123Z.
    /// `cache` holds the last second formatted: lines come many per second, so the date and time
    /// up to the seconds are computed once per second and drain.
    static func rfc3339(seconds: Int64, nanoseconds: Int64, cache: inout (Int64, String)?) -> String {
        let ms = max(0, min(999, nanoseconds / 1_000_000))
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        if let cached = cache, cached.0 == seconds { return cached.1 + "." + msText + "Z" }
        let prefix = secondsPrefix(seconds)
        cache = (seconds, prefix)
        return prefix + "." + msText + "Z"
    }

    /// `YYYY-MM-DDTHH:MM:SS` (UTC) of a Unix time.
    static func secondsPrefix(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T"
            + "\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))"
    }


}

/// The query log's file could not be opened.
public struct QueryLogError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "query_log.path \(path): cannot open: \(reason)" }
}

/// A JSON object built one field at a time, with RFC 8259 string escaping.
struct JSONLine {
    private var text = "{"
    private var empty = true

    private mutating func key(_ k: String) {
        if !empty { text += "," }
        empty = false
        text += JSONLine.quoted(k) + ":"
    }
    mutating func string(_ k: String, _ v: String) { key(k); text += JSONLine.quoted(v) }
    mutating func number(_ k: String, _ v: Int) { key(k); text += String(v) }
    mutating func bool(_ k: String, _ v: Bool) { key(k); text += v ? "true" : "false" }
    mutating func strings(_ k: String, _ v: [String]) { key(k); text += "[" + v.map(JSONLine.quoted).joined(separator: ",") + "]" }
    mutating func finish() -> String { text + "}" }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
