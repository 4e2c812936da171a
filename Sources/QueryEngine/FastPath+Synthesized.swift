import DNSWire

extension SynthesisTable {
    /// The forward rule (index in `fastRules`) and address that answer the packet's question
    /// name, read in place (no allocation, no reference counting: only the flat `fastRules`,
    /// `fastBytes` and `fastWithin` are read), or nil when the engine must decide: no rule, a value
    /// the rule does not answer, or a name the zone could have data for (`FastForward.usable`/
    /// `shadowed`). Gives the same answer as the engine's `.nameError` → `lookup` path
    /// (FastPathEquivalenceTests).
    @inline(__always)
    func fastForward(_ p: UnsafeRawBufferPointer, nameLength: Int) -> (ttl: UInt32, address: IPAddress, fastRule: Int)? {
        let l0 = Int(p[12])
        let restStart = 13 + l0
        let restLength = 12 + nameLength - restStart
        guard l0 > 0, restLength > 0 else { return nil }
        return fastRules.withUnsafeBufferPointer { rules in
            fastBytes.withUnsafeBufferPointer { bytes -> (ttl: UInt32, address: IPAddress, fastRule: Int)? in
                for k in 0..<rules.count {
                    let r = rules[k]
                    guard r.parent.count == restLength,
                          l0 > r.prefix.count + r.suffix.count else { continue }
                    var same = true
                    let parentAt = r.parent.lowerBound
                    for j in 0..<restLength where bytes[parentAt + j] != asciiLower(p[restStart + j]) { same = false; break }
                    guard same else { continue }
                    // The first label: prefix, placeholder text, suffix (RFC 4343: any case).
                    for j in 0..<r.prefix.count where bytes[r.prefix.lowerBound + j] != asciiLower(p[13 + j]) { same = false; break }
                    let suffixAt = restStart - r.suffix.count
                    for j in 0..<r.suffix.count where bytes[r.suffix.lowerBound + j] != asciiLower(p[suffixAt + j]) { same = false; break }
                    guard same else { continue }
                    let middle = UnsafeRawBufferPointer(rebasing: p[(13 + r.prefix.count)..<suffixAt])
                    let value: SynthesisValue
                    let address: IPAddress
                    switch r.placeholder {
                    case .number:
                        guard let n = SynthesisText.number(middle, maxDigits: r.maxDigits), r.range.contains(n),
                              let a = SynthesisText.add(r.base, n) else { continue }
                        (value, address) = (.number(n), a)
                    case .ipv4, .ipv6:
                        guard let a = r.placeholder == .ipv4 ? SynthesisText.ipv4(middle) : SynthesisText.ipv6(middle),
                              fastWithin[r.within].contains(where: { $0.contains(a) }) else { continue }
                        (value, address) = (.address(a), a)
                    }
                    if r.hasShadowed, let f = fast[r.rule], f.shadowed.contains(value) { return nil }
                    return (r.ttl, address, k)
                }
                return nil
            }
        }
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
        lastSynthesizedRule = found.fastRule   // the rate limiter's class (the rule's zone), as the engine reports it
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
