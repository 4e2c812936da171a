import DNSWire
import DNSZone

extension SynthesisTable {
    /// A reverse rule as the fast path checks it: PTR answers written from the packet bytes.
    struct FastReverse: Sendable {
        /// Index of the reverse rule and of its forward rule.
        let rule: Int
        let forward: Int
        let network: IPNetwork
        /// False when zone data could answer some of the network's names (a wildcard, a cut, a
        /// second zone) or the answer's name could be compressed against the question: the
        /// engine answers every name of the rule.
        let usable: Bool
        /// Addresses whose reverse names are zone data (records or empty non-terminals).
        let shadowed: Set<IPAddress>
        /// The zone the names are answered from (the rate limiter's class for them).
        let zone: DomainName?
    }

    /// The fast-path views of the reverse rules, deliberately conservative: a rule is usable only
    /// when one zone holds all of its names, that zone has no cut at or above them and no
    /// wildcard that could cover them, and no forward rule lives in a reverse tree.
    static func fastReverseViews(rules: [SynthesisRule], reverse: [(rule: Int, forward: Int)], fast: [FastForward?],
                                 zones: ZoneSet, owners: inout [DomainName: [DomainName]]) -> [FastReverse] {
        let forwardInReverseTree = rules.contains { r in
            if case .forward = r.kind {
                return r.name.parent.isSubdomain(of: SynthesisText.inAddrArpa) || r.name.parent.isSubdomain(of: SynthesisText.ip6Arpa)
            }
            return false
        }
        guard !forwardInReverseTree else { return [] }
        let arpa = try! DomainName(parsing: "arpa.")
        return reverse.map { (i, f) -> FastReverse in
            guard case .reverse(let net) = rules[i].kind else {
                return FastReverse(rule: i, forward: f, network: IPNetwork(address: .v4(0), prefixLength: 32), usable: false,
                                   shadowed: [], zone: nil)
            }
            let enclosing = SynthesisText.reverseName(of: net)
            let zone = zones.zone(for: enclosing)
            var usable = zone != nil && !rules[f].name.parent.isSubdomain(of: arpa)
            var shadowed: Set<IPAddress> = []
            if let zone, usable {
                usable = zone.enclosingDelegation(of: enclosing) == nil
                    && !zones.zones.contains { $0.origin != zone.origin && $0.origin.isSubdomain(of: enclosing) }
                if owners[zone.origin] == nil { owners[zone.origin] = zone.allRecords().map(\.name) }
                let fullLabels = SynthesisText.reverseName(net.address).labelCount
                for name in owners[zone.origin]! where usable {
                    let related = name.isSubdomain(of: enclosing) || enclosing.isSubdomain(of: name)
                    guard related else { continue }
                    if name.labels.first.map({ Array($0) }) == [UInt8(ascii: "*")] {
                        usable = false   // a wildcard near the network's names
                    } else if name != zone.origin, !zone.records(at: name, type: .ns).isEmpty {
                        usable = false   // a cut
                    } else if name.labelCount >= fullLabels {
                        let full = name.droppingLabels(name.labelCount - fullLabels)
                        if let p = SynthesisText.reversePrefix(full), p.prefixLength == p.address.bitWidth {
                            shadowed.insert(p.address)
                        }
                    }
                }
            }
            return FastReverse(rule: i, forward: f, network: net, usable: usable, shadowed: shadowed, zone: zone?.origin)
        }
    }

