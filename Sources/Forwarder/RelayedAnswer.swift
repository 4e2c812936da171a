import DNSWire

/// An upstream answer in the form we relay and cache: a complete response with ID 0, AA clear,
/// RA set and no OPT record (the client's EDNS is answered with ours), plus where its TTLs are so
/// that a cached copy can count them down (RFC 1035 §7.3: a resolver's answers carry the
/// remaining TTL).
public struct RelayedAnswer: Sendable {
    /// The response bytes (ID 0, no OPT).
    public let bytes: [UInt8]
    /// Byte offsets of every RR's TTL field, with the TTL stored there (already capped).
    let ttlOffsets: [Int]
    let ttls: [UInt32]
    /// How long this answer may be cached, seconds; 0 = relay only (RFC 2308 §5: a negative
    /// answer without SOA is not cached; SERVFAIL is never cached here).
    public let cacheSeconds: UInt32
    public let rcode: ResponseCode

    /// Builds the relayed form of an upstream response already matched to `question` (ID, question
    /// and source checked by the client). Throws when it cannot be relayed (unparseable, an RCODE
    /// beyond 4 bits, or a form the writer rejects): such an upstream is skipped.
    public init(upstream bytes: [UInt8], question: Question, maxTTL: UInt32, negativeTTL: UInt32) throws(ForwarderError) {
        let m: Message
        do { m = try Message(parsing: bytes) } catch { throw ForwarderError(.garbage, "unparseable response: \(error)") }
        let rcode = m.rcode
        guard rcode.rawValue <= 0x0f else { throw ForwarderError(.garbage, "extended RCODE \(rcode.rawValue)") }
        // RFC 2181 §8: a TTL with the top bit set is read as 0.
        func capped(_ t: UInt32, _ cap: UInt32) -> UInt32 { t & 0x8000_0000 != 0 ? 0 : min(t, cap) }
        var header = Header(id: 0, isResponse: true, opcode: .query, authoritative: false, recursionDesired: true,
                            recursionAvailable: true, rcodeLow: UInt8(rcode.rawValue))
        header.authenticData = false
        var answers = m.answerSection, authority = m.authoritySection, additional = m.additionalSection
        let negative = rcode == .nxDomain || (rcode == .noError && answers.isEmpty)
        var lifetime: UInt32 = 0
        if rcode == .noError || rcode == .nxDomain {
            if negative {
                // RFC 2308 §5: cache for min(SOA TTL, SOA MINIMUM), here also capped by negative_ttl.
                if let soa = authority.first(where: { $0.rdata.type == .soa }), case .soa(let s) = soa.rdata {
                    lifetime = min(capped(soa.ttl, negativeTTL), capped(s.minimum, negativeTTL))
                }
            } else {
                lifetime = answers.map { capped($0.ttl, maxTTL) }.min() ?? 0
            }
        }
        let ttlCap = negative ? negativeTTL : maxTTL
        for i in answers.indices { answers[i].ttl = capped(answers[i].ttl, maxTTL) }
        for i in authority.indices { authority[i].ttl = capped(authority[i].ttl, ttlCap) }
        for i in additional.indices { additional[i].ttl = capped(additional[i].ttl, maxTTL) }
        let out = Message(header: header, questions: [question], answerSection: answers, authoritySection: authority,
                          additionalSection: additional, edns: nil)
        let encoded: [UInt8]
        do { encoded = try out.encoded(maxSize: Limits.maxTCPMessage) } catch {
            throw ForwarderError(.garbage, "response cannot be re-encoded: \(error)")
        }
        guard let offsets = RelayedAnswer.ttlOffsets(encoded) else {
            throw ForwarderError(.garbage, "re-encoded response does not walk")
        }
        self.bytes = encoded
        self.ttlOffsets = offsets
        var ttls: [UInt32] = []
        ttls.reserveCapacity(offsets.count)
        for o in offsets {
            let hi = UInt32(encoded[o]) << 24 | UInt32(encoded[o + 1]) << 16
            ttls.append(hi | UInt32(encoded[o + 2]) << 8 | UInt32(encoded[o + 3]))
        }
        self.ttls = ttls
        self.cacheSeconds = lifetime
        self.rcode = rcode
    }

