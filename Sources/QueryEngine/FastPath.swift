import DNSWire
import GeoRouting

/// The shape of a query simple enough for the fast path, read in place from the packet.
///
/// Only the common form is accepted: QUERY, QR=0, QDCOUNT=1, AN=NS=0, AR ≤ 1 where the one
/// additional record is an OPT (version 0) with no options or exactly one Client Subnet option,
/// an uncompressed question name and no trailing bytes. Anything else goes to `QueryEngine.respond`,
/// which is the reference behaviour; the fast path only replays or reproduces its answers.
public struct SimpleQuery {
    /// Length of the question name in wire form (it starts at offset 12).
    public var nameLength: Int
    public var qtype: UInt16
    public var qclass: UInt16
    public var hasEDNS: Bool
    public var dnssecOK: Bool
    public var udpPayload: Int
    public var clientSubnet: ClientSubnet?
    /// FNV-1a over lowercased name + type + class + EDNS flags: the cache key's hash.
    public var hash: UInt64

    /// Parses `p` in place; nil when the packet is not of the simple shape.
    public static func parse(_ p: UnsafeRawBufferPointer) -> SimpleQuery? {
        let n = p.count
        guard let question = QuestionScan.scan(p) else { return nil }
        let (nameLength, qtype, qclass) = (question.nameLength, question.qtype, question.qclass)
        var i = question.end
        var q = SimpleQuery(nameLength: nameLength, qtype: qtype, qclass: qclass, hasEDNS: false, dnssecOK: false,
                            udpPayload: Limits.minUDPPayload, clientSubnet: nil, hash: 0)
        if p[11] == 1 {
            // OPT: root owner, TYPE 41, CLASS = payload, TTL = ext-rcode/version/flags, RDLEN.
            guard i + 11 <= n, p[i] == 0, p[i + 1] == 0, p[i + 2] == 41 else { return nil }
            let payload = Int(p[i + 3]) << 8 | Int(p[i + 4])
            guard p[i + 5] == 0, p[i + 6] == 0 else { return nil }   // ext-rcode 0, version 0
            q.dnssecOK = p[i + 7] & 0x80 != 0
            let rdlen = Int(p[i + 9]) << 8 | Int(p[i + 10])
            i += 11
            guard i + rdlen == n else { return nil }
            if rdlen > 0 {
                guard rdlen >= 8, p[i] == 0, p[i + 1] == 8 else { return nil }
                let olen = Int(p[i + 2]) << 8 | Int(p[i + 3])
                // A non-zero SCOPE in a query is FORMERR (RFC 7871 §6): the engine answers it.
                guard olen + 4 == rdlen,
                      let ecs = try? ClientSubnet(optionBytes: UnsafeRawBufferPointer(rebasing: p[(i + 4)..<(i + 4 + olen)])),
                      ecs.scopePrefixLength == 0
                else { return nil }
                q.clientSubnet = ecs
            }
            q.hasEDNS = true
            q.udpPayload = payload
        } else {
            guard i == n else { return nil }
        }
        q.hash = (question.hash ^ UInt64((q.hasEDNS ? 1 : 0) | (q.dnssecOK ? 2 : 0))) &* QuestionScan.fnvPrime
        return q
    }

    /// The cache key bytes: lowercased name, type, class, EDNS flags.
    func key(_ p: UnsafeRawBufferPointer) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: nameLength + 5)
        for j in 0..<nameLength { k[j] = asciiLower(p[12 + j]) }
        k[nameLength] = UInt8(qtype >> 8); k[nameLength + 1] = UInt8(qtype & 0xff)
        k[nameLength + 2] = UInt8(qclass >> 8); k[nameLength + 3] = UInt8(qclass & 0xff)
        k[nameLength + 4] = (hasEDNS ? 1 : 0) | (dnssecOK ? 2 : 0)
        return k
    }

    func keyMatches(_ key: [UInt8], _ p: UnsafeRawBufferPointer) -> Bool {
        guard key.count == nameLength + 5 else { return false }
        return key.withUnsafeBufferPointer { kb in
            for j in 0..<nameLength where kb[j] != asciiLower(p[12 + j]) { return false }
            return kb[nameLength] == UInt8(qtype >> 8) && kb[nameLength + 1] == UInt8(qtype & 0xff)
                && kb[nameLength + 2] == UInt8(qclass >> 8) && kb[nameLength + 3] == UInt8(qclass & 0xff)
                && kb[nameLength + 4] == (hasEDNS ? 1 : 0) | (dnssecOK ? 2 : 0)
        }
    }

    /// The UDP size limit for this query (RFC 6891 §6.2.5).
    func sizeLimit(transport: QueryTransport, settings: EngineSettings) -> Int {
        sizeLimit(transport: transport, maxUDPPayload: settings.maxUDPPayload)
    }

    /// The same, from the configured maximum alone.
    @inline(__always)
    func sizeLimit(transport: QueryTransport, maxUDPPayload: Int) -> Int {
        if transport == .tcp { return Limits.maxTCPMessage }
        guard hasEDNS else { return Limits.minUDPPayload }
        return max(Limits.minUDPPayload, min(udpPayload, maxUDPPayload))
    }
}
