import DNSWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One answered query as the query log captured it, viewed in place (the writer reads it straight
/// from a thread's ring slot; nothing is copied out).
public struct QueryLogEntry {
    /// Wall-clock time the answer was made (CLOCK_REALTIME).
    public var seconds: Int64
    public var nanoseconds: Int64
    public var client: IPAddress
    public var port: UInt16
    public var tcp: Bool
    public var placement: PlacementKind
    /// `AnswerFacts.routeNameHash` (0: no pool answered).
    public var routeNameHash: UInt64
    /// The query as received (possibly cut to the slot's room: then it does not parse).
    public var query: UnsafeRawBufferPointer
    /// The response as sent, or its first bytes when `responseCut`.
    public var response: UnsafeRawBufferPointer
    /// The response did not fit the slot: only its header fields are logged.
    public var responseCut: Bool

    public init(seconds: Int64, nanoseconds: Int64, client: IPAddress, port: UInt16, tcp: Bool,
                placement: PlacementKind, routeNameHash: UInt64, query: UnsafeRawBufferPointer,
                response: UnsafeRawBufferPointer, responseCut: Bool) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.client = client
        self.port = port
        self.tcp = tcp
        self.placement = placement
        self.routeNameHash = routeNameHash
        self.query = query
        self.response = response
        self.responseCut = responseCut
    }
}

/// The routed names, pools and members of one snapshot, already in their JSON form: what a routed
/// log line's `routed_name`, `pool` and `member` fields are copied from. Built once per snapshot by
/// the writer, never on the query path.
public struct QueryLogLabels: Sendable {
    struct Key: Hashable {
        var nameHash: UInt64
        var hi: UInt64
        var lo: UInt64
    }

    /// `,"routed_name":…,"pool":…,"member":…` per (routed name, member address).
    private var fragments: [Key: [UInt8]] = [:]
    /// `,"routed_name":"…","pool":"","member":"` per routed name: an address no pool of the route
    /// holds (a zone-file answer) is named by itself.
    private var unpooled: [UInt64: [UInt8]] = [:]

