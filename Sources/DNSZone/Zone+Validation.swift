import DNSWire

/// Groups records into RRsets and checks the zone (RFC 1034 §4.2.1, RFC 2181, RFC 1912-style
/// sanity), computing the indexes `Zone.lookup` needs. Errors are collected, not thrown one by one.
struct ZoneBuilder {
    let origin: DomainName
    let file: String
    var issues: [ZoneIssue]
    var warnings: [ZoneIssue]

    /// Everything a `Zone` stores.
    struct Output {
        var soa: ResourceRecord
        var soaData: SOAData
        var warnings: [ZoneIssue]
        var recordCount: Int
        var nodes: [DomainName: ZoneNode]
        var existingNames: Set<DomainName>
        var delegations: [DomainName: Zone.Delegation]
        var occludedNames: Set<DomainName>
        var glueNames: Set<DomainName>
    }

    /// Identifies one RRset while grouping.
    struct SetKey: Hashable {
        let name: DomainName
        let type: RecordType
    }

    /// An RRset being collected, with the line of each record for messages.
    struct PendingSet {
        let name: DomainName
        let type: RecordType
        let ttl: UInt32
        var records: [ResourceRecord]
        var lines: [RecordPlace]
        var seen: Set<RData>
        var ttlWarned = false
    }

    mutating func error(_ code: ZoneIssue.Code, _ place: RecordPlace?, _ message: String) {
        issues.append(place?.issue(code, zoneFile: file, message) ?? ZoneIssue(code, file: file, line: nil, message))
    }

    mutating func warn(_ code: ZoneIssue.Code, _ place: RecordPlace?, _ message: String) {
        warnings.append(place?.issue(code, zoneFile: file, message) ?? ZoneIssue(code, file: file, line: nil, message))
    }

