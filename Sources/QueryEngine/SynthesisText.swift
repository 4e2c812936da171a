import DNSWire

/// The one parser and printer of synthesized-name text (`{n}`, `{ipv4}`, `{ipv6}` forms and
/// reverse names), shared by the engine and the fast path. Parsers read bytes in place and do not
/// allocate; each accepts only the canonical form, so every value has exactly one name.
enum SynthesisText {
    /// Decimal without sign or leading zeros, at most `maxDigits` digits.
    @inline(__always)
    static func number(_ t: UnsafeRawBufferPointer, maxDigits: Int) -> UInt64? {
        let n = t.count
        guard n >= 1, n <= maxDigits, n <= 19, !(n > 1 && t[0] == 0x30) else { return nil }
        var v: UInt64 = 0
        for c in t {
            guard c >= 0x30, c <= 0x39 else { return nil }
            v = v * 10 + UInt64(c - 0x30)
        }
        return v
    }

    /// `a-b-c-d`: four decimal octets without leading zeros.
    @inline(__always)
    static func ipv4(_ t: UnsafeRawBufferPointer) -> IPAddress? {
        var v: UInt32 = 0, octet: UInt32 = 0, digits = 0, parts = 0
        for c in t {
            if c == 0x2d {
                guard digits > 0, parts < 3 else { return nil }
                v = v << 8 | octet
                parts += 1; octet = 0; digits = 0
            } else if c >= 0x30 && c <= 0x39 {
                guard !(digits == 1 && octet == 0) else { return nil }   // leading zero
                octet = octet * 10 + UInt32(c - 0x30)
                digits += 1
                guard octet <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return .v4(v << 8 | octet)
    }

    /// RFC 5952 canonical IPv6 with `-` for `:` (letters in either case: names are
    /// case-insensitive). Works in a stack buffer: no allocation.
    static func ipv6(_ t: UnsafeRawBufferPointer) -> IPAddress? {
        let n = t.count
        guard n >= 2, n <= 39 else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 16) { buf -> IPAddress? in
            // buf[0..<8]: groups as read; buf[8..<16]: the expanded address.
            var count = 0          // groups read
            var gapAt = -1         // group index where "--" stands
            var i = 0
            if t[0] == 0x2d {
                guard t[1] == 0x2d else { return nil }
                gapAt = 0
                i = 2
            }
            while i < n {
                var v: UInt32 = 0, digits = 0
                while i < n, let h = hexValue(t[i]) {
                    guard !(digits == 1 && v == 0) else { return nil }   // leading zero in a group
                    v = v << 4 | h
                    digits += 1
                    guard digits <= 4 else { return nil }
                    i += 1
                }
                guard digits > 0, count < 8 else { return nil }
                buf[count] = UInt16(v)
                count += 1
                if i == n { break }
                guard t[i] == 0x2d else { return nil }
                i += 1
                if i < n, t[i] == 0x2d {
                    guard gapAt < 0 else { return nil }
                    gapAt = count
                    i += 1
                } else {
                    guard i < n else { return nil }   // a trailing single '-'
                }
            }
            for k in 8..<16 { buf[k] = 0 }
            if gapAt >= 0 {
                let zeros = 8 - count
                guard zeros >= 2 else { return nil }   // "::" for one group is not canonical
                for k in 0..<gapAt { buf[8 + k] = buf[k] }
                for k in gapAt..<count { buf[8 + k + zeros] = buf[k] }
            } else {
                guard count == 8 else { return nil }
                for k in 0..<8 { buf[8 + k] = buf[k] }
            }
            // Canonical: the compressed run must be the first longest run of 2+ zero groups.
            var bestStart = -1, bestLen = 0, k = 0
            while k < 8 {
                if buf[8 + k] == 0 {
                    var j = k
                    while j < 8 && buf[8 + j] == 0 { j += 1 }
                    if j - k > bestLen && j - k >= 2 { bestStart = k; bestLen = j - k }
                    k = j
                } else {
                    k += 1
                }
            }
            if gapAt >= 0 {
                guard bestStart == gapAt, bestLen == 8 - count else { return nil }
            } else {
                guard bestLen < 2 else { return nil }
            }
            var hi: UInt64 = 0, lo: UInt64 = 0
            for k in 0..<4 { hi = hi << 16 | UInt64(buf[8 + k]) }
            for k in 4..<8 { lo = lo << 16 | UInt64(buf[8 + k]) }
            return .v6(hi, lo)
        }
    }

    static func longestZeroRun(_ g: [UInt16]) -> (start: Int, length: Int) {
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        return (bestStart, bestLen)
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c - 0x30)
        case 0x61...0x66: return UInt32(c - 0x61 + 10)
        case 0x41...0x46: return UInt32(c - 0x41 + 10)
        default: return nil
        }
    }

    /// The name text of an address: `10-1-2-3`, or RFC 5952 hex with `-` for `:`.
    static func label(_ a: IPAddress) -> [UInt8] {
        switch a {
        case .v4:
            return Array(a.description.utf8.map { $0 == 0x2e ? 0x2d : $0 })
        case .v6(let hi, let lo):
            var g = [UInt16](repeating: 0, count: 8)
            for i in 0..<4 { g[i] = UInt16((hi >> UInt64(48 - 16 * i)) & 0xffff) }
            for i in 0..<4 { g[4 + i] = UInt16((lo >> UInt64(48 - 16 * i)) & 0xffff) }
            let (s, l) = longestZeroRun(g)
            func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: "-") }
            let text = s < 0 ? hex(0..<8) : hex(0..<s) + "--" + hex((s + l)..<8)
            return Array(text.utf8)
        }
    }

    /// `base + n`, nil on overflow of the address space.
    static func add(_ base: IPAddress, _ n: UInt64) -> IPAddress? {
        switch base {
        case .v4(let b):
            let (s, o) = UInt64(b).addingReportingOverflow(n)
            guard !o, s <= UInt64(UInt32.max) else { return nil }
            return .v4(UInt32(s))
        case .v6(let hi, let lo):
            let (l, carry) = lo.addingReportingOverflow(n)
            let (h, o) = hi.addingReportingOverflow(carry ? 1 : 0)
            guard !o else { return nil }
            return .v6(h, l)
        }
    }

    /// `address - base` when it fits in 64 bits and is not negative.
    static func offset(of address: IPAddress, from base: IPAddress) -> UInt64? {
        switch (address, base) {
        case (.v4(let a), .v4(let b)):
            return a >= b ? UInt64(a - b) : nil
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            if ah == bh { return al >= bl ? al - bl : nil }
            guard ah == bh &+ 1, al < bl else { return nil }   // one borrow: still under 2^64
            return al &- bl
        default:
            return nil
        }
    }

    static let inAddrArpa = try! DomainName(parsing: "in-addr.arpa.")
    static let ip6Arpa = try! DomainName(parsing: "ip6.arpa.")

    /// A reverse name (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa) split into its labels:
    /// the address bits it fixes (high bits first) and how many, or nil when `name` is not under
    /// either tree or its labels are not canonical (decimal octets without leading zeros, single
    /// hex nibbles). A full name fixes 32 or 128 bits.
    static func reversePrefix(_ name: DomainName) -> IPNetwork? {
        let isV4 = name.isSubdomain(of: inAddrArpa)
        guard isV4 || name.isSubdomain(of: ip6Arpa) else { return nil }
        let labels = name.labels.dropLast(2)   // without in-addr/ip6 and arpa
        if isV4 {
            guard labels.count <= 4 else { return nil }
            var v: UInt32 = 0
            for label in labels.reversed() {
                guard let o = label.withUnsafeBytes({ number($0, maxDigits: 3) }), o <= 255 else { return nil }
                v = v << 8 | UInt32(o)
            }
            let bits = labels.count * 8
            return IPNetwork(address: .v4(bits == 0 ? 0 : v << UInt32(32 - bits)), prefixLength: bits)
        }
        guard labels.count <= 32 else { return nil }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for (k, label) in labels.reversed().enumerated() {
            guard label.count == 1, let h = hexValue(label.first!) else { return nil }
            if k < 16 { hi |= UInt64(h) << UInt64(60 - 4 * k) } else { lo |= UInt64(h) << UInt64(60 - 4 * (k - 16)) }
        }
        return IPNetwork(address: .v6(hi, lo), prefixLength: labels.count * 4)
    }

    /// The reverse name of an address (full length), lowercase.
    static func reverseName(_ a: IPAddress) -> DomainName {
        var labels: [[UInt8]] = []
        switch a {
        case .v4(let v):
            for k in 0..<4 { labels.append(Array(String((v >> UInt32(8 * k)) & 0xff).utf8)) }
            labels += [Array("in-addr".utf8), Array("arpa".utf8)]
        case .v6:
            let bytes = a.bytes
            for b in bytes.reversed() {
                labels.append(Array(String(b & 0x0f, radix: 16).utf8))
                labels.append(Array(String(b >> 4, radix: 16).utf8))
            }
            labels += [Array("ip6".utf8), Array("arpa".utf8)]
        }
        return try! DomainName(labels: labels)
    }

    /// The reverse-tree name that covers exactly `network` when it is label-aligned, else the
    /// closest enclosing one.
    static func reverseName(of network: IPNetwork) -> DomainName {
        let step = network.address.family == 1 ? 8 : 4
        let labelsKept = network.prefixLength / step
        let full = reverseName(network.address)
        let total = network.address.family == 1 ? 4 : 32
        return full.droppingLabels(total - labelsKept)
    }
}
