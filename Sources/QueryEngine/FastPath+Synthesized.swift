import DNSWire

extension SynthesisTable {
    /// The forward rule and address that answer the packet's question name, read in place (no
    /// allocation), or nil when the engine must decide: no rule, a value the rule does not answer,
    /// or a name the zone could have data for (`FastForward.usable`/`shadowed`). Gives the same
    /// answer as the engine's `.nameError` → `lookup` path (FastPathEquivalenceTests).
    @inline(__always)
    func fastForward(_ p: UnsafeRawBufferPointer, nameLength: Int) -> (ttl: UInt32, address: IPAddress, zone: DomainName?)? {
        let l0 = Int(p[12])
        let restStart = 13 + l0
        let restLength = 12 + nameLength - restStart
        guard l0 > 0, restLength > 0 else { return nil }
        let label = UnsafeRawBufferPointer(rebasing: p[13..<restStart])
        for i in fastOrder {
            guard let f = fast[i], f.usable, f.parentWire.count == restLength else { continue }
            var same = true
            f.parentWire.withUnsafeBufferPointer { w in
                for k in 0..<restLength where w[k] != asciiLower(p[restStart + k]) { same = false; break }
            }
            guard same else { continue }
            let rule = rules[i]
            guard let middle = rule.name.middle(of: label), let value = rule.name.value(middle, maxDigits: rule.maxDigits),
                  let address = rule.address(for: value) else { continue }
            if !f.shadowed.isEmpty && f.shadowed.contains(value) { return nil }
            return (rule.ttl, address, f.zone)
        }
        return nil
    }
}

extension AnswerCache {
    /// Writes a synthesized A/AAAA answer straight from the packet: header, question, one record
    /// whose owner points at the question (so it keeps the question's case), and the OPT record
    /// when the query had EDNS — byte for byte what the engine writes. Nil: let the engine answer.
    @inline(__always)
    mutating func synthesized(_ q: SimpleQuery, query p: UnsafeRawBufferPointer, transport: QueryTransport,
                     output: UnsafeMutableRawBufferPointer) -> Int? {
        guard q.clientSubnet == nil, q.qclass == RecordClass.in.rawValue,
              q.qtype == RecordType.a.rawValue || q.qtype == RecordType.aaaa.rawValue,
              let found = snapshot.synthesis.fastForward(p, nameLength: q.nameLength),
              (found.address.family == 1) == (q.qtype == RecordType.a.rawValue) else { return nil }
        let (ttl, address) = (found.ttl, found.address)
        lastWildcardZone = found.zone   // the rate limiter's class, as the engine reports it
        let rdlen = address.family == 1 ? 4 : 16
        let total = 12 + q.nameLength + 4 + 12 + rdlen + (q.hasEDNS ? 11 : 0)
        guard total <= q.sizeLimit(transport: transport, settings: snapshot.settings), total <= output.count else {
            return nil
        }
        let o = output
        o[0] = p[0]; o[1] = p[1]
        o[2] = 0x84 | (p[2] & 0x01)           // QR, AA, RD copied
        o[3] = p[3] & 0x10                    // CD copied, RA never, RCODE 0
        o[4] = 0; o[5] = 1; o[6] = 0; o[7] = 1; o[8] = 0; o[9] = 0
        o[10] = 0; o[11] = q.hasEDNS ? 1 : 0
        var i = 12
        for j in 0..<(q.nameLength + 4) { o[i + j] = p[12 + j] }
        i += q.nameLength + 4
        o[i] = 0xc0; o[i + 1] = 0x0c           // owner: pointer to the question name
        o[i + 2] = 0; o[i + 3] = UInt8(truncatingIfNeeded: q.qtype)
        o[i + 4] = 0; o[i + 5] = 1
        o[i + 6] = UInt8(ttl >> 24); o[i + 7] = UInt8((ttl >> 16) & 0xff)
        o[i + 8] = UInt8((ttl >> 8) & 0xff); o[i + 9] = UInt8(ttl & 0xff)
        o[i + 10] = 0; o[i + 11] = UInt8(rdlen)
        i += 12
        switch address {
        case .v4(let v):
            o[i] = UInt8(v >> 24); o[i + 1] = UInt8((v >> 16) & 0xff)
            o[i + 2] = UInt8((v >> 8) & 0xff); o[i + 3] = UInt8(v & 0xff)
        case .v6(let hi, let lo):
            for k in 0..<8 {
                o[i + k] = UInt8((hi >> UInt64(56 - 8 * k)) & 0xff)
                o[i + 8 + k] = UInt8((lo >> UInt64(56 - 8 * k)) & 0xff)
            }
        }
        i += rdlen
        if q.hasEDNS {
            let payload = snapshot.settings.maxUDPPayload
            o[i] = 0; o[i + 1] = 0; o[i + 2] = 41
            o[i + 3] = UInt8(truncatingIfNeeded: payload >> 8); o[i + 4] = UInt8(truncatingIfNeeded: payload)
            o[i + 5] = 0; o[i + 6] = 0; o[i + 7] = q.dnssecOK ? 0x80 : 0; o[i + 8] = 0
            o[i + 9] = 0; o[i + 10] = 0
            i += 11
        }
        return i
    }
}

