import DNSWire

/// What the zone says about one (QNAME, QTYPE), per RFC 1034 §4.3.2 with RFC 4592 wildcards.
///
/// The query engine turns this into a response: it follows `.alias` chains (bounded by
/// `Limits.maxCNAMEChain`, detecting loops, and re-selecting the zone when the target leaves
/// this one), adds `Zone.negativeSOA` to `.noData`/`.nameError`, and sends `.delegation` as a
/// referral with AA=0.
public enum ZoneLookup: Hashable, Sendable {
    /// The RRset(s) at QNAME for QTYPE (for ANY: every RRset at the name). When `fromWildcard`,
    /// the records were synthesized from a wildcard with their owner set to QNAME (RFC 4592 §3.3.1).
    case answer([ResourceRecord], fromWildcard: Bool)
    /// QNAME owns a CNAME and QTYPE is neither CNAME nor ANY (RFC 1034 §3.6.2); from a wildcard,
    /// its owner is QNAME. The engine restarts the lookup at the target.
    case alias(ResourceRecord)
    /// QNAME is at or below a zone cut: the cut's NS RRset and the A/AAAA glue for its in-zone
    /// targets (RFC 1034 §4.3.2 step 3b). DS at the cut itself is answered by us instead
    /// (RFC 4035 §3.1.4.1).
    case delegation(ns: [ResourceRecord], glue: [ResourceRecord])
    /// QNAME exists (possibly as an empty non-terminal, RFC 8020) but has no data of QTYPE.
    case noData
    /// QNAME does not exist and no wildcard covers it (NXDOMAIN). Also returned for a QNAME outside
    /// the zone; pick the zone with `ZoneSet.zone(for:)` first.
    case nameError
}

extension Zone {
    /// Looks up `qname`/`qtype` (RFC 1034 §4.3.2 steps 3a-3c, RFC 4592 §3.3). Cost: one hash
    /// probe per label between the apex and QNAME, plus one for the wildcard.
    ///
    /// Walking down from the apex: the first zone cut met is a delegation (except for DS at the
    /// cut itself); the first missing name makes its parent the closest encloser, and only then
    /// may `*.<closest encloser>` answer. Wildcards therefore never apply below existing names
    /// (empty non-terminals included) nor at or below a delegation.
    public func lookup(_ qname: DomainName, _ qtype: RecordType) -> ZoneLookup {
        guard qname.isSubdomain(of: origin) else { return .nameError }
        var closestEncloser = origin
        var below = qname.labelCount - originLabelCount // labels of QNAME below the apex
        while below > 0 {
            let name = below == 1 ? qname : qname.droppingLabels(below - 1)
            guard existingNames.contains(name) else { break }
            if let cut = delegations[name], !(below == 1 && qtype == .ds) {
                return .delegation(ns: cut.ns, glue: cut.glue)
            }
            closestEncloser = name
            below -= 1
        }
        if below == 0 {
            return answer(from: nodes[qname], qtype: qtype, synthesizedOwner: nil)
        }
        // QNAME does not exist: the source of synthesis is *.<closest encloser> (RFC 4592 §3.3.1).
        guard let source = closestEncloser.wildcardChild, existingNames.contains(source) else {
            return .nameError
        }
        if let cut = delegations[source] {
            // A wildcard owning NS behaves as a delegation, not as data (RFC 4592 §4.2).
            return .delegation(ns: cut.ns, glue: cut.glue)
        }
        return answer(from: nodes[source], qtype: qtype, synthesizedOwner: qname)
    }

    /// Answers from one node; an empty non-terminal (nil node) has no data of any type.
    func answer(from node: ZoneNode?, qtype: RecordType, synthesizedOwner: DomainName?) -> ZoneLookup {
        guard let node, !node.rrsets.isEmpty else { return .noData }
        let wildcard = synthesizedOwner != nil
        func records(_ set: RRset) -> [ResourceRecord] {
            if let owner = synthesizedOwner { return set.records(owner: owner) }
            return set.records
        }
        if qtype == .any {
            return .answer(node.rrsets.flatMap(records), fromWildcard: wildcard)
        }
        if let set = node.rrset(qtype) {
            return .answer(records(set), fromWildcard: wildcard)
        }
        if qtype != .cname, let cname = node.rrset(.cname), let first = records(cname).first {
            return .alias(first)
        }
        return .noData
    }
}
