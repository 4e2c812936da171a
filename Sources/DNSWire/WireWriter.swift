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

    /// Drops everything written from `count` on (the caller writes no name after this that could
    /// have been compressed against the dropped bytes).
    mutating func truncate(to count: Int) {
        bytes.removeSubrange(count...)
        for (suffix, offset) in suffixes where Int(offset) >= count { suffixes[suffix] = nil }
    }

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
    /// Throws `.tooLarge` when the RDATA does not fit RDLENGTH's 16 bits (RFC 1035 §3.2.1) or a
    /// length octet inside it overflows: no zone or network input can make a conversion trap.
    public mutating func record(_ rr: ResourceRecord) throws(DNSWireError) {
        name(rr.name)
        u16(rr.type.rawValue)
        u16(rr.rclass.rawValue)
        u32(rr.ttl)
        let lenAt = bytes.count
        u16(0)
        try rdata(rr.rdata)
        try patchLength(bytes.count - lenAt - 2, at: lenAt, what: "RDLENGTH of \(rr.name) \(rr.type)")
    }

    /// Patches a 16-bit length at `offset`, or throws `.tooLarge` when `length` exceeds 65,535.
    mutating func patchLength(_ length: Int, at offset: Int, what: @autoclosure () -> String) throws(DNSWireError) {
        guard let v = UInt16(exactly: length) else {
            throw DNSWireError(.tooLarge, offset: offset, detail: "\(what()) \(length) exceeds 65535")
        }
        patchU16(v, at: offset)
    }

    /// A one-octet length (character-string, CAA tag), or `.tooLarge` past 255.
    mutating func lengthOctet(_ length: Int, what: @autoclosure () -> String) throws(DNSWireError) {
        guard let v = UInt8(exactly: length) else {
            throw DNSWireError(.tooLarge, offset: bytes.count, detail: "\(what()) of \(length) octets exceeds 255")
        }
        u8(v)
    }

    mutating func rdata(_ d: RData) throws(DNSWireError) {
        switch d {
        case .a(let a), .aaaa(let a): append(a.bytes)
        case .ns(let n), .cname(let n), .ptr(let n): name(n)
        case .soa(let s):
            name(s.mname); name(s.rname)
            u32(s.serial); u32(s.refresh); u32(s.retry); u32(s.expire); u32(s.minimum)
        case .mx(let p, let n): u16(p); name(n)
        case .srv(let p, let w, let port, let t): u16(p); u16(w); u16(port); name(t, compress: false)
        case .txt(let strings):
            for s in strings { try lengthOctet(s.count, what: "TXT string"); append(s) }
        case .caa(let flags, let tag, let value):
            u8(flags); try lengthOctet(tag.count, what: "CAA tag"); append(tag); append(value)
        case .unknown(_, let raw): append(raw)
        }
    }

    /// Writes the OPT pseudo-RR (RFC 6891 §6.1.2); `.tooLarge` when an option or the RDATA
    /// overflows its 16-bit length.
    public mutating func opt(_ e: EDNS) throws(DNSWireError) {
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
                u16(ClientSubnet.optionCode); u16(0)
                try patchLength(data.count, at: bytes.count - 2, what: "ECS option length"); append(data)
            case .unknown(let code, let data):
                u16(code); u16(0)
                try patchLength(data.count, at: bytes.count - 2, what: "EDNS option length"); append(data)
            }
        }
        try patchLength(bytes.count - lenAt - 2, at: lenAt, what: "OPT RDLENGTH")
    }
}

extension Message {
    /// Serializes the message. When it exceeds `maxSize`, the additional section (except OPT) is
    /// dropped first; if it still does not fit, the response is cut to header + question (+ OPT)
    /// with TC set (RFC 1035 §4.1.1, RFC 2181 §9). Throws `.tooLarge` when a field cannot hold
    /// what the message carries (an RDATA over 65,535 octets, a TXT string over 255, more than
    /// 65,535 records): the caller answers SERVFAIL instead. A message longer than `maxSize`
    /// (at most 65,535) is no error: it is cut as above.
    ///
    /// `additionalRequired`: the additional section is not optional (a referral's in-domain glue,
    /// RFC 9471 §3): as many of its records as fit are kept, in order, and TC is set — what
    /// Knot 3.2 sends.
    public func encoded(maxSize: Int = Limits.maxTCPMessage, additionalRequired: Bool = false) throws(DNSWireError) -> [UInt8] {
        let full = try encode(includeAnswers: true, includeAdditional: true, truncated: header.truncated)
        if full.count <= maxSize { return full }
        let noAdditional = try encode(includeAnswers: true, includeAdditional: false,
                                      truncated: header.truncated || (additionalRequired && !additionalSection.isEmpty),
                                      additionalUpTo: additionalRequired ? maxSize : nil)
        if noAdditional.count <= maxSize { return noAdditional }
        return try encode(includeAnswers: false, includeAdditional: false, truncated: true)
    }

    /// `encoded(maxSize:)` for messages built in code (tests, fixed answers); a message that
    /// cannot be encoded becomes header + question with TC set, never a trap.
    public func serialized(maxSize: Int = Limits.maxTCPMessage) -> [UInt8] {
        if let bytes = try? encoded(maxSize: maxSize) { return bytes }
        var m = Message(header: header, questions: questions)
        m.header.truncated = true
        return (try? m.encode(includeAnswers: false, includeAdditional: false, truncated: true)) ?? []
    }

    /// `additionalUpTo`: with `includeAdditional` false, still write the additional records that
    /// fit in this many octets (counting the OPT record after them).
    private func encode(includeAnswers: Bool, includeAdditional: Bool, truncated: Bool,
                        additionalUpTo: Int? = nil) throws(DNSWireError) -> [UInt8] {
        var w = WireWriter()
        var h = header
        h.truncated = truncated
        func count(_ n: Int) throws(DNSWireError) -> UInt16 {
            guard let c = UInt16(exactly: n) else { throw DNSWireError(.tooLarge, detail: "\(n) records in one section") }
            return c
        }
        h.questionCount = try count(questions.count)
        h.answerCount = try count(includeAnswers ? answerSection.count : 0)
        h.authorityCount = try count(includeAnswers ? authoritySection.count : 0)
        h.additionalCount = try count((includeAdditional ? additionalSection.count : 0) + (edns == nil ? 0 : 1))
        w.u16(h.id)
        let (f1, f2) = h.flagBytes
        w.u8(f1); w.u8(f2)
        w.u16(h.questionCount); w.u16(h.answerCount); w.u16(h.authorityCount); w.u16(h.additionalCount)
        for q in questions { w.question(q) }
        if includeAnswers {
            for rr in answerSection { try w.record(rr) }
            for rr in authoritySection { try w.record(rr) }
        }
        if includeAdditional { for rr in additionalSection { try w.record(rr) } }
        if !includeAdditional, let limit = additionalUpTo {
            var opt = WireWriter(capacity: 64)
            if let edns { try opt.opt(edns) }
            var kept = 0
            for rr in additionalSection {
                let before = w.bytes.count
                try w.record(rr)
                if w.bytes.count + opt.count > limit {
                    // Stop at the first record that does not fit; nothing after it is written, so
                    // no compression pointer can refer to the bytes cut here.
                    w.truncate(to: before)
                    break
                }
                kept += 1
            }
            w.patchU16(UInt16(truncatingIfNeeded: kept + (edns == nil ? 0 : 1)), at: 10)
        }
        if let edns { try w.opt(edns) }
        return w.bytes
    }
}