extension AnswerCache {
    /// Writes a synthesized PTR answer straight from the packet, byte for byte what the engine
    /// writes (the target shares no suffix with the question, so it is written whole). Nil: let
    /// the engine answer.
    @inline(__always)
    mutating func synthesizedPTR(_ q: SimpleQuery, query p: UnsafeRawBufferPointer, transport: QueryTransport,
                                 output: UnsafeMutableRawBufferPointer) -> Int? {
        guard q.clientSubnet == nil, q.qclass == RecordClass.in.rawValue, q.qtype == RecordType.ptr.rawValue,
              let found = snapshot.synthesis.fastReverseAnswer(p, nameLength: q.nameLength) else { return nil }
        let template = snapshot.synthesis.rules[found.forward].name
        let parent = template.parent.wire
        let maxTarget = 1 + template.prefix.count + 39 + template.suffix.count + parent.count
        let start = 12 + q.nameLength + 4
        guard start + 12 + maxTarget + (q.hasEDNS ? 11 : 0) <= min(output.count, q.sizeLimit(transport: transport, settings: snapshot.settings)) else {
            return nil
        }
        let o = output
        o[0] = p[0]; o[1] = p[1]
        o[2] = 0x84 | (p[2] & 0x01)           // QR, AA, RD copied
        o[3] = p[3] & 0x10                    // CD copied, RA never, RCODE 0
        o[4] = 0; o[5] = 1; o[6] = 0; o[7] = 1; o[8] = 0; o[9] = 0
        o[10] = 0; o[11] = q.hasEDNS ? 1 : 0
        for j in 0..<(q.nameLength + 4) { o[12 + j] = p[12 + j] }
        var i = start
        let ttl = found.ttl
        o[i] = 0xc0; o[i + 1] = 0x0c           // owner: pointer to the question name
        o[i + 2] = 0; o[i + 3] = 12
        o[i + 4] = 0; o[i + 5] = 1
        o[i + 6] = UInt8(ttl >> 24); o[i + 7] = UInt8((ttl >> 16) & 0xff)
        o[i + 8] = UInt8((ttl >> 8) & 0xff); o[i + 9] = UInt8(ttl & 0xff)
        let rdlenAt = i + 10
        i += 12
        // Target: one label (prefix, text, suffix), then the parent, lowercase as the engine has it.
        let labelAt = i
        i += 1
        for c in template.prefix { o[i] = c; i += 1 }
        i += SynthesisText.write(found.value, into: o, at: i)
        for c in template.suffix { o[i] = c; i += 1 }
        o[labelAt] = UInt8(truncatingIfNeeded: i - labelAt - 1)
        for c in parent { o[i] = c; i += 1 }
        let rdlen = i - rdlenAt - 2
        o[rdlenAt] = UInt8(truncatingIfNeeded: rdlen >> 8); o[rdlenAt + 1] = UInt8(truncatingIfNeeded: rdlen)
        if q.hasEDNS {
            let payload = snapshot.settings.maxUDPPayload
            o[i] = 0; o[i + 1] = 0; o[i + 2] = 41
            o[i + 3] = UInt8(truncatingIfNeeded: payload >> 8); o[i + 4] = UInt8(truncatingIfNeeded: payload)
            o[i + 5] = 0; o[i + 6] = 0; o[i + 7] = q.dnssecOK ? 0x80 : 0; o[i + 8] = 0
            o[i + 9] = 0; o[i + 10] = 0
            i += 11
        }
        lastWildcardZone = found.zone   // the rate limiter's class, as the engine reports it
        return i
    }
}
