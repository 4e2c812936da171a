/// Serializes messages with name compression (RFC 1035 §4.1.4).
///
/// Compression is O(total name octets): every suffix written is remembered once in a table keyed
/// by its lowercased wire form, and each name probes at most its own label count of suffixes
/// (hickory-dns had a quadratic-compression advisory; this avoids the pattern).
public struct WireWriter {
    public private(set) var bytes: [UInt8]
    private var suffixes: [[UInt8]: UInt16] = [:]

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)) }
    public mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(v >> 24)); bytes.append(UInt8((v >> 16) & 0xff))
        bytes.append(UInt8((v >> 8) & 0xff)); bytes.append(UInt8(v & 0xff))
    }
    public mutating func append<C: Collection>(_ c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }

    /// Overwrites a big-endian 16-bit value at `offset` (for RDLENGTH and counts).
    public mutating func patchU16(_ v: UInt16, at offset: Int) {
        bytes[offset] = UInt8(v >> 8)
        bytes[offset + 1] = UInt8(v & 0xff)
    }

    /// Writes `name`, compressed against earlier names when `compress` is true.
    public mutating func name(_ name: DomainName, compress: Bool = true) {
        let w = name.wire
        var i = 0
        while w[i] != 0 {
            let suffix = lowercasedSuffix(w, from: i)
            if compress, let ptr = suffixes[suffix] {
                u16(0xc000 | ptr)
                return
            }
            if bytes.count < 0x3fff && suffixes[suffix] == nil {
                suffixes[suffix] = UInt16(bytes.count)
            }
            let len = Int(w[i])
            bytes.append(contentsOf: w[i...(i + len)])
            i += 1 + len
        }
        bytes.append(0)
    }

    private func lowercasedSuffix(_ w: [UInt8], from i: Int) -> [UInt8] {
        var s = Array(w[i...])
        for k in 0..<s.count { s[k] = asciiLower(s[k]) }
        return s
    }

    public mutating func question(_ q: Question) {
        name(q.name)
        u16(q.type.rawValue)
        u16(q.qclass.rawValue)
    }

    /// Writes one RR; RDATA names of the RFC 1035 types are compressed, others are not (RFC 3597 §4).
    public mutating func record(_ rr: ResourceRecord) {
        name(rr.name)
        u16(rr.type.rawValue)
        u16(rr.rclass.rawValue)
        u32(rr.ttl)
        let lenAt = bytes.count
        u16(0)
        rdata(rr.rdata)
        patchU16(UInt16(bytes.count - lenAt - 2), at: lenAt)
    }

    mutating func rdata(_ d: RData) {
        switch d {
        case .a(let a), .aaaa(let a): append(a.bytes)
        case .ns(let n), .cname(let n), .ptr(let n): name(n)
        case .soa(let s):
            name(s.mname); name(s.rname)
            u32(s.serial); u32(s.refresh); u32(s.retry); u32(s.expire); u32(s.minimum)
        case .mx(let p, let n): u16(p); name(n)
        case .srv(let p, let w, let port, let t): u16(p); u16(w); u16(port); name(t, compress: false)
        case .txt(let strings):
            for s in strings { u8(UInt8(min(s.count, 255))); append(s.prefix(255)) }
        case .caa(let flags, let tag, let value): u8(flags); u8(UInt8(tag.count)); append(tag); append(value)
        case .unknown(_, let raw): append(raw)
        }
    }

    /// Writes the OPT pseudo-RR (RFC 6891 §6.1.2).
    public mutating func opt(_ e: EDNS) {
        u8(0)
        u16(RecordType.opt.rawValue)
        u16(e.udpPayloadSize)
        u32(UInt32(e.extendedRCode) << 24 | UInt32(e.version) << 16 | (e.dnssecOK ? 0x8000 : 0))
        let lenAt = bytes.count
        u16(0)
        for o in e.options {
            switch o {
            case .clientSubnet(let c):
                let data = c.optionData
                u16(ClientSubnet.optionCode); u16(UInt16(data.count)); append(data)
            case .unknown(let code, let data):
                u16(code); u16(UInt16(data.count)); append(data)
            }
        }
        patchU16(UInt16(bytes.count - lenAt - 2), at: lenAt)
    }
}

extension Message {
    /// Serializes the message. When it exceeds `maxSize`, the additional section (except OPT) is
    /// dropped first; if it still does not fit, the response is cut to header + question (+ OPT)
    /// with TC set (RFC 1035 §4.1.1, RFC 2181 §9).
    public func serialized(maxSize: Int = Limits.maxTCPMessage) -> [UInt8] {
        let full = encode(includeAnswers: true, includeAdditional: true, truncated: header.truncated)
        if full.count <= maxSize { return full }
        let noAdditional = encode(includeAnswers: true, includeAdditional: false, truncated: header.truncated)
        if noAdditional.count <= maxSize { return noAdditional }
        return encode(includeAnswers: false, includeAdditional: false, truncated: true)
    }

    private func encode(includeAnswers: Bool, includeAdditional: Bool, truncated: Bool) -> [UInt8] {
        var w = WireWriter()
        var h = header
        h.truncated = truncated
        h.questionCount = UInt16(questions.count)
        h.answerCount = includeAnswers ? UInt16(answerSection.count) : 0
        h.authorityCount = includeAnswers ? UInt16(authoritySection.count) : 0
        h.additionalCount = (includeAdditional ? UInt16(additionalSection.count) : 0) + (edns == nil ? 0 : 1)
        w.u16(h.id)
        let (f1, f2) = h.flagBytes
        w.u8(f1); w.u8(f2)
        w.u16(h.questionCount); w.u16(h.answerCount); w.u16(h.authorityCount); w.u16(h.additionalCount)
        for q in questions { w.question(q) }
        if includeAnswers {
            for rr in answerSection { w.record(rr) }
            for rr in authoritySection { w.record(rr) }
        }
        if includeAdditional { for rr in additionalSection { w.record(rr) } }
        if let edns { w.opt(edns) }
        return w.bytes
    }
}
