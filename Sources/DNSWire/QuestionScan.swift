/// The one question of a plain query, read in place from the packet: the shared first step of
/// the fast path's `SimpleQuery` and the forwarder's `ForwardQuery`, so both accept the same
/// header and name shapes and hash names the same way.
///
/// Accepted: QR=0, opcode QUERY, QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT ≤ 1, and an uncompressed
/// question name of at most `Limits.maxNameLength` octets (RFC 1035 §4.1.1–4.1.2). What follows
/// the question (the OPT record, if any) is the caller's to read, from `end`.
public struct QuestionScan {
    /// Length of the question name in wire form (it starts at offset 12).
    public var nameLength: Int
    public var qtype: UInt16
    public var qclass: UInt16
    /// Offset just past QTYPE and QCLASS.
    public var end: Int
    /// FNV-1a state over the lowercased name (label lengths included), type and class; callers
    /// fold in what else their key holds.
    public var hash: UInt64

    /// FNV-1a's 64-bit prime.
    public static let fnvPrime: UInt64 = 0x100_0000_01b3

    @inlinable
    init(nameLength: Int, qtype: UInt16, qclass: UInt16, end: Int, hash: UInt64) {
        self.nameLength = nameLength
        self.qtype = qtype
        self.qclass = qclass
        self.end = end
        self.hash = hash
    }

    /// Scans `p`; nil when the header or the name is not of the plain shape.
    @inlinable
    public static func scan(_ p: UnsafeRawBufferPointer) -> QuestionScan? {
        let n = p.count
        guard n >= 17, p[2] & 0xf8 == 0, p[4] == 0, p[5] == 1, p[6] == 0, p[7] == 0, p[8] == 0, p[9] == 0,
              p[10] == 0, p[11] <= 1 else { return nil }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = 12
        while true {
            guard i < n else { return nil }
            let l = Int(p[i])
            if l == 0 { h = (h ^ 0) &* fnvPrime; i += 1; break }
            guard l <= 63, i + 1 + l < n else { return nil }
            h = (h ^ UInt64(l)) &* fnvPrime
            for k in (i + 1)...(i + l) { h = (h ^ UInt64(asciiLower(p[k]))) &* fnvPrime }
            i += 1 + l
        }
        let nameLength = i - 12
        guard nameLength <= Limits.maxNameLength, i + 4 <= n else { return nil }
        let qtype = UInt16(p[i]) << 8 | UInt16(p[i + 1])
        let qclass = UInt16(p[i + 2]) << 8 | UInt16(p[i + 3])
        h = (h ^ UInt64(qtype)) &* fnvPrime
        h = (h ^ UInt64(qclass)) &* fnvPrime
        return QuestionScan(nameLength: nameLength, qtype: qtype, qclass: qclass, end: i + 4, hash: h)
    }
}
