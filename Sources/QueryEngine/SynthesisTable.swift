import DNSWire
import DNSZone

/// What synthesis says about a name the zone has no data for.
public enum SynthesisOutcome: Sendable, Hashable {
    /// The name is synthesized and has records of the type asked (for ANY: its one RRset).
    case answer([ResourceRecord])
    /// The name is synthesized but has no records of the type asked (NODATA).
    case noData
    /// The name has a rule's shape but the rule does not answer it: out of range, outside
    /// `within`, or its forward name is zone data (NXDOMAIN).
    case nameError
    /// The name has no data but synthesized names lie below it (RFC 8020: a name with
    /// descendants exists; NODATA).
    case emptyNonTerminal
}

/// The snapshot's `synthesize:` rules, indexed for the query path. Immutable.
///
/// Synthesis only ever answers a name the zone lookup found nothing for (`ZoneLookup.nameError`):
/// zone data, empty non-terminals, wildcards and delegations always win. For the fast path, each
/// forward (and, conservatively, reverse) rule also knows, per snapshot, whether its zone can
/// shadow it at all and which values' names exist in the zone, so positive A/AAAA/PTR answers are
/// written from the packet bytes without building a name (`FastPath+Synthesized.swift`).
public final class SynthesisTable: Sendable {
    /// The rules in config order.
    public let rules: [SynthesisRule]
    /// Forward rules by their template's parent (lowercased): rule indexes, in config order.
    let forwardByParent: [DomainName: [Int]]
    /// Reverse rule indexes with the index of their forward rule.
    let reverse: [(rule: Int, forward: Int)]
    /// Per forward rule: the fast-path view (nil for reverse rules).
    let fast: [FastForward?]
    /// Reverse rules as the fast path checks them, in the engine's order; empty when the fast
    /// path must leave every PTR to the engine.
    let fastReverse: [FastReverse]
    /// The usable forward rules flattened for the per-packet match, in config order: plain values
    /// with their text in `fastBytes` and networks in `fastWithin`, so matching a packet reads
    /// three arrays and copies no reference-counted field (each copy of a rule's arrays, sets and
    /// strings cost an atomic retain and release per query: issue #10's synth ×1.04 CPU).
    let fastRules: [FastRule]
    /// Parent wires, prefixes and suffixes of `fastRules` (lowercased), back to back.
    let fastBytes: [UInt8]
    /// The `within` networks of `fastRules`' address rules, back to back.
    let fastWithin: [IPNetwork]

    /// A forward rule as the fast path checks it.
    struct FastForward: Sendable {
        /// The parent's wire form, lowercased.
        let parentWire: [UInt8]
        /// False when zone data could shadow every name of the rule (a wildcard or zone cut
        /// above it, or no zone at all): the engine answers those.
        let usable: Bool
        /// Values whose names exist in the zone (zone data wins): the engine answers those.
        let shadowed: Set<SynthesisValue>
        /// The zone the names are answered from (the rate limiter's class for them).
        let zone: DomainName?
    }

    /// A usable forward rule as the packet matcher reads it: trivially copyable.
    struct FastRule {
        /// Index in `rules` (and `fast`).
        let rule: Int
        /// Ranges of `fastBytes`.
        let parent: Range<Int>
        let prefix: Range<Int>
        let suffix: Range<Int>
        let placeholder: SynthesisPlaceholder
        let maxDigits: Int
        let ttl: UInt32
        /// `{n}` rules: the numbers answered and the address of 0.
        let range: ClosedRange<UInt64>
        let base: IPAddress
        /// Address rules: the range of `fastWithin` that is answered.
        let within: Range<Int>
        /// Whether any value's name is zone data (then `fast[rule].shadowed` is consulted).
        let hasShadowed: Bool
        /// The rate limiter's wildcard-class name hash of the zone the names are answered from
        /// (`ResponseRateLimiter.wildcardHash`); nil when no zone holds them (never for a usable
        /// rule).
        let zoneHash: UInt64?
    }

    /// No rules (the default): every lookup returns nil at once.
    public static let empty = SynthesisTable(rules: [], zones: .empty)

