import DNSWire
import Synchronization

/// Response rate limiting settings (config `rrl`), as in Knot's `mod-rrl` and NSD's `rrl-*`.
public struct RateLimitSettings: Sendable, Hashable {
    /// Responses per second one bucket may send; a bucket also holds one second's worth of burst.
    public var rate: Int
    /// Every `slip`-th limited response is sent truncated (TC=1, no records) instead of dropped,
    /// so a real resolver behind a spoofed-upon address retries over TCP; 0 drops all, 1
    /// truncates all.
    public var slip: Int
    /// Source addresses are grouped into networks of this many bits (IPv4, IPv6).
    public var ipv4Prefix: Int
    public var ipv6Prefix: Int
    /// Buckets per UDP thread (rounded up to a power of two); each takes 32 bytes.
    public var tableSize: Int
    /// Sources never limited (e.g. monitoring, or resolvers one has agreed with).
    public var exempt: [IPNetwork]

    /// Defaults: NSD's (rate 200, slip 2, /24) with the /56 IPv6 grouping RFC 6177 gives a site.
    public init(rate: Int = 200, slip: Int = 2, ipv4Prefix: Int = 24, ipv6Prefix: Int = 56,
                tableSize: Int = 65536, exempt: [IPNetwork] = []) {
        self.rate = rate
        self.slip = slip
        self.ipv4Prefix = ipv4Prefix
        self.ipv6Prefix = ipv6Prefix
        self.tableSize = tableSize
        self.exempt = exempt
    }
}

/// What the rate limiter decided for one UDP response.
public enum RateLimitAction: Sendable, Hashable {
    /// Within the rate: send as produced.
    case send
    /// Over the rate, slipped: send header + question with TC=1.
    case truncate
    /// Over the rate: send nothing.
    case drop
}

/// The kind of response a bucket counts, as Knot's RRL classes (RFC-less practice from
/// "DNS Response Rate Limiting", Vixie/Schryver 2012): each has its own buckets, and the name in
/// the key is the one an attacker cannot vary to get a fresh bucket for the same zone.
public enum ResponseClass: UInt8, Sendable, Hashable, CaseIterable {
    /// Positive answer; keyed by QNAME and QTYPE.
    case answer = 1
    /// NXDOMAIN; keyed by the zone (the SOA owner in the authority section), so random
    /// subdomains share one bucket.
    case nxDomain
    /// NOERROR without answers; keyed by the zone like NXDOMAIN.
    case noData
    /// An answer synthesized from a wildcard (RFC 4592); keyed by the zone, so random names
    /// under a wildcard share one bucket.
    case wildcard
    /// Delegation; keyed by the zone cut (the NS owner).
    case referral
    /// Every other RCODE (FORMERR, REFUSED, NOTIMP, ...); keyed by the RCODE alone.
    case error
}

/// Per-thread response rate limiting: a token bucket per (source network, response class, name),
/// in a fixed-size table (no allocation, no locks after the first use). Pure: the caller passes
/// the time (the UDP worker's batch clock) and the response bytes.
///
/// Cost per response: one pass over the QNAME to hash it (plus, for negative answers and
/// referrals, one pass over the authority owner name), one table slot read and written.
/// Collisions simply share or take over a slot: a wrong guess costs at most one second of burst.
public struct ResponseRateLimiter {
    public let settings: RateLimitSettings
    let table: RateLimitTable
    /// Counts limited responses, for `slip`.
    var limited: UInt64 = 0

    /// `memory` provides the buckets (zero-filled memory leaves the pages no bucket has used yet
    /// unbacked: a server answering a few sources holds a few pages of its table, issue #12.3).
    public init(settings: RateLimitSettings, memory: TableMemory = .standard) {
        self.settings = settings
        var size = 4
        while size < settings.tableSize && size < (1 << 26) { size <<= 1 }
        table = RateLimitTable(slots: size, memory: memory)
    }

    /// Decides for `response` (a complete message, as produced) to `source` at `now` (seconds,
    /// monotonic). `wildcardZone`: the engine synthesized the answer from a wildcard in this zone.
    public mutating func decide(response p: UnsafeRawBufferPointer, source: IPAddress, now: Double,
                                wildcardZone: DomainName? = nil) -> RateLimitAction {
        decide(response: p, source: source, now: now, wildcardHash: wildcardZone.map(Self.wildcardHash))
    }

    /// The wildcard class's name hash for answers synthesized in `zone` (what `decide` keys on).
    static func wildcardHash(_ zone: DomainName) -> UInt64 {
        zone.wire.withUnsafeBytes { ResponseName.hash($0, at: 0) }
    }