    mutating func build(_ located: [LocatedRecord]) throws(ZoneError) -> Output {
        // 1. Group into RRsets: drop duplicate RRs, unify TTLs to the first (RFC 2181 §5, §5.2).
        // One hash probe per record: RRsets live in a flat array, found by (owner, type).
        var order: [DomainName] = []
        var setsByName: [DomainName: [Int]] = [:]
        var setIndex: [SetKey: Int] = [:]
        var sets: [PendingSet] = []
        var recordCount = 0
        for lr in located {
            let r = lr.record
            guard r.name.isSubdomain(of: origin) else {
                error(.outOfZone, lr.place, "\(r.name) \(r.type) is out of zone (not at or below \(origin))")
                continue
            }
            guard r.rclass == .in else {
                error(.unsupportedClass, lr.place, "class \(r.rclass) is not supported (only IN) for \(r.name) \(r.type)")
                continue
            }
            guard !r.type.isMetaType, r.type.rawValue != 0 else {
                error(.badType, lr.place, "type \(r.type) cannot appear in zone data")
                continue
            }
            let rdlen = r.rdata.wireLength
            guard rdlen <= Limits.maxRDataLength else {
                error(.rdataTooLong, lr.place,
                      "\(r.name) \(r.type) RDATA of \(rdlen) octets exceeds \(Limits.maxRDataLength) (RFC 1035 §3.2.1 RDLENGTH)")
                continue
            }
            let key = SetKey(name: r.name, type: r.type)
            if let k = setIndex[key] {
                if sets[k].seen.contains(r.rdata) { continue }
                let ttl = sets[k].ttl
                if r.ttl != ttl && !sets[k].ttlWarned {
                    warn(.ttl, lr.place, "TTL \(r.ttl) of \(r.name) \(r.type) differs from the RRset's TTL \(ttl); using \(ttl) (RFC 2181 §5.2)")
                    sets[k].ttlWarned = true
                }
                sets[k].records.append(ResourceRecord(name: sets[k].name, ttl: ttl, rdata: r.rdata))
                sets[k].lines.append(lr.place)
                sets[k].seen.insert(r.rdata)
            } else {
                setIndex[key] = sets.count
                if setsByName[r.name] == nil { order.append(r.name) }
                setsByName[r.name, default: []].append(sets.count)
                sets.append(PendingSet(name: r.name, type: r.type, ttl: r.ttl, records: [r], lines: [lr.place], seen: [r.rdata]))
            }
            recordCount += 1
        }
        // 1b. Every RRset must fit one message on its own (RFC 1035 §4.2.2: 65,535 octets over
        //     TCP): header, the question naming the owner, and each record with its owner
        //     compressed to a pointer. A set that cannot is served by no transport.
        for set in sets {
            let size = 12 + set.name.wire.count + 4
                + set.records.reduce(0) { $0 + 2 + 10 + $1.rdata.wireLength }
            if size > Limits.maxTCPMessage {
                error(.rrsetTooLarge, set.lines[0],
                      "\(set.name) \(set.type) RRset of \(set.records.count) records needs \(size) octets, more than one DNS message holds (\(Limits.maxTCPMessage), RFC 1035 §4.2.2)")
            }
        }
        var pending: [DomainName: [PendingSet]] = [:]
        pending.reserveCapacity(order.count)
        for (name, indices) in setsByName {
            pending[name] = indices.map { sets[$0] }
        }
        sets = []

        // 2. SOA: exactly one, at the apex (RFC 1035 §5.2).
        for name in order where name != origin {
            for set in pending[name] ?? [] where set.type == .soa {
                error(.soaNotAtApex, set.lines[0], "SOA record at \(name) is not at the zone apex \(origin)")
            }
        }
        let apex = pending[origin] ?? []
        var soa: ResourceRecord?
        var soaData: SOAData?
        if let soaSet = apex.first(where: { $0.type == .soa }), case .soa(let data) = soaSet.records[0].rdata {
            soa = soaSet.records[0]
            soaData = data
            if soaSet.records.count > 1 {
                error(.multipleSOA, soaSet.lines[1], "more than one SOA record at \(origin); a zone has exactly one")
            }
        } else {
            error(.missingSOA, nil, "no SOA record at the zone apex \(origin)")
        }

        // 3. NS at the apex (RFC 1034 §4.2.1).
        if !apex.contains(where: { $0.type == .ns }) {
            error(.missingApexNS, nil, "no NS records at the zone apex \(origin)")
        }

        // 4. CNAME excludes other data, and is a singleton (RFC 1034 §3.6.2, RFC 2181 §10.1).
        //    DNSSEC records (RRSIG, NSEC) may sit beside it (RFC 4035 §2.5).
        for name in order {
            let sets = pending[name] ?? []
            guard let cname = sets.first(where: { $0.type == .cname }) else { continue }
            if cname.records.count > 1 {
                error(.cnameConflict, cname.lines[1], "more than one CNAME at \(name) (RFC 2181 §10.1)")
            }
            let others = sets.filter { $0.type != .cname && $0.type != .rrsig && $0.type != .nsec }
            if !others.isEmpty {
                let line = (others.map { $0.lines[0] } + [cname.lines[0]]).max { $0.documentPosition.lexicographicallyPrecedes($1.documentPosition) }
                error(.cnameConflict, line,
                      "CNAME and other data (\(others.map { $0.type.description }.joined(separator: ", "))) at \(name) (RFC 1034 §3.6.2)")
            }
        }

        // 5. Targets of NS, MX and SRV must be host names, not aliases (RFC 1123 §2.1, RFC 2181 §10.3).
        for name in order {
            for set in pending[name] ?? [] {
                for (i, r) in set.records.enumerated() {
                    checkTarget(r, line: set.lines[i], pending: pending)
                }
            }
        }

        // 6. Zone cuts: owners of NS below the apex. A cut below another cut is occluded itself, so
        //    only the highest one on each branch is a delegation.
        let candidates = order.filter { $0 != origin && (pending[$0] ?? []).contains { $0.type == .ns } }
            .sorted { $0.labelCount < $1.labelCount }
        var cuts: Set<DomainName> = []
        for c in candidates where cutAbove(c, cuts: cuts) == nil {
            cuts.insert(c)
        }
        var occluded: Set<DomainName> = []
        for name in order {
            let sets = pending[name] ?? []
            if cuts.contains(name) {
                occluded.insert(name)
                for set in sets where ![.ns, .ds, .a, .aaaa, .rrsig, .nsec].contains(set.type) {
                    warn(.occluded, set.lines[0], "\(name) \(set.type) at the zone cut \(name) is occluded by the delegation and will not be served")
                }
            } else if let cut = cutAbove(name, cuts: cuts) {
                occluded.insert(name)
                for set in sets where set.type != .a && set.type != .aaaa {
                    warn(.occluded, set.lines[0], "\(name) \(set.type) is below the zone cut at \(cut) and will not be served")
                }
            }
        }

        // 7. Delegations with glue; in-zone NS targets need addresses.
        var delegations: [DomainName: Zone.Delegation] = [:]
        var glueNames: Set<DomainName> = []
        let nsOwners = [origin] + cuts.sorted()
        for owner in nsOwners {
            guard let nsSet = (pending[owner] ?? []).first(where: { $0.type == .ns }) else { continue }
            var glue: [ResourceRecord] = []
            var seenTargets: Set<DomainName> = []
            for (i, r) in nsSet.records.enumerated() {
                guard case .ns(let target) = r.rdata, target.isSubdomain(of: origin),
                      seenTargets.insert(target).inserted else { continue }
                let addrs = (pending[target] ?? []).filter { $0.type == .a || $0.type == .aaaa }.flatMap(\.records)
                if addrs.isEmpty {
                    warn(.missingGlue, nsSet.lines[i], "NS target \(target) of \(owner) is inside the zone but has no A or AAAA record")
                }
                glue += addrs
                if occluded.contains(target) { glueNames.insert(target) }
            }
            if owner != origin {
                delegations[owner] = Zone.Delegation(ns: nsSet.records, glue: glue)
            }
        }

        // 8. Existing names: every owner and its ancestors up to the apex (empty non-terminals).
        var existing: Set<DomainName> = []
        for name in order {
            var n = name
            while existing.insert(n).inserted, n != origin, let p = n.parent {
                n = p
            }
        }

        guard issues.isEmpty, let soa, let soaData else {
            throw ZoneError(issues: stableSortedByLine(issues), warnings: stableSortedByLine(warnings))
        }
        var nodes: [DomainName: ZoneNode] = [:]
        nodes.reserveCapacity(order.count)
        for name in order {
            nodes[name] = ZoneNode(rrsets: (pending[name] ?? []).map {
                RRset(name: $0.name, type: $0.type, ttl: $0.ttl, records: $0.records)
            })
        }
        return Output(soa: soa, soaData: soaData, warnings: stableSortedByLine(warnings), recordCount: recordCount,
                      nodes: nodes, existingNames: existing, delegations: delegations, occludedNames: occluded,
                      glueNames: glueNames)
    }