    /// `routes`: each routed name's hash (`AnswerFacts.nameHash`), presentation text and pools in
    /// the order they are tried (the route's pool, then an all-down fallback pool); `members`: each
    /// pool's member names by address. The first pool holding an address names it.
    public init(routes: [(nameHash: UInt64, name: String, pools: [String])], members: [String: [IPAddress: String]]) {
        for route in routes {
            let name = QueryLogFormatter.jsonQuoted(route.name)
            unpooled[route.nameHash] = Array(#","routed_name":"#.utf8) + name + Array(#","pool":"","member":""#.utf8)
            for pool in route.pools.reversed() {
                for (address, member) in members[pool] ?? [:] {
                    let (hi, lo) = QueryLogLabels.words(address)
                    fragments[Key(nameHash: route.nameHash, hi: hi, lo: lo)] =
                        Array(#","routed_name":"#.utf8) + name + Array(#","pool":"#.utf8) + QueryLogFormatter.jsonQuoted(pool)
                        + Array(#","member":"#.utf8) + QueryLogFormatter.jsonQuoted(member)
                }
            }
        }
    }

    /// No routed names.
    public init() {}

    /// IPv4 as (all ones, address), IPv6 as its two halves (the counters' convention).
    static func words(_ a: IPAddress) -> (UInt64, UInt64) {
        switch a {
        case .v4(let v): return (.max, UInt64(v))
        case .v6(let hi, let lo): return (hi, lo)
        }
    }

    func fragment(nameHash: UInt64, hi: UInt64, lo: UInt64) -> [UInt8]? {
        fragments[Key(nameHash: nameHash, hi: hi, lo: lo)]
    }

    func unpooledPrefix(nameHash: UInt64) -> [UInt8]? { unpooled[nameHash] }
}

/// Turns captured exchanges into the query log's JSON lines (README, "Query log") at byte level:
/// the fields are read from the wire bytes of the query and response and written straight into one
/// reused output buffer, with no `Message`, no `String` per field and no allocation per line (the
/// buffer only grows for a line longer than any before).
///
/// The text is exactly what the `Message`-based formatter wrote: a message that
/// `Message(parsing:)` rejects contributes only what that formatter took from it without parsing
/// (the rcode and TC bits of the response header), names and RDATA are in presentation format
/// (`DomainName.description`, `RData.description`) and every string is JSON-escaped (RFC 8259 §7).
/// Every read is bounds-checked: hostile bytes give a shorter line, never a trap (`fuzz-querylog`).
public struct QueryLogFormatter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes of finished lines in the buffer.
    public private(set) var count = 0
    /// The last whole second formatted (`YYYY-MM-DDTHH:MM:SS`): computed once per second.
    private var cachedSecond: Int64 = .min
    private var secondText: (UInt64, UInt64, UInt32) = (0, 0, 0)

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(64, capacity)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The finished lines, valid until the next mutation.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Forgets the lines (the memory stays for the next ones).
    public mutating func removeAll() { count = 0 }

    // MARK: output primitives (callers `reserve` first)

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private mutating func grow(_ needed: Int) {
        var c = capacity
        while c < needed { c *= 2 }
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        b.update(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }

    @inline(__always)
    private mutating func put(_ b: UInt8) {
        base[count] = b
        count += 1
    }

    /// An ASCII literal. A byte loop: these are short, and a memmove call per literal showed in
    /// profiles. (A one-character literal is stored as a scalar, not a pointer.)
    @inline(__always)
    private mutating func put(_ s: StaticString) {
        guard s.hasPointerRepresentation else {
            put(UInt8(truncatingIfNeeded: s.unicodeScalar.value))
            return
        }
        let p = s.utf8Start
        let to = base + count
        let n = s.utf8CodeUnitCount
        for i in 0..<n { to[i] = p[i] }
        count += n
    }

    private mutating func put(_ bytes: [UInt8]) {
        reserve(bytes.count)
        bytes.withUnsafeBufferPointer { (base + count).update(from: $0.baseAddress!, count: $0.count) }
        count += bytes.count
    }

    /// Decimal digits of `v` (≤ 20 bytes).
    @inline(__always)
    private mutating func putDecimal(_ v: UInt64) {
        if v < 10 { put(UInt8(truncatingIfNeeded: v) &+ 48); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var n = 0
        var x = v
        let to = base + count
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 {
                d[23 - n] = UInt8(truncatingIfNeeded: x % 10) &+ 48
                x /= 10
                n += 1
            }
            to.update(from: d.baseAddress!.assumingMemoryBound(to: UInt8.self) + (24 - n), count: n)
        }
        count += n
    }

    @inline(__always)
    private mutating func putHex16(_ v: UInt16) {
        let hex: StaticString = "0123456789abcdef"
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = Int((v >> UInt16(shift)) & 0xf)
            if nibble != 0 || started || shift == 0 {
                put(hex.utf8Start[nibble])
                started = true
            }
        }
    }

    /// `IPAddress.description` (RFC 5952 for IPv6; ≤ 45 bytes).
    private mutating func putAddress(_ a: IPAddress) {
        switch a {
        case .v4(let v):
            putDecimal(UInt64(v >> 24)); put(46)
            putDecimal(UInt64((v >> 16) & 0xff)); put(46)
            putDecimal(UInt64((v >> 8) & 0xff)); put(46)
            putDecimal(UInt64(v & 0xff))
        case .v6(let hi, let lo):
            if hi == 0 && (lo >> 32) == 0xffff {
                put("::ffff:")
                putAddress(.v4(UInt32(truncatingIfNeeded: lo)))
                return
            }
            func group(_ i: Int) -> UInt16 {
                UInt16(truncatingIfNeeded: (i < 4 ? hi : lo) >> UInt64(48 - 16 * (i & 3)))
            }
            var bestStart = -1, bestLen = 0, i = 0
            while i < 8 {
                if group(i) == 0 {
                    var j = i
                    while j < 8 && group(j) == 0 { j += 1 }
                    if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                    i = j
                } else { i += 1 }
            }
            if bestStart < 0 {
                for g in 0..<8 {
                    if g > 0 { put(58) }
                    putHex16(group(g))
                }
                return
            }
            for g in 0..<bestStart {
                if g > 0 { put(58) }
                putHex16(group(g))
            }
            put(58); put(58)
            for g in (bestStart + bestLen)..<8 {
                if g > bestStart + bestLen { put(58) }
                putHex16(group(g))
            }
        }
    }

    // MARK: one line

    /// Appends one JSON line (with its newline) for `e`; `labels` names routed answers (nil: the
    /// routed fields are left out, as before the first snapshot's labels exist).
    public mutating func append(_ e: QueryLogEntry, labels: QueryLogLabels?) {
        let query = WireScan.scan(e.query)
        let response = e.responseCut ? nil : WireScan.scan(e.response)
        reserve(160)
        put(#"{"time":""#)
        putTime(seconds: e.seconds, nanoseconds: e.nanoseconds)
        put(#"","client":""#)
        putAddress(e.client)
        put(#"","port":"#)
        putDecimal(UInt64(e.port))
        put(e.tcp ? #","transport":"tcp""# : #","transport":"udp""#)
        if let query, query.ecs >= 0 {
            reserve(80)
            put(#","ecs":""#)
            putECS(e.query, at: query.ecs)
            put(34)
            if let response, response.ecs >= 0, response.ecs + 3 < e.response.count {
                put(#","ecs_scope":"#)
                putDecimal(UInt64(e.response[response.ecs + 3]))
            }
        }
        if let query, query.question >= 0 {
            putQuestion(e.query, at: query.question)
        } else if let response, response.question >= 0 {
            putQuestion(e.response, at: response.question)
        }
        reserve(64)
        if e.response.count >= 4 {
            let low = UInt16(e.response[3] & 0x0f)
            let rcode = response.map { UInt16($0.extendedRCode) << 4 | low } ?? low
            put(#","rcode":""#)
            putRCode(rcode)
            put(e.response[2] & 0x02 != 0 ? #"","tc":true"# : #"","tc":false"#)
        }
        if let response {
            putAnswers(e.response, response)
            if e.routeNameHash != 0, let labels {
                putRoute(e.response, response, nameHash: e.routeNameHash, labels: labels)
            }
        }
        reserve(40)
        switch e.placement {
        case .none: break
        case .override: put(#","placement":"override""#)
        case .database: put(#","placement":"database""#)
        case .ipstack: put(#","placement":"ipstack""#)
        case .unplaced: put(#","placement":"unplaced""#)
        }
        put(125)
        put(10)
    }

    /// RFC 3339 UTC with milliseconds: `2026-11-30T15:04:05.123Z` (24 bytes).
    private mutating func putTime(seconds: Int64, nanoseconds: Int64) {
        if seconds != cachedSecond {
            cachedSecond = seconds
            var t = time_t(truncatingIfNeeded: seconds)
            var tmv = tm()
            gmtime_r(&t, &tmv)
            withUnsafeMutableBytes(of: &secondText) { s in
                func digits(_ v: Int32, _ width: Int, at: Int) {
                    var x = Int(v)
                    for k in stride(from: width - 1, through: 0, by: -1) {
                        s[at + k] = UInt8(truncatingIfNeeded: x % 10 + 48)
                        x /= 10
                    }
                }
                digits(tmv.tm_year + 1900, 4, at: 0); s[4] = 45
                digits(tmv.tm_mon + 1, 2, at: 5); s[7] = 45
                digits(tmv.tm_mday, 2, at: 8); s[10] = 84
                digits(tmv.tm_hour, 2, at: 11); s[13] = 58
                digits(tmv.tm_min, 2, at: 14); s[16] = 58
                digits(tmv.tm_sec, 2, at: 17)
            }
        }
        let to = base + count
        withUnsafeBytes(of: secondText) { s in
            to.update(from: s.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 19)
        }
        count += 19
        let ms = Int(max(0, min(999, nanoseconds / 1_000_000)))
        put(46)
        put(UInt8(truncatingIfNeeded: ms / 100 + 48))
        put(UInt8(truncatingIfNeeded: ms / 10 % 10 + 48))
        put(UInt8(truncatingIfNeeded: ms % 10 + 48))
        put(90)
    }

    /// `address/source` of a Client Subnet option already validated by `WireScan` (RFC 7871 §6).
    private mutating func putECS(_ m: UnsafeRawBufferPointer, at o: Int) {
        guard o + 4 <= m.count else { return }
        let family = m[o + 1], source = m[o + 2]
        let octets = min((Int(source) + 7) / 8, m.count - o - 4)
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<min(octets, 16) {
            let byte = UInt64(m[o + 4 + i])
            if i < 8 { hi |= byte << UInt64(56 - 8 * i) } else { lo |= byte << UInt64(56 - 8 * (i - 8)) }
        }
        putAddress(family == 1 ? .v4(UInt32(truncatingIfNeeded: hi >> 32)) : .v6(hi, lo))
        put(47)
        putDecimal(UInt64(source))
    }

    private mutating func putQuestion(_ m: UnsafeRawBufferPointer, at o: Int) {
        reserve(Self.maxNameText + 64)
        put(#","name":""#)
        guard let end = putName(m, at: o), end + 2 <= m.count else { put(34); return }
        put(#"","type":""#)
        putType(UInt16(m[end]) << 8 | UInt16(m[end + 1]))
        put(34)
    }

    /// `RecordType.description`.
    private mutating func putType(_ t: UInt16) {
        switch t {
        case 1: put("A")
        case 2: put("NS")
        case 5: put("CNAME")
        case 6: put("SOA")
        case 12: put("PTR")
        case 13: put("HINFO")
        case 15: put("MX")
        case 16: put("TXT")
        case 28: put("AAAA")
        case 33: put("SRV")
        case 39: put("DNAME")
        case 41: put("OPT")
        case 43: put("DS")
        case 46: put("RRSIG")
        case 47: put("NSEC")
        case 48: put("DNSKEY")
        case 251: put("IXFR")
        case 252: put("AXFR")
        case 255: put("ANY")
        case 257: put("CAA")
        default:
            put("TYPE")
            putDecimal(UInt64(t))
        }
    }

    /// The log's rcode names (the metrics' labels for 0-15, RFC 6891's BADVERS for 16).
    private mutating func putRCode(_ r: UInt16) {
        switch r {
        case 0: put("NOERROR")
        case 1: put("FORMERR")
        case 2: put("SERVFAIL")
        case 3: put("NXDOMAIN")
        case 4: put("NOTIMP")
        case 5: put("REFUSED")
        case 6: put("YXDOMAIN")
        case 7: put("YXRRSET")
        case 8: put("NXRRSET")
        case 9: put("NOTAUTH")
        case 10: put("NOTZONE")
        case 16: put("BADVERS")
        default:
            put("RCODE")
            putDecimal(UInt64(r))
        }
    }

    /// JSON text of one presentation-format name is at most 5 bytes per octet (`\\DDD`).
    static let maxNameText = WireScan.maxNameLength * 5 + 2

    /// Writes the name at `o` in presentation format (`DomainName.description`), JSON-escaped;
    /// returns the offset just past it where it starts (after its first pointer), or nil when it
    /// is malformed. Callers reserve `maxNameText`.
    @discardableResult
    private mutating func putName(_ m: UnsafeRawBufferPointer, at o: Int) -> Int? {
        var pos = o
        var end = -1
        var hops = 0
        var length = 0
        var wroteLabel = false
        while pos < m.count {
            let len = m[pos]
            switch len & 0xc0 {
            case 0x00:
                if len == 0 {
                    if !wroteLabel { put(46) }
                    return end < 0 ? pos + 1 : end
                }
                let l = Int(len)
                guard pos + 1 + l <= m.count, length + 1 + l + 1 <= WireScan.maxNameLength else { return nil }
                length += 1 + l
                for k in (pos + 1)...(pos + l) { putNameByte(m[k]) }
                put(46)
                wroteLabel = true
                pos += 1 + l
            case 0xc0:
                guard pos + 1 < m.count else { return nil }
                let target = Int(len & 0x3f) << 8 | Int(m[pos + 1])
                hops += 1
                guard target < pos, target >= 12, hops <= WireScan.maxCompressionPointers else { return nil }
                if end < 0 { end = pos + 2 }
                pos = target
            default:
                return nil
            }
        }
        return nil
    }

    /// One name octet as `DomainName.description` writes it (RFC 4343 §2.1), then JSON-escaped:
    /// the result is always ASCII.
    @inline(__always)
    private mutating func putNameByte(_ b: UInt8) {
        switch b {
        case 0x22, 0x5c:                       // `"` → `\"` → `\\\"`; `\` → `\\` → `\\\\`
            put(92); put(92); put(92); put(b)
        case 0x2e, 0x3b, 0x28, 0x29, 0x24, 0x40: // . ; ( ) $ @ → `\.` → `\\.`
            put(92); put(92); put(b)
        case 0x21...0x7e:
            put(b)
        default:
            putEscapedDecimal(b)
        }
    }

    /// `\DDD`, JSON-escaped: `\\DDD`.
    @inline(__always)
    private mutating func putEscapedDecimal(_ b: UInt8) {
        put(92); put(92)
        put(b / 100 + 48); put(b / 10 % 10 + 48); put(b % 10 + 48)
    }

    /// A <character-string> as `RData.quoted` writes it, JSON-escaped (≤ 5 bytes per octet + 4).
    private mutating func putQuoted(_ m: UnsafeRawBufferPointer, from: Int, count n: Int) {
        reserve(n * 5 + 4)
        put(92); put(34)
        for k in from..<(from + n) {
            let b = m[k]
            switch b {
            case 0x22, 0x5c: put(92); put(92); put(92); put(b)
            case 0x20...0x7e: put(b)
            default: putEscapedDecimal(b)
            }
        }
        put(92); put(34)
    }

    /// `"answer":[…]`: each answer-section RR as `TYPE RDATA` (`RData.description`).
    private mutating func putAnswers(_ m: UnsafeRawBufferPointer, _ scan: WireScan) {
        reserve(16)
        put(#","answer":["#)
        var o = scan.answers
        for i in 0..<scan.answerCount {
            guard let owner = WireScan.skipName(m, at: o), owner.end + 10 <= m.count else { break }
            let p = owner.end
            let type = UInt16(m[p]) << 8 | UInt16(m[p + 1])
            let rdlen = Int(UInt16(m[p + 8]) << 8 | UInt16(m[p + 9]))
            let start = p + 10
            guard start + rdlen <= m.count else { break }
            reserve(24 + 2 * Self.maxNameText + 6 * rdlen)
            if i > 0 { put(44) }
            put(34)
            putType(type)
            put(32)
            putRData(m, type: type, at: start, length: rdlen)
            put(34)
            o = start + rdlen
        }
        put(93)
    }

    /// `RData.description` of RDATA already validated by `WireScan`.
    private mutating func putRData(_ m: UnsafeRawBufferPointer, type: UInt16, at start: Int, length: Int) {
        func u16(_ i: Int) -> UInt64 { i + 2 <= m.count ? UInt64(m[i]) << 8 | UInt64(m[i + 1]) : 0 }
        func u32(_ i: Int) -> UInt64 { u16(i) << 16 | u16(i + 2) }
        switch type {
        case 1 where length == 4:
            putAddress(.v4(UInt32(truncatingIfNeeded: u32(start))))
        case 28 where length == 16:
            var hi: UInt64 = 0, lo: UInt64 = 0
            for k in 0..<8 {
                hi = hi << 8 | UInt64(m[start + k])
                lo = lo << 8 | UInt64(m[start + 8 + k])
            }
            putAddress(.v6(hi, lo))
        case 2, 5, 12:
            putName(m, at: start)
        case 6:
            guard let mname = putName(m, at: start) else { return }
            put(32)
            guard let rname = putName(m, at: mname), rname + 20 <= m.count else { return }
            for k in 0..<5 {
                put(32)
                putDecimal(u32(rname + 4 * k))
            }
        case 15:
            putDecimal(u16(start))
            put(32)
            putName(m, at: start + 2)
        case 33:
            putDecimal(u16(start)); put(32)
            putDecimal(u16(start + 2)); put(32)
            putDecimal(u16(start + 4)); put(32)
            putName(m, at: start + 6)
        case 16:
            var o = start
            while o < start + length {
                let l = Int(m[o])
                guard o + 1 + l <= m.count else { return }
                if o > start { put(32) }
                putQuoted(m, from: o + 1, count: l)
                o += 1 + l
            }
        case 257 where length >= 2:
            let tl = Int(m[start + 1])
            guard tl + 2 <= length else { return }
            putDecimal(UInt64(m[start]))
            put(32)
            putCAATag(UnsafeRawBufferPointer(rebasing: m[(start + 2)..<(start + 2 + tl)]))
            put(32)
            putQuoted(m, from: start + 2 + tl, count: length - 2 - tl)
        default:
            if length == 0 {
                put(##"\\# 0"##)
                return
            }
            put(##"\\# "##)
            putDecimal(UInt64(length))
            put(32)
            let hex: StaticString = "0123456789ABCDEF"
            for k in start..<(start + length) {
                put(hex.utf8Start[Int(m[k] >> 4)])
                put(hex.utf8Start[Int(m[k] & 0xf)])
            }
        }
    }

    /// A CAA tag as `RData.description` prints it: decoded as UTF-8 (invalid sequences become
    /// U+FFFD), then JSON-escaped. Rare (CAA answers only), so it goes through a `String`.
    private mutating func putCAATag(_ tag: UnsafeRawBufferPointer) {
        put(Self.jsonEscaped(String(decoding: tag, as: UTF8.self)))
    }

    /// The routed fields of the first A/AAAA answer, when the snapshot's labels know the name.
    private mutating func putRoute(_ m: UnsafeRawBufferPointer, _ scan: WireScan, nameHash: UInt64,
                                   labels: QueryLogLabels) {
        var o = scan.answers
        for _ in 0..<scan.answerCount {
            guard let owner = WireScan.skipName(m, at: o), owner.end + 10 <= m.count else { return }
            let p = owner.end
            let type = UInt16(m[p]) << 8 | UInt16(m[p + 1])
            let rdlen = Int(UInt16(m[p + 8]) << 8 | UInt16(m[p + 9]))
            let d = p + 10
            guard d + rdlen <= m.count else { return }
            let hi: UInt64, lo: UInt64
            if type == 1 && rdlen == 4 {
                hi = .max
                lo = UInt64(m[d]) << 24 | UInt64(m[d + 1]) << 16 | UInt64(m[d + 2]) << 8 | UInt64(m[d + 3])
            } else if type == 28 && rdlen == 16 {
                var h: UInt64 = 0, l: UInt64 = 0
                for k in 0..<8 {
                    h = h << 8 | UInt64(m[d + k])
                    l = l << 8 | UInt64(m[d + 8 + k])
                }
                (hi, lo) = (h, l)
            } else {
                o = d + rdlen
                continue
            }
            if let f = labels.fragment(nameHash: nameHash, hi: hi, lo: lo) {
                put(f)
            } else if let prefix = labels.unpooledPrefix(nameHash: nameHash) {
                put(prefix)
                reserve(48)
                putAddress(hi == .max ? .v4(UInt32(truncatingIfNeeded: lo)) : .v6(hi, lo))
                put(34)
            }
            return
        }
    }

    // MARK: JSON strings

    /// A string's JSON text with quotes (RFC 8259 §7): `"` and `\` escaped, `\n` `\r` `\t` by name,
    /// other control characters as `\u00XX`, everything else as its UTF-8.
    public static func jsonQuoted(_ s: String) -> [UInt8] {
        [34] + jsonEscaped(s) + [34]
    }

    static func jsonEscaped(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        let hex = Array("0123456789abcdef".utf8)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += [92, 34]
            case "\\": out += [92, 92]
            case "\n": out += [92, 110]
            case "\r": out += [92, 114]
            case "\t": out += [92, 116]
            default:
                if u.value < 0x20 {
                    out += [92, 117, 48, 48, hex[Int(u.value >> 4)], hex[Int(u.value & 0xf)]]
                } else {
                    out += Array(String(u).utf8)
                }
            }
        }
        return out
    }
}

/// What the formatter needs from one message, found by one bounds-checked walk that accepts
/// exactly what `Message(parsing:)` accepts (RFC 1035 §4.1 with DNSWire's limits, RFC 6891 OPT,
/// RFC 7871 ECS), without building anything.
struct WireScan {
    // DNSWire's `Limits`, as literals: a cross-module `static let` is read through an accessor
    // call on every use, which showed in the name walk's profile. `QueryLogFormatterTests` checks
    // that they equal `Limits`.
    static var maxNameLength: Int { 255 }
    static var maxCompressionPointers: Int { 32 }
    static var maxRecordsPerSection: Int { 512 }

    /// Offset of the first question's name; -1 without questions.
    var question = -1
    /// Offset of the first answer-section RR and the number of answer RRs.
    var answers = 0
    var answerCount = 0
    /// Offset of the first Client Subnet option's data in OPT; -1 without one.
    var ecs = -1
    /// OPT's upper 8 RCODE bits (RFC 6891 §6.1.3); 0 without OPT.
    var extendedRCode: UInt8 = 0

    /// nil when `Message(parsing:)` would throw.
    static func scan(_ m: UnsafeRawBufferPointer) -> WireScan? {
        guard m.count >= 12 else { return nil }
        func count(_ i: Int) -> Int { Int(m[i]) << 8 | Int(m[i + 1]) }
        let qd = count(4), an = count(6), ns = count(8), ar = count(10)
        guard qd * 5 + (an + ns + ar) * 11 <= m.count - 12 else { return nil }
        guard an <= WireScan.maxRecordsPerSection, ns <= WireScan.maxRecordsPerSection,
              ar <= WireScan.maxRecordsPerSection else { return nil }
        var s = WireScan()
        var o = 12
        if qd > 0 { s.question = 12 }
        for _ in 0..<qd {
            guard let n = skipName(m, at: o), n.end + 4 <= m.count else { return nil }
            o = n.end + 4
        }
        s.answers = o
        s.answerCount = an
        var sawOPT = false
        for section in 0..<3 {
            for _ in 0..<(section == 0 ? an : section == 1 ? ns : ar) {
                guard let owner = skipName(m, at: o), owner.end + 10 <= m.count else { return nil }
                let p = owner.end
                let type = UInt16(m[p]) << 8 | UInt16(m[p + 1])
                let rdlen = Int(UInt16(m[p + 8]) << 8 | UInt16(m[p + 9]))
                let start = p + 10
                guard rdlen <= m.count - start else { return nil }
                if type == 41 {
                    guard owner.isRoot, let ecs = optionsECS(m, from: start, to: start + rdlen),
                          section == 2, !sawOPT else { return nil }
                    sawOPT = true
                    s.ecs = ecs
                    s.extendedRCode = m[p + 4]
                    o = start + rdlen
                    continue
                }
                guard let end = rdataEnd(m, type: type, at: start, length: rdlen), end == start + rdlen else { return nil }
                o = end
            }
        }
        guard o == m.count else { return nil }
        return s
    }

    /// OPT RDATA (RFC 6891 §6.1.2): options must tile the RDATA and a Client Subnet option must be
    /// well formed (RFC 7871 §6). Returns the first ECS option's data offset, -1 for none; nil
    /// when malformed.
    static func optionsECS(_ m: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int? {
        var o = from
        var first = -1
        while o < end {
            guard o + 4 <= end else { return nil }
            let code = UInt16(m[o]) << 8 | UInt16(m[o + 1])
            let len = Int(UInt16(m[o + 2]) << 8 | UInt16(m[o + 3]))
            let data = o + 4
            guard len <= end - data else { return nil }
            if code == ClientSubnet.optionCode {
                guard validECS(m, at: data, length: len) else { return nil }
                if first < 0 { first = data }
            }
            o = data + len
        }
        return first
    }

    /// `ClientSubnet(optionBytes:)`'s checks: family 1 or 2, prefixes within the family's width,
    /// the address cut to ceil(source/8) octets, no bits set past the source prefix.
    static func validECS(_ m: UnsafeRawBufferPointer, at d: Int, length: Int) -> Bool {
        guard length >= 4 else { return false }
        let family = UInt16(m[d]) << 8 | UInt16(m[d + 1])
        let source = Int(m[d + 2]), scope = Int(m[d + 3])
        let width: Int
        switch family {
        case 1: width = 32
        case 2: width = 128
        default: return false
        }
        guard source <= width, scope <= width else { return false }
        let octets = (source + 7) / 8
        guard length - 4 == octets else { return false }
        if source % 8 != 0 {
            let last = m[d + 4 + octets - 1]
            guard last & (0xff >> UInt8(source % 8)) == 0 else { return false }
        }
        return true
    }

    /// Where `RData.decode` leaves the reader for this type (it may read past RDLENGTH up to the
    /// message end; the caller then rejects the mismatch, as `WireReader.record` does); nil when
    /// decoding throws.
    static func rdataEnd(_ m: UnsafeRawBufferPointer, type: UInt16, at start: Int, length: Int) -> Int? {
        let end = start + length
        switch type {
        case 1: return length == 4 ? end : nil
        case 28: return length == 16 ? end : nil
        case 2, 5, 12:
            return skipName(m, at: start)?.end
        case 6:
            guard let a = skipName(m, at: start), let b = skipName(m, at: a.end), b.end + 20 <= m.count else { return nil }
            return b.end + 20
        case 15:
            guard start + 2 <= m.count else { return nil }
            return skipName(m, at: start + 2)?.end
        case 33:
            guard start + 6 <= m.count else { return nil }
            return skipName(m, at: start + 6)?.end
        case 16:
            var o = start
            var strings = 0
            while o < end {
                guard o < m.count else { return nil }
                let l = Int(m[o])
                guard o + 1 + l <= m.count else { return nil }
                o += 1 + l
                strings += 1
            }
            return strings > 0 ? o : nil
        case 257:
            guard start + 2 <= m.count else { return nil }
            let tl = Int(m[start + 1])
            guard tl >= 1, tl + 2 <= length else { return nil }
            return end
        default:
            return end
        }
    }

    /// Walks a possibly compressed name exactly as `WireReader.name` does (pointers strictly
    /// backwards and past the header, ≤ `WireScan.maxCompressionPointers` hops, ≤ 255 octets).
    /// `end`: the offset after the name where it starts; `isRoot`: it is the root name.
    static func skipName(_ m: UnsafeRawBufferPointer, at o: Int) -> (end: Int, isRoot: Bool)? {
        var pos = o
        var end = -1
        var hops = 0
        var length = 0
        while pos < m.count {
            let len = m[pos]
            switch len & 0xc0 {
            case 0x00:
                if len == 0 { return (end < 0 ? pos + 1 : end, length == 0) }
                let l = Int(len)
                guard pos + 1 + l <= m.count, length + 1 + l + 1 <= WireScan.maxNameLength else { return nil }
                length += 1 + l
                pos += 1 + l
            case 0xc0:
                guard pos + 1 < m.count else { return nil }
                let target = Int(len & 0x3f) << 8 | Int(m[pos + 1])
                guard target < pos, target >= 12 else { return nil }
                hops += 1
                guard hops <= WireScan.maxCompressionPointers else { return nil }
                if end < 0 { end = pos + 2 }
                pos = target
            default:
                return nil
            }
        }
        return nil
    }
}
