import DNSWire

/// The placeholder of a synthesized name's template, and the text it stands for.
///
/// - `{n}`: a decimal number without sign or leading zeros ("0" itself is allowed), at most as
///   many digits as the rule's range's upper bound has.
/// - `{ipv4}`: an IPv4 address with `-` for `.`: `10-1-2-3` (decimal octets without leading zeros).
/// - `{ipv6}`: an IPv6 address in RFC 5952 canonical form (lowercase hex, no leading zeros in a
///   group, the longest run of two or more zero groups compressed, the first of equal runs) with
///   `-` for `:`: `2001-db8--1` for 2001:db8::1. Every group is hex, IPv4-mapped addresses too
///   (`--ffff-a01-203`), so each address has exactly one name and each name one address.
public enum SynthesisPlaceholder: String, Sendable, Hashable, CaseIterable {
    case number = "n"
    case ipv4
    case ipv6

    /// `{n}`, `{ipv4}`, `{ipv6}`.
    public var token: String { "{\(rawValue)}" }
}

/// What a matched placeholder stands for.
public enum SynthesisValue: Sendable, Hashable {
    case number(UInt64)
    case address(IPAddress)
}

/// A name template: one label `prefix{placeholder}suffix` (the leftmost label) above a fixed
/// parent name, e.g. `workstation{n}.office.example.test.`. Matching is ASCII case-insensitive
/// (RFC 4343); a synthesized name has no children, so only names of exactly one more label than
/// the parent can match.
public struct NameTemplate: Sendable, Hashable, CustomStringConvertible {
    /// What the placeholder stands for.
    public let placeholder: SynthesisPlaceholder
    /// Text before and after the placeholder in the first label, lowercased.
    public let prefix: [UInt8]
    public let suffix: [UInt8]
    /// The fixed part under the first label, lowercased.
    public let parent: DomainName
    /// The template as written (lowercased), for messages.
    public let text: String

    /// Parses `prefix{placeholder}suffix.parent.` (absolute); nil with a reason otherwise.
    public static func parse(_ text: String) -> Result<NameTemplate, SynthesisRuleProblem> {
        let lowered = text.lowercased()
        guard lowered.hasSuffix(".") else {
            return .failure(.init(.nameTemplate, "'\(text)' must be an absolute name ending in '.'"))
        }
        guard let dot = lowered.firstIndex(of: ".") else { return .failure(.init(.nameTemplate, "'\(text)' has no parent name")) }
        let first = lowered[..<dot]
        let rest = String(lowered[lowered.index(after: dot)...])
        let found = SynthesisPlaceholder.allCases.filter { first.contains($0.token) }
        guard found.count == 1, let placeholder = found.first, first.ranges(of: placeholder.token).count == 1,
              let range = first.firstRange(of: placeholder.token) else {
            if rest.contains("{") {
                return .failure(.init(.nameTemplate, "'\(text)': the placeholder must be in the first label (a synthesized name has no children)"))
            }
            return .failure(.init(.nameTemplate, "'\(text)' needs exactly one of {n}, {ipv4}, {ipv6} in its first label"))
        }
        let prefix = Array(first[..<range.lowerBound].utf8), suffix = Array(first[range.upperBound...].utf8)
        let allowed: (UInt8) -> Bool = { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x5f
        }
        guard prefix.allSatisfy(allowed), suffix.allSatisfy(allowed), !rest.contains("{"), !rest.contains("}") else {
            return .failure(.init(.nameTemplate, "'\(text)': only letters, digits, '-' and '_' may surround the placeholder, and only one placeholder is allowed"))
        }
        guard rest != "", let parent = try? DomainName(parsing: rest) else {
            return .failure(.init(.nameTemplate, "'\(text)': '\(rest)' is not a domain name"))
        }
        // The longest text the placeholder can stand for must fit in a label (RFC 1035 §2.3.4).
        let longest = placeholder == .ipv6 ? 39 : placeholder == .ipv4 ? 15 : 20
        guard prefix.count + suffix.count + longest <= Limits.maxLabelLength,
              parent.wire.count + 1 + prefix.count + suffix.count + longest <= Limits.maxNameLength else {
            return .failure(.init(.nameTemplate, "'\(text)': a synthesized label or name would be too long"))
        }
        return .success(NameTemplate(placeholder: placeholder, prefix: prefix, suffix: suffix, parent: parent.lowercased(),
                                     text: lowered))
    }

    public var description: String { text }