    /// `decide` with the wildcard zone's name already hashed (`wildcardHash(_:)`): the fast path
    /// keeps the hash per synthesis rule instead of hashing the zone's name per response.
    mutating func decide(response p: UnsafeRawBufferPointer, source: IPAddress, now: Double,
                         wildcardHash: UInt64?) -> RateLimitAction {
        guard settings.rate > 0, p.count >= 12 else { return .send }
        if !settings.exempt.isEmpty {
            let s = source.mappedIPv4 ?? source
            if settings.exempt.contains(where: { $0.contains(s) }) { return .send }
        }
        let key = Self.key(response: p, source: source, settings: settings, wildcardHash: wildcardHash)
        let rate = Double(settings.rate)
        let slot = Int(truncatingIfNeeded: key >> 20) & table.mask
        let e = table.base + slot
        if e.pointee.key != key {
            // New bucket (or a colliding one taken over): a full second of burst, minus this one.
            e.pointee = RateLimitEntry(key: key, last: now, tokens: rate - 1)
            return .send
        }
        let elapsed = now - e.pointee.last
        var tokens = e.pointee.tokens
        if elapsed > 0 {
            tokens = min(rate, tokens + elapsed * rate)
            e.pointee.last = now
        }
        if tokens >= 1 {
            e.pointee.tokens = tokens - 1
            return .send
        }
        e.pointee.tokens = tokens
        limited &+= 1
        let slip = UInt64(max(0, settings.slip))
        if slip > 0 && limited % slip == 0 { return .truncate }
        return .drop
    }

    /// Cuts the response in `buffer` (of `length` bytes) to its header and question with TC=1 and
    /// no records: what a slipped response carries (RFC 1035 §4.1.1). Returns the new length.
    public static func truncate(_ buffer: UnsafeMutableRawBufferPointer, length: Int) -> Int {
        guard length >= 12 else { return length }
        let p = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        var end = 12
        if p[4] == 0 && p[5] == 1, let nameEnd = ResponseName.end(p, from: 12), nameEnd + 4 <= length {
            end = nameEnd + 4
        } else {
            buffer[4] = 0; buffer[5] = 0
        }
        buffer[2] |= 0x02
        for i in 6..<12 { buffer[i] = 0 }
        return end
    }

    /// The bucket key: source network, class, and the class's name (and QTYPE for answers).
    static func key(response p: UnsafeRawBufferPointer, source: IPAddress, settings: RateLimitSettings,
                    wildcardZone: DomainName? = nil) -> UInt64 {
        key(response: p, source: source, settings: settings, wildcardHash: wildcardZone.map(wildcardHash))
    }

    static func key(response p: UnsafeRawBufferPointer, source: IPAddress, settings: RateLimitSettings,
                    wildcardHash: UInt64?) -> UInt64 {
        let s = source.mappedIPv4 ?? source
        var h: UInt64
        switch s.masked(to: s.family == 1 ? settings.ipv4Prefix : settings.ipv6Prefix) {
        case .v4(let v): h = UInt64(v) | (1 << 62)
        case .v6(let hi, let lo): h = (hi ^ (lo &* 0x9e37_79b9_7f4a_7c15)) | (1 << 63)
        }
        // A wildcard-class answer is keyed on its zone, not on the QNAME: do not hash the QNAME.
        var (cls, name, qtype) = classify(p, hashingAnswerName: wildcardHash == nil)
        if cls == .answer, let wildcardHash {
            cls = .wildcard
            name = wildcardHash
        }
        h = mix(h ^ UInt64(cls.rawValue) << 56 ^ UInt64(qtype) << 32)
        h = mix(h ^ name)
        return h == 0 ? 1 : h
    }

