import DNSWire

/// A client's question as the forwarder needs it, read in place from the packet.
///
/// Accepted: QUERY, QR=0, QDCOUNT=1, AN=NS=0, AR ≤ 1 where the one additional record is an OPT of
/// version 0 (its options, e.g. COOKIE as dig sends, are ignored: we do not forward them), an
/// uncompressed question name, class IN, and no trailing bytes. Anything else is answered by the
/// engine as before (REFUSED for names outside our zones), so odd packets never reach upstreams.
public struct ForwardQuery: Sendable {
    /// Length of the question name in wire form (it starts at offset 12).
    public var nameLength: Int
    public var qtype: UInt16
    public var qclass: UInt16
    public var hasEDNS: Bool
    /// The requestor's UDP payload size (512 without EDNS).
    public var udpPayload: Int
    /// FNV-1a over lowercased name, type and class: the cache and coalescing hash.
    public var hash: UInt64

    /// Parses `p`; nil when it is not a question the forwarder takes.
    public static func parse(_ p: UnsafeRawBufferPointer) -> ForwardQuery? {
        let n = p.count
        guard let question = QuestionScan.scan(p) else { return nil }
        let (nameLength, qtype, qclass) = (question.nameLength, question.qtype, question.qclass)
        let i = question.end
        // Class IN only; no OPT, and of the Q/meta range 128-255 (RFC 6895 §3.1: transfers,
        // MAILA/MAILB) only ANY. Data types above 255 (CAA, URI, ...) are ordinary questions.
        guard qclass == 1, qtype != 41, qtype != 0, !(128...254).contains(qtype) else { return nil }
        var q = ForwardQuery(nameLength: nameLength, qtype: qtype, qclass: qclass, hasEDNS: false,
                             udpPayload: Limits.minUDPPayload, hash: 0)
        if p[11] == 1 {
            guard i + 11 <= n, p[i] == 0, p[i + 1] == 0, p[i + 2] == 41 else { return nil }
            let payload = Int(p[i + 3]) << 8 | Int(p[i + 4])
            guard p[i + 5] == 0, p[i + 6] == 0 else { return nil }   // ext-rcode 0, version 0
            let rdlen = Int(p[i + 9]) << 8 | Int(p[i + 10])
            guard i + 11 + rdlen == n else { return nil }
            q.hasEDNS = true
            q.udpPayload = max(Limits.minUDPPayload, payload)
        } else {
            guard i == n else { return nil }
        }
        q.hash = question.hash
        return q
    }

    /// The cache key: lowercased question name, type and class.
    public func key(_ p: UnsafeRawBufferPointer) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: nameLength + 4)
        for j in 0..<nameLength { k[j] = asciiLower(p[12 + j]) }
        k[nameLength] = UInt8(qtype >> 8); k[nameLength + 1] = UInt8(qtype & 0xff)
        k[nameLength + 2] = UInt8(qclass >> 8); k[nameLength + 3] = UInt8(qclass & 0xff)
        return k
    }

    /// True when `key` is this query's key (compared without allocating).
    func keyMatches(_ key: [UInt8], _ p: UnsafeRawBufferPointer) -> Bool {
        guard key.count == nameLength + 4 else { return false }
        return key.withUnsafeBufferPointer { kb in
            for j in 0..<nameLength where kb[j] != asciiLower(p[12 + j]) { return false }
            return kb[nameLength] == UInt8(qtype >> 8) && kb[nameLength + 1] == UInt8(qtype & 0xff)
                && kb[nameLength + 2] == UInt8(qclass >> 8) && kb[nameLength + 3] == UInt8(qclass & 0xff)
        }
    }

    /// The question name (lowercased); nil only if the name is malformed, which `parse` excludes.
    public func name(_ p: UnsafeRawBufferPointer) -> DomainName? {
        try? DomainName(wire: (0..<nameLength).map { asciiLower(p[12 + $0]) })
    }

    /// The response size limit for this client: TCP 65535; UDP the requestor's payload (512
    /// without EDNS) clamped to our maximum (RFC 6891 §6.2.5).
    public func sizeLimit(tcp: Bool, maxUDPPayload: Int) -> Int {
        tcp ? Limits.maxTCPMessage : max(Limits.minUDPPayload, min(udpPayload, maxUDPPayload))
    }
}
