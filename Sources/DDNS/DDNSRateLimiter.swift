/// Per-silo write budget (`ddns.max_updates_per_minute`) as a token bucket, a value with mutating
/// events (STYLE §5); the service holds it under a lock and passes a monotonic clock.
///
/// Each silo's bucket holds up to `perMinute` writes and refills at `perMinute / 60` per second, so
/// a burst of `perMinute` is allowed, then one write every `60 / perMinute` s. The table is
/// bounded (STYLE §10): a full bucket is the same as no entry, so full buckets are dropped when
/// the table reaches `maxEntries`; if none is full, the least recently used entry is dropped
/// (that silo then gets a full bucket — generous, never a wrong refusal of an idle silo).
public struct DDNSRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    /// Writes per minute per silo (the bucket's size).
    public let perMinute: Int
    /// Most silos tracked at once.
    public let maxEntries: Int
    private var buckets: [String: Bucket] = [:]

    /// Creates a limiter.
    public init(perMinute: Int, maxEntries: Int) {
        self.perMinute = max(1, perMinute)
        self.maxEntries = max(1, maxEntries)
    }

    /// Silos tracked now.
    public var count: Int { buckets.count }

    /// Takes one write from `key`'s bucket at `now` (nanoseconds, monotonic). False: over budget.
    public mutating func take(_ key: String, now: UInt64) -> Bool {
        let capacity = Double(perMinute)
        var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
        let elapsed = now >= bucket.updated ? Double(now - bucket.updated) / 1e9 : 0
        bucket.tokens = min(capacity, bucket.tokens + elapsed * capacity / 60)
        bucket.updated = max(bucket.updated, now)
        guard bucket.tokens >= 1 else {
            buckets[key] = bucket
            return false
        }
        bucket.tokens -= 1
        if buckets[key] == nil && buckets.count >= maxEntries { evict(now: now) }
        buckets[key] = bucket
        return true
    }

    /// Forgets a silo (deleted).
    public mutating func forget(_ key: String) {
        buckets[key] = nil
    }

    private mutating func evict(now: UInt64) {
        let capacity = Double(perMinute)
        buckets = buckets.filter { _, b in
            let elapsed = now >= b.updated ? Double(now - b.updated) / 1e9 : 0
            return b.tokens + elapsed * capacity / 60 < capacity
        }
        if buckets.count >= maxEntries, let oldest = buckets.min(by: { $0.value.updated < $1.value.updated }) {
            buckets[oldest.key] = nil
        }
    }
}
