import DNSWire

/// The pieces of an answer the fast path writes itself (routed and synthesized names), shared so
/// that every directly written answer has the same header, record and OPT bytes as the engine's.
///
/// Every writer assumes the caller checked that the whole answer fits `o` (no bounds checks here
/// beyond the buffer's own debug ones).
enum DirectAnswer {
    /// Header and question: the query's ID, RD and CD copied, QR and AA set, RA clear, RCODE 0,
    /// QDCOUNT 1, ANCOUNT `answers`, NSCOUNT 0, ARCOUNT 1 with EDNS else 0; then the question
    /// exactly as asked (its case included; answers point at it). Returns the offset after it.
    @inline(__always)
    static func header(_ q: SimpleQuery, query p: UnsafeRawBufferPointer, answers: Int,
                       output o: UnsafeMutableRawBufferPointer) -> Int {
        o[0] = p[0]; o[1] = p[1]
        o[2] = 0x84 | (p[2] & 0x01)           // QR, AA, RD copied
        o[3] = p[3] & 0x10                    // CD copied, RA never, RCODE 0
        o[4] = 0; o[5] = 1
        o[6] = UInt8(truncatingIfNeeded: answers >> 8); o[7] = UInt8(truncatingIfNeeded: answers)
        o[8] = 0; o[9] = 0
        o[10] = 0; o[11] = q.hasEDNS ? 1 : 0
        let questionLength = q.nameLength + 4
        o.baseAddress!.advanced(by: 12).copyMemory(from: p.baseAddress!.advanced(by: 12), byteCount: questionLength)
        return 12 + questionLength
    }

    /// The fixed part of a record owned by the question name (a pointer to offset 12): TYPE,
    /// CLASS IN, TTL, RDLENGTH. Returns the offset of the RDATA.
    @inline(__always)
    static func recordHead(type: UInt16, ttl: UInt32, rdlength: Int, into o: UnsafeMutableRawBufferPointer, at i: Int) -> Int {
        o[i] = 0xc0; o[i + 1] = 0x0c           // owner: pointer to the question name
        o[i + 2] = UInt8(truncatingIfNeeded: type >> 8); o[i + 3] = UInt8(truncatingIfNeeded: type)
        o[i + 4] = 0; o[i + 5] = 1
        o[i + 6] = UInt8(truncatingIfNeeded: ttl >> 24); o[i + 7] = UInt8(truncatingIfNeeded: ttl >> 16)
        o[i + 8] = UInt8(truncatingIfNeeded: ttl >> 8); o[i + 9] = UInt8(truncatingIfNeeded: ttl)
        o[i + 10] = UInt8(truncatingIfNeeded: rdlength >> 8); o[i + 11] = UInt8(truncatingIfNeeded: rdlength)
        return i + 12
    }

    /// An A (IPv4) or AAAA (IPv6) record for `address` owned by the question name. Returns the
    /// offset after it.
    @inline(__always)
    static func addressRecord(_ address: IPAddress, ttl: UInt32, into o: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        switch address {
        case .v4(let v):
            let i = recordHead(type: RecordType.a.rawValue, ttl: ttl, rdlength: 4, into: o, at: start)
            o[i] = UInt8(truncatingIfNeeded: v >> 24); o[i + 1] = UInt8(truncatingIfNeeded: v >> 16)
            o[i + 2] = UInt8(truncatingIfNeeded: v >> 8); o[i + 3] = UInt8(truncatingIfNeeded: v)
            return i + 4
        case .v6(let hi, let lo):
            let i = recordHead(type: RecordType.aaaa.rawValue, ttl: ttl, rdlength: 16, into: o, at: start)
            for k in 0..<8 {
                o[i + k] = UInt8(truncatingIfNeeded: hi >> UInt64(56 - 8 * k))
                o[i + 8 + k] = UInt8(truncatingIfNeeded: lo >> UInt64(56 - 8 * k))
            }
            return i + 16
        }
    }

    /// Our OPT record (RFC 6891 §6.1.2): root owner, TYPE 41, CLASS = our payload size, version
    /// 0, DO echoed from the query (RFC 3225 §3), RDLENGTH `optionsLength` (the options follow,
    /// written by the caller). Returns the offset after the fixed part.
    @inline(__always)
    static func opt(_ q: SimpleQuery, payload: Int, optionsLength: Int, into o: UnsafeMutableRawBufferPointer, at i: Int) -> Int {
        o[i] = 0; o[i + 1] = 0; o[i + 2] = 41
        o[i + 3] = UInt8(truncatingIfNeeded: payload >> 8); o[i + 4] = UInt8(truncatingIfNeeded: payload)
        o[i + 5] = 0; o[i + 6] = 0; o[i + 7] = q.dnssecOK ? 0x80 : 0; o[i + 8] = 0
        o[i + 9] = UInt8(truncatingIfNeeded: optionsLength >> 8); o[i + 10] = UInt8(truncatingIfNeeded: optionsLength)
        return i + 11
    }
}