    /// The TTL offsets of every RR in a message we encoded (names may be compressed).
    static func ttlOffsets(_ b: [UInt8]) -> [Int]? {
        guard b.count >= 12 else { return nil }
        let qd = Int(b[4]) << 8 | Int(b[5])
        let rrs = (Int(b[6]) << 8 | Int(b[7])) + (Int(b[8]) << 8 | Int(b[9])) + (Int(b[10]) << 8 | Int(b[11]))
        var i = 12
        func skipName() -> Bool {
            while i < b.count {
                let l = Int(b[i])
                if l & 0xc0 == 0xc0 { i += 2; return i <= b.count }
                if l == 0 { i += 1; return true }
                i += 1 + l
            }
            return false
        }
        for _ in 0..<qd { guard skipName() else { return nil }; i += 4 }
        var out: [Int] = []
        out.reserveCapacity(rrs)
        for _ in 0..<rrs {
            guard skipName(), i + 10 <= b.count else { return nil }
            out.append(i + 4)
            let rdlen = Int(b[i + 8]) << 8 | Int(b[i + 9])
            i += 10 + rdlen
        }
        return i == b.count ? out : nil
    }

    /// Writes this answer for one client into `output`: its ID, RD/CD bits and question case, TTLs
    /// reduced by `age` seconds, our OPT when the client sent EDNS, and TC with the question only
    /// when it does not fit `limit` (RFC 1035 §4.2.1, RFC 6891 §7). Returns the length, or nil
    /// when `output` cannot hold even the truncated form.
    public func render(query: UnsafeRawBufferPointer, q: ForwardQuery, age: UInt32, limit: Int, ourPayload: Int,
                       output: UnsafeMutableRawBufferPointer) -> Int? {
        let opt = q.hasEDNS ? 11 : 0
        let questionEnd = 12 + q.nameLength + 4
        let full = bytes.count + opt <= min(limit, output.count)
        let length = full ? bytes.count : questionEnd
        guard length + opt <= output.count, bytes.count >= questionEnd else { return nil }
        bytes.withUnsafeBytes { src in output.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: length) }
        output[0] = query[0]
        output[1] = query[1]
        output[2] = (output[2] & ~0x01) | (query[2] & 0x01)   // RD copied (RFC 1035 §4.1.1)
        output[3] = (output[3] & ~0x10) | (query[3] & 0x10)   // CD copied (RFC 4035 §3.2.2)
        for j in 0..<q.nameLength { output[12 + j] = query[12 + j] }
        if full {
            for (k, o) in ttlOffsets.enumerated() {
                let t = ttls[k] > age ? ttls[k] - age : 0
                output[o] = UInt8(t >> 24); output[o + 1] = UInt8((t >> 16) & 0xff)
                output[o + 2] = UInt8((t >> 8) & 0xff); output[o + 3] = UInt8(t & 0xff)
            }
        } else {
            output[2] |= 0x02   // TC
            for j in 6..<12 { output[j] = 0 }
        }
        var n = length
        if q.hasEDNS {
            let arcount = (Int(output[10]) << 8 | Int(output[11])) + 1
            guard arcount <= 0xffff else { return nil }   // no room for our OPT in ARCOUNT
            output[10] = UInt8(truncatingIfNeeded: arcount >> 8); output[11] = UInt8(truncatingIfNeeded: arcount)
            n += Self.writeOPT(output, at: n, payload: ourPayload)
        }
        return n
    }

    /// A SERVFAIL with RA set for a question we could not get answered (RFC 1035 §4.1.1).
    public static func servFail(query: UnsafeRawBufferPointer, q: ForwardQuery, ourPayload: Int,
                                output: UnsafeMutableRawBufferPointer) -> Int? {
        let questionEnd = 12 + q.nameLength + 4
        guard questionEnd + 11 <= output.count, questionEnd <= query.count else { return nil }
        for j in 0..<questionEnd { output[j] = query[j] }
        output[2] = 0x80 | (query[2] & 0x01)
        output[3] = 0x80 | (query[3] & 0x10) | 2
        for j in 6..<12 { output[j] = 0 }
        var n = questionEnd
        if q.hasEDNS {
            output[11] = 1
            n += writeOPT(output, at: n, payload: ourPayload)
        }
        return n
    }

    /// Our OPT RR (RFC 6891 §6.1.2): root owner, TYPE 41, CLASS = our payload size, version 0,
    /// no flags, no options. Returns its length (11).
    @inline(__always)
    static func writeOPT(_ output: UnsafeMutableRawBufferPointer, at n: Int, payload: Int) -> Int {
        let p = UInt16(clamping: payload)
        output[n] = 0; output[n + 1] = 0; output[n + 2] = 41
        output[n + 3] = UInt8(p >> 8); output[n + 4] = UInt8(p & 0xff)
        for j in 5..<11 { output[n + j] = 0 }
        return 11
    }
}
