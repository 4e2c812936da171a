import DNSWire
import QueryEngine

/// Decoding of `synthesize:`: forward rules (A/AAAA for a name template) and reverse rules (PTR
/// for a network, named by the forward rule with the same template). Also the checks that need
/// the whole list: rules that overlap each other, rules outside every zone, reverse rules without
/// their forward rule.
extension DecodeContext {
    static let synthesizeKeys = ["name", "range", "address", "within", "ttl", "reverse"]

    func decodeSynthesize(_ v: YAMLValue, zones: [ZoneSettings]) -> [SynthesisRule] {
        guard let items = ValueDecoder.sequence(v, sink: sink) else { return [] }
        var rules: [(rule: SynthesisRule, at: YAMLValue)] = []
        for (index, item) in items.enumerated() {
            guard let map = MappingReader(item, allowed: Self.synthesizeKeys, sink: sink) else { continue }
            defer { map.finish() }
            if let rule = decodeRule(map, item: item, index: index) { rules.append((rule, item)) }
        }
        checkRules(rules, zones: zones)
        return rules.map(\.rule)
    }

    func decodeRule(_ map: MappingReader, item: YAMLValue, index: Int) -> SynthesisRule? {
        var template: NameTemplate?
        if let nv = map.required("name", what: "the name template, e.g. \"host{n}.example.test.\""),
           let text = ValueDecoder.string(nv, sink: sink) {
            switch NameTemplate.parse(text) {
            case .success(let t): template = t
            case .failure(let p): sink.add(.invalidValue, at: nv, p.message)
            }
        }
        let ttl = map.int("ttl", in: 0...2_147_483_647).map { UInt32($0) } ?? SynthesisRule.defaultTTL
        let source = SynthesisRuleSource(index: index, file: sink.file, line: item.line)
        if let rv = map.optional("reverse") {
            for key in ["range", "address", "within"] where map.optional(key) != nil {
                sink.add(.conflict, line: item.line, path: item.path.appending(key),
                         "a reverse rule takes only reverse, name and ttl; \(key) belongs to its forward rule")
            }
            guard let net = network(rv), let template else { return nil }
            return SynthesisRule(name: template, kind: .reverse(net), ttl: ttl, source: source)
        }
        guard let template else { return nil }
        switch template.placeholder {
        case .number:
            if map.optional("within") != nil {
                sink.add(.conflict, line: item.line, path: item.path.appending("within"),
                         "within belongs to {ipv4}/{ipv6} names; a {n} name takes range and address")
            }
            let range = map.required("range", what: "the numbers {n} stands for, e.g. 1-254").flatMap { numberRange($0) }
            guard let av = map.required("address", what: "the address template, e.g. 172.16.2.{n}"),
                  let text = ValueDecoder.string(av, sink: sink) else { return nil }
            let base: IPAddress
            switch SynthesisRule.addressBase(text) {
            case .success(let b): base = b
            case .failure(let p):
                sink.add(.invalidValue, at: av, p.message)
                return nil
            }
            guard let range else { return nil }
            if case .v4(let b) = base, UInt64(b & 0xff) + range.upperBound > 255 {
                sink.add(.outOfRange, at: av, "\(text) with range up to \(range.upperBound) leaves the last octet; {n} must stay within 0...255 there")
                return nil
            }
            if base.family == 2, SynthesisRule.address(base: base, plus: range.upperBound) == nil {
                sink.add(.outOfRange, at: av, "\(text) plus \(range.upperBound) leaves the IPv6 address space")
                return nil
            }
            return SynthesisRule(name: template, kind: .forward(.number(range: range, base: base)), ttl: ttl, source: source)
        case .ipv4, .ipv6:
            for key in ["range", "address"] where map.optional(key) != nil {
                sink.add(.conflict, line: item.line, path: item.path.appending(key),
                         "\(key) belongs to {n} names; an \(template.placeholder.token) name answers the address it spells, limited by within")
            }
            guard let wv = map.required("within", what: "the networks whose addresses are answered, e.g. [10.0.0.0/8]") else {
                return nil
            }
            let within = networks(wv)
            let family: UInt16 = template.placeholder == .ipv4 ? 1 : 2
            for (i, n) in within.enumerated() where n.address.family != family {
                sink.add(.invalidValue, line: wv.line, path: wv.path.appending(index: i),
                         "\(n) is not \(family == 1 ? "IPv4" : "IPv6"); \(template.placeholder.token) names never spell it")
            }
            guard !within.isEmpty else { return nil }
            return SynthesisRule(name: template, kind: .forward(.address(within: within.filter { $0.address.family == family })),
                                 ttl: ttl, source: source)
        }
    }