    /// Indexes `rules` against `zones` (a reverse rule without a forward rule of the same
    /// template is ignored; the config loader reports it).
    public init(rules: [SynthesisRule], zones: ZoneSet) {
        self.rules = rules
        var byParent: [DomainName: [Int]] = [:]
        var reverse: [(Int, Int)] = []
        var fast: [FastForward?] = Array(repeating: nil, count: rules.count)
        for (i, r) in rules.enumerated() {
            switch r.kind {
            case .forward:
                byParent[r.name.parent, default: []].append(i)
            case .reverse:
                if let f = rules.firstIndex(where: {
                    if case .forward = $0.kind { return $0.name == r.name } else { return false }
                }) {
                    reverse.append((i, f))
                }
            }
        }
        // Owner names per zone, read once however many rules share the zone.
        var owners: [DomainName: [DomainName]] = [:]
        for (i, r) in rules.enumerated() {
            guard case .forward = r.kind else { continue }
            fast[i] = SynthesisTable.fastView(rule: r, zones: zones, owners: &owners)
        }
        self.forwardByParent = byParent
        self.reverse = reverse
        self.fast = fast
        let fastOrder = fast.indices.filter { fast[$0] != nil }
        var fastRules: [FastRule] = [], fastBytes: [UInt8] = [], fastWithin: [IPNetwork] = []
        func append(_ bytes: [UInt8]) -> Range<Int> {
            fastBytes += bytes
            return (fastBytes.count - bytes.count)..<fastBytes.count
        }
        for i in fastOrder {
            guard let f = fast[i], f.usable, case .forward(let kind) = rules[i].kind else { continue }
            let r = rules[i]
            var range: ClosedRange<UInt64> = 0...0, base = IPAddress.v4(0)
            var within = fastWithin.count..<fastWithin.count
            // A placeholder that does not fit the rule's kind never answers (`address(for:)`).
            switch kind {
            case .number(let rg, let b):
                guard r.name.placeholder == .number else { continue }
                range = rg; base = b
            case .address(let nets):
                guard r.name.placeholder != .number else { continue }
                fastWithin += nets
                within = (fastWithin.count - nets.count)..<fastWithin.count
            }
            let zoneHash = f.zone.map(ResponseRateLimiter.wildcardHash)
            fastRules.append(FastRule(rule: i, parent: append(f.parentWire), prefix: append(r.name.prefix),
                                      suffix: append(r.name.suffix), placeholder: r.name.placeholder,
                                      maxDigits: r.maxDigits, ttl: r.ttl, range: range, base: base, within: within,
                                      hasShadowed: !f.shadowed.isEmpty, zoneHash: zoneHash))
        }
        self.fastRules = fastRules
        self.fastBytes = fastBytes
        self.fastWithin = fastWithin
        self.fastReverse = SynthesisTable.fastReverseViews(rules: rules, reverse: reverse, fast: fast, zones: zones,
                                                            owners: &owners)
    }

    /// Which values of `rule` the zone shadows, and whether a wildcard or cut shadows them all.
    static func fastView(rule: SynthesisRule, zones: ZoneSet, owners: inout [DomainName: [DomainName]]) -> FastForward {
        let parent = rule.name.parent
        var usable = false
        var shadowed: Set<SynthesisValue> = []
        let owner = zones.zone(for: parent)
        if let zone = owner, let probe = try? parent.prepending(label: Array("\u{1}-probe-".utf8)) {
            // A name that exists nowhere under the parent: if the zone answers it with anything
            // but NXDOMAIN (a wildcard or a cut above), every synthesized name is shadowed.
            usable = probe.isSubdomain(of: zone.origin) && zone.lookup(probe, .a) == .nameError
                && zone.enclosingDelegation(of: parent) == nil
            if usable {
                if owners[zone.origin] == nil { owners[zone.origin] = zone.allRecords().map(\.name) }
                for name in owners[zone.origin]! where name.isSubdomain(of: parent) && name.labelCount > parent.labelCount {
                    let child = name.droppingLabels(name.labelCount - parent.labelCount - 1)
                    if let v = value(of: child.labels[0], rule: rule) { shadowed.insert(v) }
                }
            }
        }
        // A zone of its own at a synthesized name is selected before the parent's zone.
        for z in zones.zones where z.origin.labelCount == parent.labelCount + 1 && z.origin.isSubdomain(of: parent) {
            if let v = value(of: z.origin.labels[0], rule: rule) { shadowed.insert(v) }
        }
        return FastForward(parentWire: parent.wire, usable: usable, shadowed: shadowed, zone: owner?.origin)
    }