    /// The address a reverse question name stands for, read in place: exactly four canonical
    /// decimal labels under in-addr.arpa., or 32 hex nibbles under ip6.arpa. (as
    /// `SynthesisText.reversePrefix` reads a full-length name).
    @inline(__always)
    static func reverseAddress(_ p: UnsafeRawBufferPointer, nameLength: Int) -> IPAddress? {
        let end = 12 + nameLength
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 34) { offsets -> IPAddress? in
            var count = 0, i = 12
            while i < end, p[i] != 0 {
                guard count < 34 else { return nil }
                offsets[count] = i
                count += 1
                i += 1 + Int(p[i])
            }
            func label(_ k: Int) -> UnsafeRawBufferPointer {
                let o = offsets[k]
                return UnsafeRawBufferPointer(rebasing: p[(o + 1)..<(o + 1 + Int(p[o]))])
            }
            if count == 6, matches(label(4), "in-addr"), matches(label(5), "arpa") {
                var v: UInt32 = 0
                for j in 0..<4 {
                    guard let o = SynthesisText.number(label(j), maxDigits: 3), o <= 255 else { return nil }
                    v |= UInt32(o) << UInt32(8 * j)
                }
                return .v4(v)
            }
            if count == 34, matches(label(32), "ip6"), matches(label(33), "arpa") {
                var hi: UInt64 = 0, lo: UInt64 = 0
                for j in 0..<32 {
                    let l = label(j)
                    guard l.count == 1, let h = SynthesisText.hexValue(l[0]) else { return nil }
                    if j < 16 { lo |= UInt64(h) << UInt64(4 * j) } else { hi |= UInt64(h) << UInt64(4 * (j - 16)) }
                }
                return .v6(hi, lo)
            }
            return nil
        }
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    @inline(__always)
    static func matches(_ b: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard b.count == lower.utf8CodeUnitCount else { return false }
        let s = lower.utf8Start
        for k in 0..<b.count where asciiLower(b[k]) != s[k] { return false }
        return true
    }
}

extension SynthesisTable {
    /// For a PTR question read in place: the reverse rule's TTL, the forward rule and value that
    /// name the address, and the zone; nil when the engine must decide. Same choice as the
    /// engine's `reverseLookup` after a `.nameError` (FastPathEquivalenceTests).
    @inline(__always)
    func fastReverseAnswer(_ p: UnsafeRawBufferPointer, nameLength: Int)
        -> (ttl: UInt32, forward: Int, value: SynthesisValue, zone: DomainName?)? {
        guard let address = SynthesisTable.reverseAddress(p, nameLength: nameLength) else { return nil }
        for r in fastReverse where r.network.contains(address) {
            guard r.usable, r.shadowed.isEmpty || !r.shadowed.contains(address) else { return nil }
            guard let value = rules[r.forward].value(for: address), forwardAnswers(rule: r.forward, value: value) else { continue }
            return (rules[r.rule].ttl, r.forward, value, r.zone)
        }
        return nil
    }
}

extension SynthesisText {
    /// Writes the name text of `value` (`42`, `10-1-2-3`, `2001-db8--1`) at `o[at...]` without
    /// allocating; returns its length (at most 39). Same text as `label(_:)`.
    @inline(__always)
    static func write(_ value: SynthesisValue, into o: UnsafeMutableRawBufferPointer, at start: Int) -> Int {
        var i = start
        func decimal(_ v: UInt64) {
            var digits = 1, t = v
            while t >= 10 { t /= 10; digits += 1 }
            var n = v
            for k in stride(from: digits - 1, through: 0, by: -1) {
                o[i + k] = UInt8(truncatingIfNeeded: 0x30 + n % 10)
                n /= 10
            }
            i += digits
        }
        func hex(_ g: UInt16) {
            var started = false
            for shift in stride(from: 12, through: 0, by: -4) {
                let d = UInt8((g >> UInt16(shift)) & 0xf)
                if d != 0 || started || shift == 0 {
                    o[i] = d < 10 ? 0x30 + d : 0x61 + d - 10
                    i += 1
                    started = true
                }
            }
        }
        switch value {
        case .number(let n):
            decimal(n)
        case .address(.v4(let a)):
            for k in 0..<4 {
                if k > 0 { o[i] = 0x2d; i += 1 }
                decimal(UInt64((a >> UInt32(24 - 8 * k)) & 0xff))
            }
        case .address(.v6(let hi, let lo)):
            func group(_ k: Int) -> UInt16 {
                k < 4 ? UInt16(truncatingIfNeeded: hi >> UInt64(48 - 16 * k)) : UInt16(truncatingIfNeeded: lo >> UInt64(48 - 16 * (k - 4)))
            }
            var bestStart = -1, bestLen = 0, k = 0
            while k < 8 {
                if group(k) == 0 {
                    var j = k
                    while j < 8 && group(j) == 0 { j += 1 }
                    if j - k > bestLen && j - k >= 2 { bestStart = k; bestLen = j - k }
                    k = j
                } else {
                    k += 1
                }
            }
            var g = 0
            while g < 8 {
                if g == bestStart {
                    o[i] = 0x2d; o[i + 1] = 0x2d; i += 2
                    g += bestLen
                    continue
                }
                if g > 0 && g != bestStart + bestLen { o[i] = 0x2d; i += 1 }
                hex(group(g))
                g += 1
            }
        }
        return i - start
    }
}