    /// `low-high` (or one number), decimal.
    func numberRange(_ v: YAMLValue) -> ClosedRange<UInt64>? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.filter { $0 != " " } }
        let numbers = parts.map { p in p.allSatisfy { $0.isASCII && $0.isNumber } && !p.isEmpty ? UInt64(p) : nil }
        guard (numbers.count == 1 || numbers.count == 2), let low = numbers.first!, let high = numbers.last!,
              low <= high, high < 10_000_000_000_000_000_000 else {
            sink.add(.invalidValue, at: v, "'\(text)' is not a range like 1-254 (low ≤ high, decimal)")
            return nil
        }
        return low...high
    }

    /// Checks over the whole list: each rule inside some zone, reverse rules backed by a forward
    /// rule of the same template and family, no two rules that can match the same name.
    func checkRules(_ rules: [(rule: SynthesisRule, at: YAMLValue)], zones: [ZoneSettings]) {
        let origins = zones.compactMap { try? DomainName(parsing: $0.origin) }
        let zoneList = zones.map(\.origin).joined(separator: ", ")
        for (i, (rule, at)) in rules.enumerated() {
            switch rule.kind {
            case .forward:
                if !origins.isEmpty, !origins.contains(where: { rule.name.parent.isSubdomain(of: $0) }) {
                    sink.add(.invalidValue, line: at.line, path: at.path.appending("name"),
                             "'\(rule.name)' is not inside any configured zone (\(zoneList)); synthesized names are answered only in zones Proxima serves")
                }
            case .reverse(let net):
                let reverseName = SynthesisRule.reverseZoneName(of: net)
                if !origins.isEmpty, !origins.contains(where: { reverseName.isSubdomain(of: $0) || $0.isSubdomain(of: reverseName) }) {
                    sink.add(.invalidValue, line: at.line, path: at.path.appending("reverse"),
                             "\(net) (\(reverseName)) is not inside any configured zone (\(zoneList)); add the reverse zone to zones")
                }
                let forward = rules.first { if case .forward = $0.rule.kind { return $0.rule.name == rule.name } else { return false } }
                if let forward {
                    let family: UInt16
                    switch forward.rule.kind {
                    case .forward(.number(_, let base)): family = base.family
                    default: family = forward.rule.name.placeholder == .ipv4 ? 1 : 2
                    }
                    if family != net.address.family {
                        sink.add(.conflict, line: at.line, path: at.path.appending("reverse"),
                                 "\(net) is \(net.address.family == 1 ? "IPv4" : "IPv6") but the forward rule synthesize[\(forward.rule.source.index)] answers \(family == 1 ? "IPv4" : "IPv6") addresses")
                    }
                } else {
                    sink.add(.conflict, line: at.line, path: at.path.appending("name"),
                             "no forward rule has the name '\(rule.name)'; a reverse rule answers only the addresses its forward rule answers")
                }
            }
            for (j, (earlier, _)) in rules[..<i].enumerated() where earlier.overlaps(rule) {
                let what: String
                if case .reverse = rule.kind { what = "its network overlaps" } else { what = "some names match both" }
                sink.add(.conflict, line: at.line, path: at.path,
                         "overlaps synthesize[\(earlier.source.index)] (line \(rules[j].at.line.map(String.init) ?? "?")): \(what); make the rules disjoint")
            }
        }
    }
}
