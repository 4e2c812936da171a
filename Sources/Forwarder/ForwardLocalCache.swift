import DNSWire

/// One thread's front for the shared `ForwardCache`: the answers this UDP thread or TCP loop
/// served recently, in a small two-way set-associative table of its own.
///
/// A hit in the shared cache takes a stripe lock, a dictionary probe and an LRU move and copies
/// the entry's reference-counted fields: together several percent of a static answer's CPU
/// (issue #10 wants cache hits at ≥ 0.9× static q/s). A hit here takes none of that: the table is
/// this thread's alone. Each slot holds what the shared entry held when it was found there — the
/// same relayed answer, store time, expiry and snapshot generation — so an answer from here is
/// the one the shared cache would give, its TTLs counted down from the same store time, never
/// served past its expiry or after a reload. A hit here does not refresh the shared LRU, and the
/// shared cache evicting an entry does not remove it here: this table is bounded on its own, at
/// `slots` answers of at most `maxBytes` bytes each (sharing their storage with the shared cache
/// while it still holds them).
public struct ForwardLocalCache {
    /// What a lookup checks before touching the answer: trivially copyable.
    struct Meta {
        var hash: UInt64 = 0
        var storedAt: Double = 0
        var expiresAt: Double = 0
        var generation: UInt64 = 0
        var used = false
    }

    /// The key and answer of a slot, in one object: reading a slot retains one reference.
    final class Held {
        let key: [UInt8]
        let answer: RelayedAnswer
        init(key: [UInt8], answer: RelayedAnswer) {
            self.key = key
            self.answer = answer
        }
    }

    /// Slots (a power of two), two per set.
    public static let slots = 4096
    static let sets = slots / 2
    /// Answers longer than this (our default UDP payload) are served from the shared cache only.
    public static let maxBytes = 1232

    var meta: [Meta]
    var held: [Held?]

    public init() {
        meta = Array(repeating: Meta(), count: Self.slots)
        held = Array(repeating: nil, count: Self.slots)
    }

    /// Writes the answer this thread holds for `q` into `output` (as `ForwardCache.answer` does);
    /// nil when it holds none, or only an expired one or one from another snapshot generation.
    @inline(__always)
    public func answer(query: UnsafeRawBufferPointer, q: ForwardQuery, now: Double, generation: UInt64, limit: Int,
                       ourPayload: Int, output: UnsafeMutableRawBufferPointer) -> Int? {
        let first = (Int(truncatingIfNeeded: q.hash) & (Self.sets - 1)) &* 2
        for i in first..<(first + 2) {
            let m = meta[i]
            guard m.used, m.hash == q.hash else { continue }
            guard m.expiresAt > now, m.generation == generation, let h = held[i], q.keyMatches(h.key, query) else {
                return nil
            }
            let age = UInt32(max(0, min(now - m.storedAt, Double(UInt32.max))))
            return h.answer.render(query: query, q: q, age: age, limit: limit, ourPayload: ourPayload, output: output)
        }
        return nil
    }

    /// Keeps `hit` (found in the shared cache for `q`) for this thread's next questions: in the
    /// way that holds the same hash, else a free, expired or stale one, else the one expiring first.
    public mutating func remember(_ hit: ForwardCache.Hit, q: ForwardQuery, now: Double) {
        guard hit.answer.bytes.count <= Self.maxBytes else { return }
        let first = (Int(truncatingIfNeeded: q.hash) & (Self.sets - 1)) &* 2
        var i = first
        let (a, b) = (meta[first], meta[first + 1])
        if a.used && a.hash == q.hash {
            i = first
        } else if b.used && b.hash == q.hash {
            i = first + 1
        } else if !a.used || a.expiresAt <= now || a.generation != hit.generation {
            i = first
        } else if !b.used || b.expiresAt <= now || b.generation != hit.generation {
            i = first + 1
        } else {
            i = a.expiresAt <= b.expiresAt ? first : first + 1
        }
        meta[i] = Meta(hash: q.hash, storedAt: hit.storedAt, expiresAt: hit.expiresAt, generation: hit.generation,
                       used: true)
        held[i] = Held(key: hit.key, answer: hit.answer)
    }

    /// Forgets every answer (a new snapshot: none of them may be served again anyway).
    public mutating func removeAll() {
        for i in 0..<Self.slots where meta[i].used {
            meta[i] = Meta()
            held[i] = nil
        }
    }
}