    /// The placeholder's text inside `label` (any case), or nil when the label does not have the
    /// template's prefix and suffix around a non-empty middle.
    @inline(__always)
    func middle(of label: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let n = label.count
        guard n > prefix.count + suffix.count else { return nil }
        for (i, c) in prefix.enumerated() where asciiLower(label[i]) != c { return nil }
        let s = n - suffix.count
        for (i, c) in suffix.enumerated() where asciiLower(label[s + i]) != c { return nil }
        return UnsafeRawBufferPointer(rebasing: label[prefix.count..<s])
    }

    /// The value the placeholder text stands for, or nil when it is not in canonical form
    /// (`maxDigits` bounds `{n}`).
    @inline(__always)
    func value(_ text: UnsafeRawBufferPointer, maxDigits: Int) -> SynthesisValue? {
        switch placeholder {
        case .number: return SynthesisText.number(text, maxDigits: maxDigits).map { .number($0) }
        case .ipv4: return SynthesisText.ipv4(text).map { .address($0) }
        case .ipv6: return SynthesisText.ipv6(text).map { .address($0) }
        }
    }

    /// The first label for `value`, in lowercase.
    func label(for value: SynthesisValue) -> [UInt8] {
        let middle: [UInt8]
        switch value {
        case .number(let n): middle = Array(String(n).utf8)
        case .address(let a): middle = SynthesisText.label(a)
        }
        return prefix + middle + suffix
    }

    /// The full name for `value`.
    func name(for value: SynthesisValue) -> DomainName? {
        try? parent.prepending(label: label(for: value))
    }
}

/// Why a rule or template is not acceptable (the config loader puts it at the key).
public struct SynthesisRuleProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// A small, bounded classification.
    public enum Code: String, Sendable, Hashable {
        /// The `name` template is not one label with one placeholder over an absolute name.
        case nameTemplate
        /// The `address` template is not an address ending in `{n}`.
        case addressTemplate
    }

    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// Where a rule was written, for `proxima explain` and messages.
public struct SynthesisRuleSource: Sendable, Hashable {
    /// Index in the config's `synthesize:` list.
    public var index: Int
    /// The config file as the caller named it.
    public var file: String
    /// 1-based line of the rule's entry.
    public var line: Int?

    public init(index: Int, file: String, line: Int?) {
        self.index = index
        self.file = file
        self.line = line
    }

    /// `synthesize[2] (config/proxima.yaml:41)`.
    public var description: String {
        "synthesize[\(index)] (\(file)\(line.map { ":\($0)" } ?? ""))"
    }
}

/// One `synthesize:` entry, validated: a forward rule answering A/AAAA for names of a template,
/// or a reverse rule answering PTR for the addresses of a network with the names of the forward
/// rule that has the same template (so forward and reverse always agree).
public struct SynthesisRule: Sendable, Hashable {
    /// What the names of a forward rule stand for.
    public enum Forward: Sendable, Hashable {
        /// `{n}` in `range`; the address of n is `base + n` (`base` is `address` with `{n}` = 0).
        case number(range: ClosedRange<UInt64>, base: IPAddress)
        /// `{ipv4}`/`{ipv6}`: the address in the name, answered only inside one of `within`.
        case address(within: [IPNetwork])
    }

    /// Forward (A/AAAA) or reverse (PTR).
    public enum Kind: Sendable, Hashable {
        case forward(Forward)
        /// PTR for addresses in the network (octet-aligned or not; IPv6 by nibbles).
        case reverse(IPNetwork)
    }

    /// The names this rule answers (forward) or answers with (reverse).
    public let name: NameTemplate
    /// Forward or reverse, with what its names stand for.
    public let kind: Kind
    /// TTL of the synthesized records.
    public let ttl: UInt32
    /// Where the rule was written.
    public let source: SynthesisRuleSource

    /// The most digits `{n}` may have: those of the range's upper bound (0 for other rules).
    /// Stored, so matching a packet never formats a number.
    let maxDigits: Int

    /// Creates a rule; the config loader validates the combination (`ConfigLoader`).
    public init(name: NameTemplate, kind: Kind, ttl: UInt32, source: SynthesisRuleSource) {
        self.name = name
        self.kind = kind
        self.ttl = ttl
        self.source = source
        if case .forward(.number(let range, _)) = kind {
            var digits = 1, v = range.upperBound
            while v >= 10 { v /= 10; digits += 1 }
            self.maxDigits = digits
        } else {
            self.maxDigits = 0
        }
    }

    /// Default TTL of synthesized records.
    public static let defaultTTL: UInt32 = 3600

    /// The record type of a forward rule's answers.
    public var answerType: RecordType {
        switch kind {
        case .reverse: return .ptr
        case .forward(.number(_, let base)): return base.family == 1 ? .a : .aaaa
        case .forward(.address): return name.placeholder == .ipv4 ? .a : .aaaa
        }
    }

