import DNSServer
import DNSWire
import QueryEngine

/// The metrics step of the query path: reads the answer's header, question type and (for pool
/// answers) its addresses from the bytes just written, and counts them in the thread's block.
/// No allocation, no lock, no shared write.
enum QueryMetricsStep {
    @inline(__always)
    static func count(_ disposition: QueryDisposition, query: UnsafeRawBufferPointer, client: ClientEndpoint,
                      output: UnsafeMutableRawBufferPointer, facts: AnswerFacts, into c: QueryCounterWriter) {
        let t = client.transport == .tcp ? 1 : 0
        switch disposition {
        case .reply(let n):
            guard n >= 12, n <= output.count else { return }
            let r = UnsafeRawBufferPointer(rebasing: output[0..<n])
            let rcode = Int(r[3] & 0x0f)
            var qtype: UInt16 = 0
            var end = 12
            if r[5] != 0 || r[4] != 0, let e = skipName(r, 12), e + 4 <= n {
                qtype = UInt16(r[e]) << 8 | UInt16(r[e + 1])
                end = e + 4
            }
            c.add(QueryCounterBlock.queryIndex(transport: t, qtype: QueryCounterBlock.qtypeIndex(qtype), rcode: rcode))
            c.add(hasClientSubnet(query) ? QueryCounterBlock.ecsPresent : QueryCounterBlock.ecsAbsent)
            if r[2] & 0x02 != 0 { c.add(QueryCounterBlock.truncated + t) }
            if facts.rateLimit == .slip { c.add(QueryCounterBlock.rrlSlipped) }
            if facts.placement != .none { c.add(QueryCounterBlock.placements + Int(facts.placement.rawValue)) }
            if facts.routeNameHash != 0 { countAnswers(r, from: end, nameHash: facts.routeNameHash, into: c) }
        case .drop:
            c.add(QueryCounterBlock.dropped + t * 2 + (facts.rateLimit == .drop ? 0 : 1))
        case .later:
            c.add(QueryCounterBlock.deferred + t)
        }
    }

    /// The offset after the (possibly compressed) name at `i`, or nil when it runs past the end.
    @inline(__always)
    static func skipName(_ p: UnsafeRawBufferPointer, _ start: Int) -> Int? {
        var i = start
        for _ in 0..<128 {
            guard i < p.count else { return nil }
            let len = p[i]
            if len == 0 { return i + 1 }
            if len & 0xc0 == 0xc0 { return i + 2 <= p.count ? i + 2 : nil }
            guard len & 0xc0 == 0 else { return nil }
            i += 1 + Int(len)
        }
        return nil
    }

    /// Counts each A/AAAA record of the answer section under (routed name, address).
    static func countAnswers(_ r: UnsafeRawBufferPointer, from start: Int, nameHash: UInt64, into c: QueryCounterWriter) {
        let ancount = Int(r[6]) << 8 | Int(r[7])
        var i = start
        for _ in 0..<ancount {
            guard let e = skipName(r, i), e + 10 <= r.count else { return }
            let type = UInt16(r[e]) << 8 | UInt16(r[e + 1])
            let rdlen = Int(r[e + 8]) << 8 | Int(r[e + 9])
            let d = e + 10
            guard d + rdlen <= r.count else { return }
            if type == 1 && rdlen == 4 {
                let v = UInt32(r[d]) << 24 | UInt32(r[d + 1]) << 16 | UInt32(r[d + 2]) << 8 | UInt32(r[d + 3])
                let (hi, lo) = QueryCounterBlock.words(v4: v)
                c.countRouted(nameHash: nameHash, hi: hi, lo: lo)
            } else if type == 28 && rdlen == 16 {
                var hi: UInt64 = 0, lo: UInt64 = 0
                for k in 0..<8 { hi = hi << 8 | UInt64(r[d + k]); lo = lo << 8 | UInt64(r[d + 8 + k]) }
                c.countRouted(nameHash: nameHash, hi: hi, lo: lo)
            }
            i = d + rdlen
        }
    }

    /// Whether the query carries an EDNS Client Subnet option (RFC 7871), trusted or not. Walks
    /// the additional section only when ARCOUNT is not 0 (most queries without EDNS cost nothing).
    @inline(__always)
    static func hasClientSubnet(_ q: UnsafeRawBufferPointer) -> Bool {
        guard q.count >= 12 + 11 + 8, q[10] != 0 || q[11] != 0 else { return false }
        let qd = Int(q[4]) << 8 | Int(q[5])
        let rrs = (Int(q[6]) << 8 | Int(q[7])) + (Int(q[8]) << 8 | Int(q[9])) + (Int(q[10]) << 8 | Int(q[11]))
        var i = 12
        for _ in 0..<min(qd, 4) {
            guard let e = skipName(q, i) else { return false }
            i = e + 4
        }
        for _ in 0..<min(rrs, 16) {
            guard let e = skipName(q, i), e + 10 <= q.count else { return false }
            let type = UInt16(q[e]) << 8 | UInt16(q[e + 1])
            let rdlen = Int(q[e + 8]) << 8 | Int(q[e + 9])
            let d = e + 10
            guard d + rdlen <= q.count else { return false }
            if type == 41 {
                var o = d
                while o + 4 <= d + rdlen {
                    let code = Int(q[o]) << 8 | Int(q[o + 1])
                    let len = Int(q[o + 2]) << 8 | Int(q[o + 3])
                    if code == 8 { return true }
                    o += 4 + len
                }
                return false
            }
            i = d + rdlen
        }
        return false
    }
}