    /// The response's class, the hash of the name that keys it, and the QTYPE for answers.
    /// `hashingAnswerName` false: a positive answer's name hash is left 0 (the caller keys it
    /// on something else).
    static func classify(_ p: UnsafeRawBufferPointer, hashingAnswerName: Bool = true) -> (ResponseClass, UInt64, UInt16) {
        let rcode = p[3] & 0x0f
        let qd = Int(p[4]) << 8 | Int(p[5])
        let an = Int(p[6]) << 8 | Int(p[7])
        let ns = Int(p[8]) << 8 | Int(p[9])
        let aa = p[2] & 0x04 != 0
        guard rcode == 0 || rcode == 3, qd == 1, let qEnd = ResponseName.end(p, from: 12), qEnd + 4 <= p.count else {
            return (.error, UInt64(rcode), 0)
        }
        let qtype = UInt16(p[qEnd]) << 8 | UInt16(p[qEnd + 1])
        if an > 0 {
            // Positive answers (a CNAME leading to NXDOMAIN counts here too: it answered).
            return (.answer, hashingAnswerName ? ResponseName.hash(p, at: 12) : 0, qtype)
        }
        // No answers: the first authority record names the zone (SOA) or the cut (NS).
        let authority = qEnd + 4
        let owner = ns > 0 ? ResponseName.hash(p, at: authority) : ResponseName.hash(p, at: 12)
        if rcode == 3 { return (.nxDomain, owner, 0) }
        if !aa && ns > 0 { return (.referral, owner, 0) }
        return (.noData, owner, 0)
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Bounded reads of names in a response we produced (still checked: a bad offset gives a
/// constant, never a trap).
enum ResponseName {
    /// The offset just past the uncompressed-or-pointer-terminated name at `from`, or nil.
    static func end(_ p: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        while i < p.count {
            let l = Int(p[i])
            if l == 0 { return i + 1 }
            if l & 0xc0 == 0xc0 { return i + 2 <= p.count ? i + 2 : nil }
            guard l <= 63 else { return nil }
            i += 1 + l
        }
        return nil
    }

    /// FNV-1a over the lowercased name at `at`, following at most 16 backward pointers.
    static func hash(_ p: UnsafeRawBufferPointer, at: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = at
        var hops = 0
        while i < p.count {
            let l = Int(p[i])
            if l == 0 { return h }
            if l & 0xc0 == 0xc0 {
                guard i + 1 < p.count, hops < 16 else { return h }
                let target = (l & 0x3f) << 8 | Int(p[i + 1])
                guard target < i else { return h }
                hops += 1
                i = target
                continue
            }
            guard l <= 63, i + 1 + l <= p.count else { return h }
            h = (h ^ UInt64(l)) &* 0x100_0000_01b3
            for k in (i + 1)...(i + l) { h = (h ^ UInt64(asciiLower(p[k]))) &* 0x100_0000_01b3 }
            i += 1 + l
        }
        return h
    }
}

/// One token bucket: 32 bytes.
struct RateLimitEntry {
    var key: UInt64
    /// When tokens were last added (seconds).
    var last: Double
    /// Responses the bucket may still send (fractional refill).
    var tokens: Double
}

/// The fixed table of buckets. A class only to own its memory; one thread uses it.
final class RateLimitTable {
    let base: UnsafeMutablePointer<RateLimitEntry>
    let mask: Int
    private let memory: TableMemory
    private let owned: Bool

    /// The buckets come from `memory`; when it cannot provide them (out of memory), from the
    /// standard allocator, which traps as any allocation does.
    init(slots: Int, memory: TableMemory = .standard) {
        let bytes = slots * MemoryLayout<RateLimitEntry>.stride
        mask = slots - 1
        if let raw = memory.allocate(bytes) {
            self.memory = memory
            owned = true
            base = raw.bindMemory(to: RateLimitEntry.self, capacity: slots)
            // An all-zero entry is the empty bucket (key 0, last 0, tokens 0).
            if !memory.zeroFilled { base.initialize(repeating: RateLimitEntry(key: 0, last: 0, tokens: 0), count: slots) }
        } else {
            self.memory = .standard
            owned = false
            base = UnsafeMutablePointer<RateLimitEntry>.allocate(capacity: slots)
            base.initialize(repeating: RateLimitEntry(key: 0, last: 0, tokens: 0), count: slots)
        }
    }

    deinit {
        base.deinitialize(count: mask + 1)
        if owned {
            memory.deallocate(UnsafeMutableRawPointer(base), (mask + 1) * MemoryLayout<RateLimitEntry>.stride)
        } else {
            base.deallocate()
        }
    }
}

/// Response rate limiting for UDP answers sent later from another thread (an ipstack lookup's
/// deferred answer): the same buckets as the workers' `ResponseRateLimiter`, one table shared
/// under a mutex — deferred answers are few (bounded by the pending-lookup limit), so the lock is
/// never on the per-query path. Without it, a flood of queries whose clients need a remote lookup
/// would reach the spoofed source unlimited.
public final class SharedResponseRateLimiter: Sendable {
    private let limiter = Mutex<ResponseRateLimiter?>(nil)

    public init() {}

    /// The response as it may be sent to `source` under `settings` (nil: rate limiting off):
    /// unchanged, nil (dropped), or cut to a TC=1 header and question (slipped).
    public func admit(_ response: [UInt8], source: IPAddress, now: Double, settings: RateLimitSettings?) -> [UInt8]? {
        guard let settings else { return response }
        let action = limiter.withLock { limiter in
            if limiter?.settings != settings { limiter = ResponseRateLimiter(settings: settings) }
            return response.withUnsafeBytes {
                limiter!.decide(response: $0, source: source, now: now, wildcardHash: nil)
            }
        }
        switch action {
        case .send: return response
        case .drop: return nil
        case .truncate:
            var cut = response
            let n = cut.withUnsafeMutableBytes { ResponseRateLimiter.truncate($0, length: $0.count) }
            return Array(cut[0..<n])
        }
    }
}
