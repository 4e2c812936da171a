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
        var i = DirectAnswer.header(q, query: p, answers: 1, output: output)
        i = DirectAnswer.addressRecord(address, ttl: ttl, into: output, at: i)
        if q.hasEDNS {
            i = DirectAnswer.opt(q, payload: snapshot.settings.maxUDPPayload, optionsLength: 0, into: output, at: i)
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
        var i = DirectAnswer.header(q, query: p, answers: 1, output: o)
        let rdlenAt = i + 10
        i = DirectAnswer.recordHead(type: RecordType.ptr.rawValue, ttl: found.ttl, rdlength: 0, into: o, at: i)
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
            i = DirectAnswer.opt(q, payload: snapshot.settings.maxUDPPayload, optionsLength: 0, into: o, at: i)
        }
        lastWildcardZone = found.zone   // the rate limiter's class, as the engine reports it
        return i
    }
}
