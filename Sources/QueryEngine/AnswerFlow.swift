import DNSWire
import Synchronization

/// Where routed answers went, for the status page's map: counts keyed by (client grid cell,
/// answered backend), kept per query thread without a lock or an allocation per answer, summed
/// and turned into a sliding window only when read.
///
/// A client is placed in a cell of a fixed `cellDegrees` latitude/longitude grid (coarse on
/// purpose: the page shows regions, not clients, and the key space stays small and bounded).
public enum AnswerFlow {
    /// Grid cell size in degrees.
    public static let cellDegrees = 5.0
    static let latitudeCells = 36   // 180 / 5
    static let longitudeCells = 72  // 360 / 5

    /// The grid cell of a coordinate, or nil for a non-finite one (never traps).
    @inline(__always)
    public static func cell(latitude: Double, longitude: Double) -> Int? {
        guard latitude.isFinite, longitude.isFinite else { return nil }
        let row = Int(min(max((latitude + 90) / cellDegrees, 0), Double(latitudeCells - 1)))
        let column = Int(min(max((longitude + 180) / cellDegrees, 0), Double(longitudeCells - 1)))
        return row * longitudeCells + column
    }

    /// The centre of a cell (latitude, longitude); nil for a number that is not a cell.
    public static func centre(ofCell cell: Int) -> (latitude: Double, longitude: Double)? {
        guard cell >= 0, cell < latitudeCells * longitudeCells else { return nil }
        let row = cell / longitudeCells, column = cell % longitudeCells
        return (Double(row) * cellDegrees - 90 + cellDegrees / 2, Double(column) * cellDegrees - 180 + cellDegrees / 2)
    }

    /// A backend address folded to 48 bits plus a family bit: IPv4 exactly, IPv6 hashed (the
    /// reader maps folds back to configured members; a fold no member has is dropped).
    @inline(__always)
    public static func fold(_ address: IPAddress) -> UInt64 {
        switch address {
        case .v4(let v): return UInt64(v)
        case .v6(let hi, let lo):
            let mixed = (hi ^ (lo &* 0x9e37_79b9_7f4a_7c15)) &* 0xff51_afd7_ed55_8ccd
            return (mixed >> 16) | (1 << 48)
        }
    }

    /// The table key of (cell, folded address): bit 63 always set (0 is an empty slot).
    @inline(__always)
    static func key(cell: Int, fold: UInt64) -> UInt64 {
        (1 << 63) | (UInt64(truncatingIfNeeded: cell) & 0xfff) << 49 | (fold & 0x1_ffff_ffff_ffff)
    }

    /// The (cell, fold) of a table key.
    static func split(_ key: UInt64) -> (cell: Int, fold: UInt64) {
        (Int(truncatingIfNeeded: (key >> 49) & 0xfff), key & 0x1_ffff_ffff_ffff)
    }
}

/// One query thread's answer counts: a fixed open-addressed table of (key, count) pairs.
///
/// Written by its one thread only (relaxed atomic stores, a plain `mov` on x86-64, so there is no
/// lock and no shared cache line per answer); read by any thread with relaxed loads. A key is
/// written once into an empty slot and never changes, so a reader sees a key with its count or
/// with a count slightly behind. When a key finds no slot within `probes`, the answer is counted
/// in `overflow` instead (bounded memory whatever the traffic).
public final class AnswerFlowTable: @unchecked Sendable {
    /// Slots per thread (a power of two): 1024 × 16 bytes.
    public static let slots = 1024
    static let probes = 8
    /// keys at even, counts at odd indexes; then the overflow counter.
    private let words: UnsafeMutablePointer<Atomic<UInt64>>

    init() {
        let count = 2 * Self.slots + 1
        words = .allocate(capacity: count)
        for i in 0..<count { (words + i).initialize(to: Atomic(0)) }
    }

    deinit {
        words.deinitialize(count: 2 * Self.slots + 1)
        words.deallocate()
    }

    /// Counts one answer to `address` for a client in `cell` (owner thread only).
    @inline(__always)
    public func count(cell: Int, address: IPAddress) {
        let key = AnswerFlow.key(cell: cell, fold: AnswerFlow.fold(address))
        var slot = Int(truncatingIfNeeded: (key &* 0x9e37_79b9_7f4a_7c15) >> 40) & (Self.slots - 1)
        for _ in 0..<Self.probes {
            let present = words[2 * slot].load(ordering: .relaxed)
            if present == key {
                let n = words[2 * slot + 1].load(ordering: .relaxed)
                words[2 * slot + 1].store(n &+ 1, ordering: .relaxed)
                return
            }
            if present == 0 {
                words[2 * slot + 1].store(1, ordering: .relaxed)
                words[2 * slot].store(key, ordering: .releasing)
                return
            }
            slot = (slot + 1) & (Self.slots - 1)
        }
        let n = words[2 * Self.slots].load(ordering: .relaxed)
        words[2 * Self.slots].store(n &+ 1, ordering: .relaxed)
    }