    static func value(of label: ArraySlice<UInt8>, rule: SynthesisRule) -> SynthesisValue? {
        label.withUnsafeBytes { raw in
            rule.name.middle(of: raw).flatMap { rule.name.value($0, maxDigits: rule.maxDigits) }
        }
    }

    /// What synthesis says about `qname` (asked as `qname`, answered with its case), or nil when
    /// no rule's shape matches. `zone` is the zone the query selected; call only when its lookup
    /// returned `.nameError`. `rule` is the index of the deciding rule.
    public func lookup(_ qname: DomainName, _ qtype: RecordType, zone: Zone) -> (outcome: SynthesisOutcome, rule: Int)? {
        guard !rules.isEmpty, qname.labelCount > 0 else { return nil }
        if let r = forwardLookup(qname, qtype) { return r }
        if let r = reverseLookup(qname, qtype) { return r }
        // A name above synthesized names (a rule's parent or an ancestor of it inside the zone).
        for (i, r) in rules.enumerated() {
            switch r.kind {
            case .forward:
                if r.name.parent.isSubdomain(of: qname), r.name.parent.isSubdomain(of: zone.origin) {
                    return (.emptyNonTerminal, i)
                }
            case .reverse(let net):
                if let prefix = SynthesisText.reversePrefix(qname), prefix.prefixLength < net.address.bitWidth,
                   prefix.address.family == net.address.family,
                   prefix.contains(net.address) || net.contains(prefix.address) {
                    return (.emptyNonTerminal, i)
                }
            }
        }
        return nil
    }

    func forwardLookup(_ qname: DomainName, _ qtype: RecordType) -> (outcome: SynthesisOutcome, rule: Int)? {
        guard let parent = qname.parent, let candidates = forwardByParent[parent] else { return nil }
        let label = qname.labels[0]
        var matched: Int?
        for i in candidates {
            let rule = rules[i]
            guard let value = SynthesisTable.value(of: label, rule: rule) else { continue }
            if matched == nil { matched = i }
            guard let address = rule.address(for: value) else { continue }
            return (answer(owner: qname, qtype: qtype, rule: rule, rdata: address.family == 1 ? .a(address) : .aaaa(address)), i)
        }
        return matched.map { (.nameError, $0) }
    }

    func reverseLookup(_ qname: DomainName, _ qtype: RecordType) -> (outcome: SynthesisOutcome, rule: Int)? {
        guard !reverse.isEmpty, let prefix = SynthesisText.reversePrefix(qname),
              prefix.prefixLength == prefix.address.bitWidth else { return nil }
        let address = prefix.address
        var matched: Int?
        for (i, f) in reverse {
            guard case .reverse(let net) = rules[i].kind, net.contains(address) else { continue }
            if matched == nil { matched = i }
            let forward = rules[f]
            guard let value = forward.value(for: address), let target = forward.name.name(for: value),
                  forwardAnswers(rule: f, value: value) else { continue }
            return (answer(owner: qname, qtype: qtype, rule: rules[i], rdata: .ptr(target)), i)
        }
        return matched.map { (.nameError, $0) }
    }

    /// Whether the forward rule answers `value` itself (its name is not zone data), so a PTR
    /// never points at a name whose A/AAAA says something else.
    func forwardAnswers(rule: Int, value: SynthesisValue) -> Bool {
        guard let f = fast[rule] else { return false }
        return f.usable && !f.shadowed.contains(value)
    }

    func answer(owner: DomainName, qtype: RecordType, rule: SynthesisRule, rdata: RData) -> SynthesisOutcome {
        guard qtype == rdata.type || qtype == .any else { return .noData }
        return .answer([ResourceRecord(name: owner, ttl: rule.ttl, rdata: rdata)])
    }
}
