import DNSWire
import NIOConcurrencyHelpers

/// The fallback resolver's answer cache: keyed on (lowercased name, type, class), bounded in
/// entries, least recently used evicted first, entries expire by TTL.
///
/// Shared by every UDP thread and TCP event loop, so a name one thread learned is a hit on all.
/// Lock-striped: 64 stripes by key hash, each a mutex over a hash index (key hash → slot) and an
/// intrusive LRU list in arrays (no per-hit allocation). A hit takes one uncontended lock in the
/// common case and copies the answer out under it (a few hundred bytes); per-thread caches were
/// the other choice, but would ask the upstream once per thread and multiply memory by threads.
/// Entries carry the snapshot generation they were learned under, and a hit requires the current
/// one: after a reload (which may add a zone covering a cached name) nothing older is served.
public final class ForwardCache: Sendable {
    static let stripeCount = 64

    struct Entry {
        var key: [UInt8]
        var answer: RelayedAnswer
        var storedAt: Double
        var expiresAt: Double
        var generation: UInt64
        var hash: UInt64
        var prev: Int32
        var next: Int32
    }

    /// One stripe: slots in an array, free list, LRU list head (most recent) and tail.
    struct Stripe {
        var index: [UInt64: Int32] = [:]
        var slots: [Entry?] = []
        var free: [Int32] = []
        var head: Int32 = -1
        var tail: Int32 = -1
        let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        mutating func unlink(_ i: Int32) {
            let e = slots[Int(i)]!
            if e.prev >= 0 { slots[Int(e.prev)]!.next = e.next } else { head = e.next }
            if e.next >= 0 { slots[Int(e.next)]!.prev = e.prev } else { tail = e.prev }
        }

        mutating func pushFront(_ i: Int32) {
            slots[Int(i)]!.prev = -1
            slots[Int(i)]!.next = head
            if head >= 0 { slots[Int(head)]!.prev = i }
            head = i
            if tail < 0 { tail = i }
        }

        mutating func remove(_ i: Int32) {
            unlink(i)
            index.removeValue(forKey: slots[Int(i)]!.hash)
            slots[Int(i)] = nil
            free.append(i)
        }
    }

    private let stripes: [NIOLockedValueBox<Stripe>]
    public let capacity: Int

    /// A cache of at most `maxEntries` answers (at least one per stripe).
    public init(maxEntries: Int) {
        let per = max(1, (maxEntries + Self.stripeCount - 1) / Self.stripeCount)
        capacity = per * Self.stripeCount
        stripes = (0..<Self.stripeCount).map { _ in NIOLockedValueBox(Stripe(capacity: per)) }
    }

    @inline(__always)
    private func stripe(_ hash: UInt64) -> NIOLockedValueBox<Stripe> {
        stripes[Int(truncatingIfNeeded: (hash >> 58) ^ hash) & (Self.stripeCount - 1)]
    }

    /// An entry as a lookup found it (its answer's storage is shared, not copied).
    public struct Hit: Sendable {
        public let key: [UInt8]
        public let answer: RelayedAnswer
        public let storedAt: Double
        public let expiresAt: Double
        public let generation: UInt64

        /// Writes the answer for `q` into `output`, TTLs counted down to `now` (see
        /// `RelayedAnswer.render`).
        @inline(__always)
        public func render(query: UnsafeRawBufferPointer, q: ForwardQuery, now: Double, limit: Int, ourPayload: Int,
                           output: UnsafeMutableRawBufferPointer) -> Int? {
            let age = UInt32(max(0, min(now - storedAt, Double(UInt32.max))))
            return answer.render(query: query, q: q, age: age, limit: limit, ourPayload: ourPayload, output: output)
        }
    }

    /// The live entry for `q` (from `query`), moved to the front of its LRU list; nil on a miss
    /// (absent, expired, or learned under another snapshot generation).
    public func lookup(query: UnsafeRawBufferPointer, q: ForwardQuery, now: Double, generation: UInt64) -> Hit? {
        stripe(q.hash).withLockedValue { s -> Hit? in
            guard let i = s.index[q.hash], let e = s.slots[Int(i)] else { return nil }
            guard q.keyMatches(e.key, query) else { return nil }
            guard e.expiresAt > now, e.generation == generation else {
                s.remove(i)
                return nil
            }
            if s.head != i { s.unlink(i); s.pushFront(i) }
            return Hit(key: e.key, answer: e.answer, storedAt: e.storedAt, expiresAt: e.expiresAt, generation: e.generation)
        }
    }

    /// Writes the cached answer for `q` (from `query`) into `output`, TTLs counted down to `now`;
    /// nil on a miss (absent, expired, or learned under another snapshot generation). The answer
    /// is written after the stripe's lock is released (its bytes are immutable).
    public func answer(query: UnsafeRawBufferPointer, q: ForwardQuery, now: Double, generation: UInt64, limit: Int,
                       ourPayload: Int, output: UnsafeMutableRawBufferPointer) -> Int? {
        lookup(query: query, q: q, now: now, generation: generation)?
            .render(query: query, q: q, now: now, limit: limit, ourPayload: ourPayload, output: output)
    }

    /// Stores `answer` for `key` (hash `hash`) for `answer.cacheSeconds` from `now`; answers with
    /// no cache lifetime are not stored. Replaces an entry with the same hash.
    public func insert(key: [UInt8], hash: UInt64, answer: RelayedAnswer, now: Double, generation: UInt64) {
        guard answer.cacheSeconds > 0 else { return }
        stripe(hash).withLockedValue { s in
            if let old = s.index[hash] { s.remove(old) }
            if s.index.count >= s.capacity, s.tail >= 0 { s.remove(s.tail) }
            let e = Entry(key: key, answer: answer, storedAt: now, expiresAt: now + Double(answer.cacheSeconds),
                          generation: generation, hash: hash, prev: -1, next: -1)
            let i: Int32
            if let f = s.free.popLast() {
                i = f
                s.slots[Int(i)] = e
            } else {
                i = Int32(s.slots.count)
                s.slots.append(e)
            }
            s.index[hash] = i
            s.pushFront(i)
        }
    }

    /// Entries held now (for tests and metrics).
    public var count: Int {
        var total = 0
        for s in stripes { total += s.withLockedValue { stripe in stripe.index.count } }
        return total
    }
}