    /// Adds this table's counts into `totals` (any thread); returns the overflow count.
    func add(into totals: inout [UInt64: UInt64]) -> UInt64 {
        for slot in 0..<Self.slots {
            let key = words[2 * slot].load(ordering: .acquiring)
            guard key != 0 else { continue }
            totals[key, default: 0] &+= words[2 * slot + 1].load(ordering: .relaxed)
        }
        return words[2 * Self.slots].load(ordering: .relaxed)
    }
}

/// All threads' tables, and the samples that turn their ever-growing counts into a sliding
/// window. `sample(now:)` is called on a timer (every `sampleInterval`); reads diff the counts of
/// now against the oldest sample inside the window. The clock is the caller's (pure module).
public final class AnswerFlowRecorder: Sendable {
    /// One answered flow over a window.
    public struct Flow: Hashable, Sendable {
        /// The client grid cell (`AnswerFlow.centre(ofCell:)`).
        public var cell: Int
        /// The answered backend, folded (`AnswerFlow.fold`).
        public var fold: UInt64
        /// Answers in the window.
        public var count: UInt64
    }

    /// The flows of one window.
    public struct Window: Sendable {
        /// Seconds the window really covers (shorter than asked for just after start).
        public var seconds: Double
        /// Non-zero flows.
        public var flows: [Flow]
        /// Answers that found no table slot (all cells and backends) in the window.
        public var overflow: UInt64
    }

    struct Sample {
        var time: Double
        var totals: [UInt64: UInt64]
        var overflow: UInt64
    }

    struct State {
        var tables: [AnswerFlowTable] = []
        var samples: [Sample] = []
    }

    /// At most this many tables (threads); more workers share nothing and are simply not counted.
    public static let maxTables = 256
    /// How long samples are kept: the longest window that can be asked for.
    public let retention: Double
    /// How often the owner is expected to call `sample(now:)`.
    public let sampleInterval: Double
    private let state = Mutex(State())

    /// Creates a recorder keeping `retention` seconds of samples taken every `sampleInterval`.
    public init(retention: Double = 300, sampleInterval: Double = 5) {
        self.retention = retention
        self.sampleInterval = sampleInterval
    }

    /// A new table for one query thread (nil past `maxTables`).
    public func makeTable() -> AnswerFlowTable? {
        state.withLock { s in
            guard s.tables.count < Self.maxTables else { return nil }
            let table = AnswerFlowTable()
            s.tables.append(table)
            return table
        }
    }

    /// Records the current counts as a sample at `now` and forgets samples older than the
    /// retention (at most retention / interval + 2 are kept).
    public func sample(now: Double) {
        let current = totals(now: now)
        state.withLock { s in
            s.samples.append(current)
            s.samples.removeAll { $0.time < now - retention - sampleInterval }
            let bound = Int((retention / max(sampleInterval, 0.001)).rounded(.up)) + 2
            if s.samples.count > bound { s.samples.removeFirst(s.samples.count - bound) }
        }
    }

    /// The flows of the last `seconds` (up to the retention) at `now`: counts now minus the
    /// oldest sample not older than the window (all counts when there is none yet).
    public func window(seconds: Double, now: Double) -> Window {
        let current = totals(now: now)
        let base = state.withLock { s in s.samples.first { $0.time >= now - seconds } }
        var flows: [Flow] = []
        for (key, count) in current.totals {
            let before = base?.totals[key] ?? 0
            guard count > before else { continue }
            let (cell, fold) = AnswerFlow.split(key)
            flows.append(Flow(cell: cell, fold: fold, count: count - before))
        }
        flows.sort { ($0.count, $1.cell, $1.fold) > ($1.count, $0.cell, $0.fold) }
        let overflow = current.overflow &- (base?.overflow ?? 0)
        let covered = base.map { now - $0.time } ?? 0
        return Window(seconds: covered, flows: flows, overflow: overflow)
    }

    private func totals(now: Double) -> Sample {
        let tables = state.withLock { $0.tables }
        var totals: [UInt64: UInt64] = [:]
        var overflow: UInt64 = 0
        for table in tables { overflow &+= table.add(into: &totals) }
        return Sample(time: now, totals: totals, overflow: overflow)
    }
}
