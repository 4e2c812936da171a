/// A bounds-checked cursor over message bytes. Every read validates against the buffer end and the
/// limits in `Limits`; nothing here can trap on hostile input.
public struct WireReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func u8() throws(DNSWireError) -> UInt8 {
        guard offset < bytes.count else { throw DNSWireError(.truncated, offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16() throws(DNSWireError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw DNSWireError(.truncated, offset: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func u32() throws(DNSWireError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw DNSWireError(.truncated, offset: offset) }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    public mutating func take(_ n: Int) throws(DNSWireError) -> ArraySlice<UInt8> {
        guard n >= 0, offset + n <= bytes.count else { throw DNSWireError(.truncated, offset: offset) }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    /// Reads a possibly compressed name (RFC 1035 §4.1.4). Pointers must point strictly backwards
    /// (to an earlier offset than the one they appear at, never into the header), at most `Limits.maxCompressionPointers`
    /// hops, and the expanded name must fit in 255 octets: pointer loops are impossible.
    public mutating func name() throws(DNSWireError) -> DomainName {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var pos = offset
        var jumped = false
        var hops = 0
        while true {
            guard pos < bytes.count else { throw DNSWireError(.truncated, offset: pos) }
            let len = bytes[pos]
            switch len & 0xc0 {
            case 0x00:
                if len == 0 {
                    out.append(0)
                    if !jumped { offset = pos + 1 }
                    guard out.count <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong, offset: pos) }
                    return DomainName(uncheckedWire: out)
                }
                let l = Int(len)
                guard pos + 1 + l <= bytes.count else { throw DNSWireError(.truncated, offset: pos) }
                guard out.count + 1 + l + 1 <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong, offset: pos) }
                out.append(len)
                out.append(contentsOf: bytes[(pos + 1)...(pos + l)])
                pos += 1 + l
            case 0xc0:
                guard pos + 1 < bytes.count else { throw DNSWireError(.truncated, offset: pos) }
                let target = Int(len & 0x3f) << 8 | Int(bytes[pos + 1])
                // A pointer must land on an earlier name, and names start after the 12-octet
                // header (RFC 1035 §4.1.4): a pointer into the header is malformed.
                guard target < pos, target >= 12 else { throw DNSWireError(.badPointer, offset: pos) }
                hops += 1
                guard hops <= Limits.maxCompressionPointers else { throw DNSWireError(.tooManyPointers, offset: pos) }
                if !jumped { offset = pos + 2 }
                jumped = true
                pos = target
            default:
                throw DNSWireError(.badLabelType, offset: pos)
            }
        }
    }

    /// Reads a question (RFC 1035 §4.1.2).
    public mutating func question() throws(DNSWireError) -> Question {
        let n = try name()
        let t = try u16()
        let c = try u16()
        return Question(name: n, type: RecordType(rawValue: t), qclass: RecordClass(rawValue: c))
    }

    /// Reads one RR. OPT is returned as `.opt` so the caller can lift it into `EDNS`.
    public mutating func record() throws(DNSWireError) -> RawRecord {
        let n = try name()
        let t = RecordType(rawValue: try u16())
        let c = try u16()
        let ttl = try u32()
        let rdlen = Int(try u16())
        guard rdlen <= remaining else { throw DNSWireError(.truncated, offset: offset) }
        let start = offset
        if t == .opt {
            let data = try take(rdlen)
            guard n.isRoot else { throw DNSWireError(.badRData, offset: start, detail: "OPT owner not root") }
            let edns = try EDNS(payloadSize: c, ttl: ttl, rdata: data)
            return .opt(edns)
        }
        let rdata = try RData.decode(type: t, reader: &self, length: rdlen)
        guard offset == start + rdlen else { throw DNSWireError(.badRData, offset: start, detail: "\(t) RDATA length") }
        return .record(ResourceRecord(name: n, rclass: RecordClass(rawValue: c), ttl: ttl, rdata: rdata))
    }

    /// A record as read from the wire: ordinary RR or the OPT pseudo-RR.
    public enum RawRecord {
        case record(ResourceRecord)
        case opt(EDNS)
    }
}

extension EDNS {
    /// Builds EDNS from an OPT RR's CLASS, TTL and RDATA (RFC 6891 §6.1.2-3). A malformed Client
    /// Subnet option is an error (RFC 7871 §7.1: FORMERR); unknown options are kept opaque.
    /// RFC 6891 sets no limit on the number of options: any number that fits the RDATA is accepted
    /// (each takes at least 4 octets, so the message size bounds the count and the work); only
    /// malformed option data is an error.
    init(payloadSize: UInt16, ttl: UInt32, rdata: ArraySlice<UInt8>) throws(DNSWireError) {
        var opts: [EDNSOption] = []
        var r = WireReader(bytes: Array(rdata))
        while r.remaining > 0 {
            let code = try r.u16()
            let len = Int(try r.u16())
            let data = try r.take(len)
            if code == ClientSubnet.optionCode {
                opts.append(.clientSubnet(try ClientSubnet(optionData: data)))
            } else {
                opts.append(.unknown(code: code, data: Array(data)))
            }
        }
        self.init(udpPayloadSize: payloadSize, extendedRCode: UInt8(ttl >> 24), version: UInt8((ttl >> 16) & 0xff),
                  dnssecOK: ttl & 0x8000 != 0, options: opts)
    }
}

extension RData {
    /// Decodes RDATA of `type` occupying `length` bytes at the reader's position (names may be
    /// compressed for the RFC 1035 types, RFC 3597 §4).
    static func decode(type: RecordType, reader r: inout WireReader, length: Int) throws(DNSWireError) -> RData {
        let end = r.offset + length
        switch type {
        case .a:
            guard length == 4, let a = IPAddress(bytes: try r.take(4)) else { throw DNSWireError(.badRData, offset: r.offset) }
            return .a(a)
        case .aaaa:
            guard length == 16, let a = IPAddress(bytes: try r.take(16)) else { throw DNSWireError(.badRData, offset: r.offset) }
            return .aaaa(a)
        case .ns: return .ns(try r.name())
        case .cname: return .cname(try r.name())
        case .ptr: return .ptr(try r.name())
        case .soa:
            let m = try r.name(), rn = try r.name()
            return .soa(SOAData(mname: m, rname: rn, serial: try r.u32(), refresh: try r.u32(), retry: try r.u32(),
                                expire: try r.u32(), minimum: try r.u32()))
        case .mx:
            let p = try r.u16()
            return .mx(preference: p, exchange: try r.name())
        case .srv:
            let p = try r.u16(), w = try r.u16(), port = try r.u16()
            return .srv(priority: p, weight: w, port: port, target: try r.name())
        case .txt:
            var strings: [[UInt8]] = []
            while r.offset < end {
                let l = Int(try r.u8())
                strings.append(Array(try r.take(l)))
            }
            guard !strings.isEmpty else { throw DNSWireError(.badRData, offset: r.offset, detail: "empty TXT") }
            return .txt(strings)
        case .caa:
            let flags = try r.u8()
            let tl = Int(try r.u8())
            guard tl >= 1, tl + 2 <= length else { throw DNSWireError(.badRData, offset: r.offset) }
            let tag = Array(try r.take(tl))
            return .caa(flags: flags, tag: tag, value: Array(try r.take(end - r.offset)))
        default:
            return .unknown(type, Array(try r.take(length)))
        }
    }
}

extension Message {
    /// Parses a whole message with strict bounds: counts must be backed by bytes, at most one OPT
    /// (RFC 6891 §6.1.1), and no trailing bytes.
    public init(parsing bytes: [UInt8]) throws(DNSWireError) {
        guard bytes.count >= 12, let h = bytes.withUnsafeBytes({ Header(bytes: $0) }) else {
            throw DNSWireError(.truncated, offset: 0)
        }
        var r = WireReader(bytes: bytes, offset: 12)
        // Each question needs ≥ 5 bytes and each RR ≥ 11: reject counts the bytes cannot back.
        let minNeeded = Int(h.questionCount) * 5 + (Int(h.answerCount) + Int(h.authorityCount) + Int(h.additionalCount)) * 11
        guard minNeeded <= r.remaining else { throw DNSWireError(.countMismatch, offset: 12) }
        for c in [h.answerCount, h.authorityCount, h.additionalCount] where Int(c) > Limits.maxRecordsPerSection {
            throw DNSWireError(.tooManyRecords)
        }
        var qs: [Question] = []
        for _ in 0..<h.questionCount { qs.append(try r.question()) }
        var sections: [[ResourceRecord]] = [[], [], []]
        var edns: EDNS?
        for (i, count) in [h.answerCount, h.authorityCount, h.additionalCount].enumerated() {
            for _ in 0..<count {
                switch try r.record() {
                case .record(let rr): sections[i].append(rr)
                case .opt(let e):
                    guard i == 2, edns == nil else { throw DNSWireError(.badRData, detail: "misplaced or repeated OPT") }
                    edns = e
                }
            }
        }
        guard r.remaining == 0 else { throw DNSWireError(.trailingBytes, offset: r.offset) }
        self.init(header: h, questions: qs, answerSection: sections[0], authoritySection: sections[1],
                  additionalSection: sections[2], edns: edns)
    }
}