    /// The closest zone cut strictly above `name` (and below the apex), if any.
    func cutAbove(_ name: DomainName, cuts: Set<DomainName>) -> DomainName? {
        guard !cuts.isEmpty else { return nil }
        var n = name.parent
        while let p = n, p != origin, p.isSubdomain(of: origin) {
            if cuts.contains(p) { return p }
            n = p.parent
        }
        return nil
    }

    mutating func checkTarget(_ r: ResourceRecord, line: RecordPlace, pending: [DomainName: [PendingSet]]) {
        let target: DomainName
        let what: String
        switch r.rdata {
        case .ns(let t):
            guard !t.isRoot else {
                error(.badTarget, line, "NS target of \(r.name) cannot be the root name")
                return
            }
            target = t
            what = "NS target"
        case .mx(_, let t):
            if t.isRoot { return } // null MX (RFC 7505)
            target = t
            what = "MX exchange"
        case .srv(_, _, _, let t):
            if t.isRoot { return } // "service decidedly not available" (RFC 2782)
            target = t
            what = "SRV target"
        default:
            return
        }
        guard isHostname(target) else {
            error(.badTarget, line, "\(what) \(target) of \(r.name) is not a valid host name (letters, digits, hyphens; RFC 1123 §2.1)")
            return
        }
        if target.isSubdomain(of: origin), (pending[target] ?? []).contains(where: { $0.type == .cname }) {
            warn(.badTarget, line, "\(what) \(target) of \(r.name) is an alias (CNAME); it must name the host itself (RFC 2181 §10.3)")
        }
    }
}

/// A host name per RFC 952 / RFC 1123 §2.1: labels of letters, digits and hyphens, not starting or
/// ending with a hyphen.
func isHostname(_ name: DomainName) -> Bool {
    guard !name.isRoot else { return false }
    for label in name.labels {
        guard let first = label.first, let last = label.last,
              first != UInt8(ascii: "-"), last != UInt8(ascii: "-") else { return false }
        for c in label {
            let l = asciiLowerByte(c)
            guard isDigit(c) || (l >= 0x61 && l <= 0x7a) || c == UInt8(ascii: "-") else { return false }
        }
    }
    return true
}