    /// A forward rule's address for `value`, nil when the rule does not answer it (out of range,
    /// outside `within`, wrong family).
    public func address(for value: SynthesisValue) -> IPAddress? {
        switch (kind, value) {
        case (.forward(.number(let range, let base)), .number(let n)):
            guard range.contains(n) else { return nil }
            return SynthesisText.add(base, n)
        case (.forward(.address(let within)), .address(let a)):
            return within.contains { $0.contains(a) } ? a : nil
        default:
            return nil
        }
    }

    /// A forward rule's value for `address` (the inverse of `address(for:)`), nil when the rule
    /// does not answer that address.
    public func value(for address: IPAddress) -> SynthesisValue? {
        switch kind {
        case .forward(.number(let range, let base)):
            guard let n = SynthesisText.offset(of: address, from: base), range.contains(n) else { return nil }
            return .number(n)
        case .forward(.address(let within)):
            guard (name.placeholder == .ipv4) == (address.family == 1), within.contains(where: { $0.contains(address) }) else {
                return nil
            }
            return .address(address)
        case .reverse:
            return nil
        }
    }
}

extension SynthesisRule {
    /// True when some name (or, for reverse rules, some address) is matched by both rules, so
    /// which one answers would depend on their order. Conservative for templates whose fixed
    /// text differs: reported whenever the fixed text of one could be part of the other's
    /// placeholder text.
    public func overlaps(_ other: SynthesisRule) -> Bool {
        switch (kind, other.kind) {
        case (.reverse(let a), .reverse(let b)):
            return a.address.family == b.address.family && (a.contains(b.address) || b.contains(a.address))
        case (.forward(let fa), .forward(let fb)):
            guard name.parent == other.name.parent else { return false }
            let x = name, y = other.name
            if x.prefix == y.prefix && x.suffix == y.suffix {
                guard x.placeholder == y.placeholder else { return false }   // disjoint alphabets
                switch (fa, fb) {
                case (.number(let r1, _), .number(let r2, _)): return r1.overlaps(r2)
                case (.address(let w1), .address(let w2)):
                    return w1.contains { n1 in w2.contains { n2 in n1.contains(n2.address) || n2.contains(n1.address) } }
                default: return true
                }
            }
            return Self.affixesCompatible(x.prefix, x.placeholder, y.prefix, y.placeholder, atStart: true)
                && Self.affixesCompatible(x.suffix, x.placeholder, y.suffix, y.placeholder, atStart: false)
        default:
            return false
        }
    }

    /// Whether the longer affix can be the shorter one followed (prefix) or preceded (suffix)
    /// by placeholder text of the rule with the shorter affix.
    static func affixesCompatible(_ a: [UInt8], _ pa: SynthesisPlaceholder, _ b: [UInt8], _ pb: SynthesisPlaceholder,
                                  atStart: Bool) -> Bool {
        let (short, long, placeholder) = a.count <= b.count ? (a, b, pa) : (b, a, pb)
        let extra: ArraySlice<UInt8>
        if atStart {
            guard long.starts(with: short) else { return false }
            extra = long[short.count...]
        } else {
            guard long.reversed().starts(with: short.reversed()) else { return false }
            extra = long[..<(long.count - short.count)]
        }
        return extra.allSatisfy { c in
            switch placeholder {
            case .number: return c >= 0x30 && c <= 0x39
            case .ipv4: return (c >= 0x30 && c <= 0x39) || c == 0x2d
            case .ipv6: return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || c == 0x2d
            }
        }
    }

    /// Parses a forward rule's `address` template: an address whose last component is `{n}`
    /// (`172.16.2.{n}`, `2001:db8::{n}`); returns the base (the address with `{n}` = 0).
    public static func addressBase(_ text: String) -> Result<IPAddress, SynthesisRuleProblem> {
        let t = text.lowercased()
        guard t.hasSuffix("{n}"), t.ranges(of: "{n}").count == 1 else {
            return .failure(.init(.addressTemplate, "'\(text)' must end with {n} (e.g. 172.16.2.{n} or 2001:db8::{n})"))
        }
        let head = t.dropLast(3)
        guard head.hasSuffix(".") || head.hasSuffix(":"), let base = IPAddress(head + "0") else {
            return .failure(.init(.addressTemplate, "'\(text)' is not an address with {n} as its last part (e.g. 172.16.2.{n} or 2001:db8::{n})"))
        }
        return .success(base)
    }

    /// `base + n`, nil when it leaves the address space.
    public static func address(base: IPAddress, plus n: UInt64) -> IPAddress? {
        SynthesisText.add(base, n)
    }

    /// The reverse-tree name covering `network` (its enclosing name when not label-aligned).
    public static func reverseZoneName(of network: IPNetwork) -> DomainName {
        SynthesisText.reverseName(of: network)
    }
}
