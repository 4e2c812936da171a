/// A domain name, kept in uncompressed wire form (RFC 1035 §3.1): length-prefixed labels ending
/// with the zero-length root label. Case is preserved as given; equality, hashing and ordering are
/// case-insensitive for ASCII (RFC 4343).
public struct DomainName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Uncompressed wire form, original case, including the final zero byte.
    public let wire: [UInt8]

    /// The root name ".".
    public static let root = DomainName(uncheckedWire: [0])

    /// Wraps bytes already known to be a valid uncompressed wire name.
    @usableFromInline
    init(uncheckedWire: [UInt8]) {
        self.wire = uncheckedWire
    }

    /// Builds a name from labels (most specific first), validating RFC 1035 §2.3.4 lengths.
    public init<S: Sequence>(labels: S) throws(DNSWireError) where S.Element: Collection, S.Element.Element == UInt8 {
        var w: [UInt8] = []
        for label in labels {
            guard !label.isEmpty else { throw DNSWireError(.emptyLabel) }
            guard label.count <= Limits.maxLabelLength else { throw DNSWireError(.labelTooLong) }
            w.append(UInt8(label.count))
            w.append(contentsOf: label)
        }
        w.append(0)
        guard w.count <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong) }
        self.wire = w
    }

    /// Validates and wraps an uncompressed wire name (must end with the root label, no trailing bytes).
    public init(wire: [UInt8]) throws(DNSWireError) {
        guard !wire.isEmpty, wire.count <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong) }
        var i = 0
        while true {
            guard i < wire.count else { throw DNSWireError(.truncated, offset: i) }
            let len = Int(wire[i])
            if len == 0 { break }
            guard len <= Limits.maxLabelLength else { throw DNSWireError(.labelTooLong, offset: i) }
            i += 1 + len
        }
        guard i == wire.count - 1 else { throw DNSWireError(.trailingBytes, offset: i) }
        self.wire = wire
    }

    /// Parses presentation format (RFC 1035 §5.1): labels separated by dots, `\.`, `\\` and `\DDD`
    /// escapes. A name without a trailing dot is relative and gets `origin` appended; `@` is the
    /// origin itself. A relative name with no origin is an error.
    public init(parsing text: some StringProtocol, origin: DomainName? = nil) throws(DNSWireError) {
        let bytes = Array(text.utf8)
        if bytes == [UInt8(ascii: "@")] {
            guard let origin else { throw DNSWireError(.badText, detail: "'@' without an origin") }
            self = origin
            return
        }
        if bytes == [UInt8(ascii: ".")] {
            self = .root
            return
        }
        guard !bytes.isEmpty else { throw DNSWireError(.badText, detail: "empty name") }
        var labels: [[UInt8]] = []
        var current: [UInt8] = []
        var absolute = false
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { throw DNSWireError(.badEscape, offset: i) }
                let n = bytes[i + 1]
                if n >= UInt8(ascii: "0") && n <= UInt8(ascii: "9") {
                    var v = 0
                    for k in 1...3 {
                        guard i + k < bytes.count else { throw DNSWireError(.badEscape, offset: i) }
                        let d = bytes[i + k]
                        guard d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9") else { throw DNSWireError(.badEscape, offset: i) }
                        v = v * 10 + Int(d - UInt8(ascii: "0"))
                    }
                    guard v <= 255 else { throw DNSWireError(.badEscape, offset: i) }
                    current.append(UInt8(v))
                    i += 4
                } else {
                    current.append(n)
                    i += 2
                }
                continue
            }
            if c == UInt8(ascii: ".") {
                guard !current.isEmpty else { throw DNSWireError(.emptyLabel, offset: i) }
                labels.append(current)
                current = []
                if i == bytes.count - 1 { absolute = true }
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        if !current.isEmpty { labels.append(current) }
        for l in labels where l.count > Limits.maxLabelLength { throw DNSWireError(.labelTooLong, detail: String(decoding: l, as: UTF8.self)) }
        if !absolute {
            guard let origin else { throw DNSWireError(.badText, detail: "relative name without an origin") }
            var w: [UInt8] = []
            for l in labels { w.append(UInt8(l.count)); w.append(contentsOf: l) }
            w.append(contentsOf: origin.wire)
            guard w.count <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong) }
            self.init(uncheckedWire: w)
        } else {
            try self.init(labels: labels)
        }
    }

    /// Number of labels, not counting the root.
    public var labelCount: Int {
        var n = 0, i = 0
        while wire[i] != 0 { n += 1; i += 1 + Int(wire[i]) }
        return n
    }

    /// Labels, most specific first, without the root.
    public var labels: [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while wire[i] != 0 {
            let len = Int(wire[i])
            out.append(wire[(i + 1)..<(i + 1 + len)])
            i += 1 + len
        }
        return out
    }

    /// True for the root name.
    public var isRoot: Bool { wire.count == 1 }

    /// The name without its first label; nil for the root.
    public var parent: DomainName? {
        guard !isRoot else { return nil }
        return DomainName(uncheckedWire: Array(wire[(1 + Int(wire[0]))...]))
    }

    /// The name with its `count` leftmost labels removed (root if count ≥ labelCount).
    public func droppingLabels(_ count: Int) -> DomainName {
        var i = 0, n = 0
        while n < count && wire[i] != 0 { i += 1 + Int(wire[i]); n += 1 }
        return i == 0 ? self : DomainName(uncheckedWire: Array(wire[i...]))
    }

    /// `label.self`; throws when the result would be too long.
    public func prepending(label: some Collection<UInt8>) throws(DNSWireError) -> DomainName {
        guard !label.isEmpty else { throw DNSWireError(.emptyLabel) }
        guard label.count <= Limits.maxLabelLength else { throw DNSWireError(.labelTooLong) }
        var w: [UInt8] = [UInt8(label.count)]
        w.append(contentsOf: label)
        w.append(contentsOf: wire)
        guard w.count <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong) }
        return DomainName(uncheckedWire: w)
    }

    /// `*.self` (RFC 4592 source of synthesis name).
    public var wildcardChild: DomainName? {
        try? prepending(label: [UInt8(ascii: "*")])
    }

    /// The same name with ASCII letters folded to lowercase.
    public func lowercased() -> DomainName {
        var w = wire
        var i = 0
        while w[i] != 0 {
            let len = Int(w[i])
            for k in (i + 1)..<(i + 1 + len) { w[k] = asciiLower(w[k]) }
            i += 1 + len
        }
        return DomainName(uncheckedWire: w)
    }

    /// True when `self` equals `other` or lies below it (case-insensitive).
    public func isSubdomain(of other: DomainName) -> Bool {
        let extra = wire.count - other.wire.count
        guard extra >= 0 else { return false }
        // The suffix must start on a label boundary of self.
        var i = 0
        while i < extra {
            i += 1 + Int(wire[i])
        }
        guard i == extra else { return false }
        for k in 0..<other.wire.count where asciiLower(wire[extra + k]) != asciiLower(other.wire[k]) {
            return false
        }
        return true
    }

    public static func == (lhs: DomainName, rhs: DomainName) -> Bool {
        guard lhs.wire.count == rhs.wire.count else { return false }
        for i in 0..<lhs.wire.count where asciiLower(lhs.wire[i]) != asciiLower(rhs.wire[i]) { return false }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        for b in wire { hasher.combine(asciiLower(b)) }
    }

    /// Canonical DNS name order (RFC 4034 §6.1): compare label by label from the root.
    public static func < (lhs: DomainName, rhs: DomainName) -> Bool {
        let a = lhs.labels, b = rhs.labels
        var i = a.count - 1, j = b.count - 1
        while i >= 0 && j >= 0 {
            let la = a[i].map(asciiLower), lb = b[j].map(asciiLower)
            if la != lb { return la.lexicographicallyPrecedes(lb) }
            i -= 1; j -= 1
        }
        return a.count < b.count
    }

    /// Presentation format with a trailing dot; non-printable and special bytes escaped (RFC 4343 §2.1).
    public var description: String {
        if isRoot { return "." }
        var s = ""
        for label in labels {
            for b in label {
                switch b {
                case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: ";"),
                     UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "$"), UInt8(ascii: "@"):
                    s.append("\\")
                    s.unicodeScalars.append(Unicode.Scalar(b))
                case 0x21...0x7e:
                    s.unicodeScalars.append(Unicode.Scalar(b))
                default:
                    let d = String(b)
                    s += "\\" + String(repeating: "0", count: 3 - d.count) + d
                }
            }
            s += "."
        }
        return s
    }
}

/// ASCII lowercase of one byte (RFC 4343: only A-Z fold).
@inlinable
public func asciiLower(_ b: UInt8) -> UInt8 {
    (b >= 0x41 && b <= 0x5a) ? b | 0x20 : b
}
