/// An IPv4 or IPv6 address as plain bytes, parsed once from text or wire.
///
/// Used for A/AAAA RDATA, for client addresses and EDNS Client Subnet (RFC 7871), and for CIDR
/// overrides. IPv4 is kept as a big-endian `UInt32`; IPv6 as two big-endian `UInt64` halves so that
/// equality, hashing and prefix masking are cheap and allocation free.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible, Comparable {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Address family number as used by RFC 7871 (IANA address family numbers): 1 = IPv4, 2 = IPv6.
    public var family: UInt16 {
        switch self {
        case .v4: return 1
        case .v6: return 2
        }
    }

    /// Bit length of the address: 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: return 32
        case .v6: return 128
        }
    }

    /// Network-order bytes (4 or 16).
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a):
            return [UInt8(a >> 24), UInt8((a >> 16) & 0xff), UInt8((a >> 8) & 0xff), UInt8(a & 0xff)]
        case .v6(let hi, let lo):
            var out = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 {
                out[i] = UInt8((hi >> UInt64(56 - 8 * i)) & 0xff)
                out[8 + i] = UInt8((lo >> UInt64(56 - 8 * i)) & 0xff)
            }
            return out
        }
    }

    /// Builds an address from 4 or 16 network-order bytes; nil for any other length.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        if bytes.count == 4 {
            var v: UInt32 = 0
            for b in bytes { v = (v << 8) | UInt32(b) }
            self = .v4(v)
        } else if bytes.count == 16 {
            var hi: UInt64 = 0, lo: UInt64 = 0
            for (i, b) in bytes.enumerated() {
                if i < 8 { hi = (hi << 8) | UInt64(b) } else { lo = (lo << 8) | UInt64(b) }
            }
            self = .v6(hi, lo)
        } else {
            return nil
        }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 §2.2 IPv6 text (including `::` and an embedded IPv4 tail).
    public init?(_ text: some StringProtocol) {
        let s = Substring(text)
        if s.utf8.contains(UInt8(ascii: ":")) {
            guard let v6 = IPAddress.parseV6(s) else { return nil }
            self = v6
        } else {
            guard let v4 = IPAddress.parseV4(s) else { return nil }
            self = .v4(v4)
        }
    }

    static func parseV4(_ s: Substring) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        var current: UInt32 = 0
        var digits = 0
        for ch in s.utf8 {
            if ch == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = (value << 8) | current
                parts += 1
                current = 0
                digits = 0
            } else if ch >= UInt8(ascii: "0") && ch <= UInt8(ascii: "9") {
                // Reject leading zeros ("01") which some parsers read as octal.
                if digits > 0 && current == 0 { return nil }
                current = current * 10 + UInt32(ch - UInt8(ascii: "0"))
                digits += 1
                guard current <= 255, digits <= 3 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return (value << 8) | current
    }

    static func parseV6(_ s: Substring) -> IPAddress? {
        // Split on "::" at most once.
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        // Split on "::" (at most one occurrence) without Foundation.
        var halves: [String] = []
        var rest = Substring(s)
        while let r = rest.firstRange(of: "::") {
            halves.append(String(rest[rest.startIndex..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        halves.append(String(rest))
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: String, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if f.utf8.contains(UInt8(ascii: ".")) {
                    guard allowV4Tail, i == fields.count - 1, let v4 = parseV4(f) else { return nil }
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xffff))
                } else {
                    guard !f.isEmpty, f.count <= 4, let g = UInt16(f, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        if halves.count == 2 {
            guard let h = parseGroups(halves[0], allowV4Tail: false),
                  let t = parseGroups(halves[1], allowV4Tail: true) else { return nil }
            guard h.count + t.count <= 7 else { return nil }
            groups = h
            tailGroups = t
            groups += [UInt16](repeating: 0, count: 8 - h.count - t.count)
            groups += tailGroups
        } else {
            guard let g = parseGroups(halves[0], allowV4Tail: true), g.count == 8 else { return nil }
            groups = g
        }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<4 { hi = (hi << 16) | UInt64(groups[i]) }
        for i in 4..<8 { lo = (lo << 16) | UInt64(groups[i]) }
        return .v6(hi, lo)
    }

    /// Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed).
    public var description: String {
        switch self {
        case .v4(let a):
            // Digits straight into at most 15 bytes (a small string, no allocation): the
            // interpolated form cost a dozen String appends, and DDNS writes one per record.
            var text: (UInt64, UInt64) = (0, 0)
            let count = withUnsafeMutableBytes(of: &text) { buffer -> Int in
                var n = 0
                for shift in stride(from: 24, through: 0, by: -8) {
                    let octet = Int((a >> UInt32(shift)) & 0xff)
                    if octet >= 100 { buffer[n] = UInt8(48 + octet / 100); n += 1 }
                    if octet >= 10 { buffer[n] = UInt8(48 + octet / 10 % 10); n += 1 }
                    buffer[n] = UInt8(48 + octet % 10)
                    n += 1
                    if shift > 0 { buffer[n] = UInt8(ascii: "."); n += 1 }
                }
                return n
            }
            return withUnsafeBytes(of: &text) { String(decoding: $0.prefix(count), as: UTF8.self) }
        case .v6(let hi, let lo):
            var g = [UInt16](repeating: 0, count: 8)
            for i in 0..<4 { g[i] = UInt16((hi >> UInt64(48 - 16 * i)) & 0xffff) }
            for i in 0..<4 { g[4 + i] = UInt16((lo >> UInt64(48 - 16 * i)) & 0xffff) }
            // IPv4-mapped ::ffff:a.b.c.d keeps its dotted tail (RFC 5952 §5).
            if hi == 0 && (lo >> 32) == 0xffff {
                let v4 = UInt32(lo & 0xffff_ffff)
                return "::ffff:" + IPAddress.v4(v4).description
            }
            var bestStart = -1, bestLen = 0, i = 0
            while i < 8 {
                if g[i] == 0 {
                    var j = i
                    while j < 8 && g[j] == 0 { j += 1 }
                    if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                    i = j
                } else { i += 1 }
            }
            func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
            if bestStart < 0 { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
        }
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else nil.
    public var mappedIPv4: IPAddress? {
        if case .v6(let hi, let lo) = self, hi == 0, (lo >> 32) == 0xffff {
            return .v4(UInt32(lo & 0xffff_ffff))
        }
        return nil
    }

    /// The address with all bits past `prefixLength` cleared.
    public func masked(to prefixLength: Int) -> IPAddress {
        switch self {
        case .v4(let a):
            let p = max(0, min(32, prefixLength))
            let mask: UInt32 = p == 0 ? 0 : ~UInt32(0) << UInt32(32 - p)
            return .v4(a & mask)
        case .v6(let hi, let lo):
            let p = max(0, min(128, prefixLength))
            let hiMask: UInt64 = p >= 64 ? ~0 : (p == 0 ? 0 : ~UInt64(0) << UInt64(64 - p))
            let loBits = p - 64
            let loMask: UInt64 = loBits <= 0 ? 0 : (loBits >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - loBits))
            return .v6(hi & hiMask, lo & loMask)
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): return a < b
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let ah, let al), .v6(let bh, let bl)): return ah < bh || (ah == bh && al < bl)
        }
    }
}

/// A CIDR network: an address with its host bits cleared and a prefix length.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The network address (host bits are always zero).
    public let address: IPAddress
    /// Prefix length, 0...32 for IPv4 and 0...128 for IPv6.
    public let prefixLength: Int

    /// Creates the network of `address` at `prefixLength` (clamped to the family width).
    public init(address: IPAddress, prefixLength: Int) {
        let p = max(0, min(address.bitWidth, prefixLength))
        self.address = address.masked(to: p)
        self.prefixLength = p
    }

    /// Parses `a.b.c.d/n` or `x::y/n`; a bare address is a host network (/32 or /128).
    /// Host bits set beyond the prefix are rejected (`10.0.0.1/8` is nil) so typos are caught.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let addr = IPAddress(parts[0]) else { return nil }
        var p = addr.bitWidth
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int(parts[1]), n >= 0, n <= addr.bitWidth else { return nil }
            p = n
        }
        guard addr.masked(to: p) == addr else { return nil }
        self.init(address: addr, prefixLength: p)
    }

    /// True when `other` lies inside this network (same family).
    public func contains(_ other: IPAddress) -> Bool {
        guard other.family == address.family else { return false }
        return other.masked(to: prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
