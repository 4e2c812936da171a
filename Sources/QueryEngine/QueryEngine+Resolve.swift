import DNSWire
import DNSZone
import GeoRouting

/// The sections being built for one response.
struct Resolution {
    var question: Question
    var transport: QueryTransport = .tcp
    var rcode: ResponseCode = .noError
    var authoritative = true
    var answers: [ResourceRecord] = []
    var authority: [ResourceRecord] = []
    var additional: [ResourceRecord] = []
    /// ECS scope prefix when a routed answer depended on the client's network.
    var ecsScope: UInt8?
    /// The routing report of the (last) routed name answered, for `explain`.
    var routeReport: RouteReport?
    /// The additional section holds in-domain glue of a referral: if it does not fit, the
    /// response must say TC rather than drop it silently (RFC 9471 §3).
    var requiredGlue = false
    /// The zone whose wildcard synthesized the answer (RFC 4592), for the rate limiter's class.
    var wildcardZone: DomainName?
    /// The `synthesize:` rule that decided the (last) name, for `explain`.
    var synthesisRule: Int?
    /// How each name of the answer was decided; nil unless explaining (no cost on the query path).
    var steps: [ExplainStep]?
    /// How the answer depends on the DDNS table (the fast path stamps cached answers with it).
    var ddnsDependency: DDNSDependency = .none

    mutating func note(_ name: DomainName, _ source: AnswerSource) {
        if steps != nil { steps!.append(ExplainStep(name: name, source: source)) }
    }
}

enum ResolveStep {
    case done
    case needsRemote(IPAddress)
}

extension QueryEngine {
    /// RFC 1034 §4.3.2 steps 3-6 over our zones, following in-zone CNAMEs (bounded by
    /// `Limits.maxCNAMEChain`, loops detected), answering routed names from their pools.
    static func resolve(question: Question, ecs: ClientSubnet?, context: QueryContext, snapshot: EngineSnapshot,
                        states: BackendStates, ddns: DDNSTable? = nil, into res: inout Resolution) -> ResolveStep {
        let step = resolveInZones(question: question, ecs: ecs, context: context, snapshot: snapshot, states: states,
                                  ddns: ddns, into: &res)
        if let ddns, res.ddnsDependency == .zone { patchSerials(&res, ddns: ddns) }
        return step
    }

    static func resolveInZones(question: Question, ecs: ClientSubnet?, context: QueryContext, snapshot: EngineSnapshot,
                               states: BackendStates, ddns: DDNSTable?, into res: inout Resolution) -> ResolveStep {
        guard let zone = snapshot.zones.zone(for: question.name) else {
            // Not authoritative for this name: we are not a resolver (DESIGN §2 step 3).
            res.rcode = .refused
            res.authoritative = false
            res.note(question.name, .notOurs)
            return .done
        }
        var name = question.name
        var seen: Set<DomainName> = []
        var additionalNames: [DomainName] = []
        // Dynamic DNS records (issue #9) live only in the DDNS zone and the `allow_names_in` zones.
        let dynamic = ddns.flatMap { $0.governs(zone: zone.origin) ? $0 : nil }
        if let dynamic {
            res.ddnsDependency = zone.origin == dynamic.settings.zone ? .zone : .absolute
        }
        for _ in 0...Limits.maxCNAMEChain {
            seen.insert(name)
            // Routed names answer A/AAAA from their pool.
            if question.type == .a || question.type == .aaaa, let route = snapshot.routes[name.lowercased()] {
                switch routedAnswer(owner: name, route: route, type: question.type, ecs: ecs, context: context,
                                    snapshot: snapshot, states: states, zone: zone) {
                case .needsRemote(let a):
                    res.note(name, .routed(pool: route.pool, answer: "needs a remote (ipstack) location"))
                    return .needsRemote(a)
                case .servfail(let report):
                    res.note(name, .routed(pool: route.pool, answer: "SERVFAIL (all_down: servfail)"))
                    res.routeReport = report
                    res.rcode = .servFail
                    res.answers = []
                    res.authoritative = false
                    return .done
                case .records(let rrs, let report):
                    res.note(name, .routed(pool: route.pool, answer: "\(rrs.count) record(s) from the pool"))
                    res.routeReport = report
                    res.ecsScope = report.ecsScope
                    res.answers += rrs
                    return .done
                case .useZone(let report):
                    res.note(name, .routed(pool: route.pool, answer: "the zone's own records (routing could not decide)"))
                    res.routeReport = report
                    res.ecsScope = report.ecsScope
                    // Fall through to the zone's own data for this name.
                }
            }
            var entNoData = false
            if let dynamic {
                switch dynamicAnswer(name: name, type: question.type, table: dynamic, zone: zone, into: &res) {
                case .done: return .done
                case .zone: break
                case .zoneOrNoData: entNoData = true
                }
            }
            switch zone.lookup(name, question.type) {
            case .answer(_, true) where entNoData, .nameError where entNoData:
                // The name exists through DDNS records at or below it: not a name error, and a
                // wildcard does not apply to an existing name (RFC 4592 §2.2.1).
                res.note(name, .noData(zone: zone.origin))
                res.authority = [negativeSOA(zone)]
                return .done
            case .answer(var rrs, let fromWildcard):
                if fromWildcard { res.wildcardZone = zone.origin }
                res.note(name, .zoneAnswer(zone: zone.origin, wildcard: fromWildcard))
                if question.type == .any && res.transport == .udp { rrs = minimalANY(rrs) }
                res.answers += rrs
                for rr in rrs { if let n = rr.rdata.additionalSectionName { additionalNames.append(n) } }
                addAdditional(additionalNames, zone: zone, into: &res)
                return .done
            case .alias(let cname):
                res.answers.append(cname)
                res.note(name, .alias(zone: zone.origin))
                guard case .cname(let target) = cname.rdata else { return .done }
                // Follow only inside this zone (as Knot does); out-of-zone targets are returned as is.
                guard target.isSubdomain(of: zone.origin), !seen.contains(target) else { return .done }
                name = target
            case .delegation(let ns, let glue):
                res.note(name, .delegation(zone: zone.origin, cut: ns.first?.name ?? zone.origin))
                // Referral (RFC 1034 §4.3.2 step 3b): not authoritative unless we already answered part.
                res.authoritative = !res.answers.isEmpty
                res.authority = ns
                res.additional = glue
                // In-domain glue: addresses of name servers at or below the cut (RFC 9471 §2).
                if let cut = ns.first?.name {
                    res.requiredGlue = glue.contains { $0.name.isSubdomain(of: cut) }
                }
                return .done
            case .noData:
                res.note(name, .noData(zone: zone.origin))
                res.authority = [negativeSOA(zone)]
                return .done
            case .nameError:
                // Synthesized names live only where the zone has nothing (zone data always wins).
                if let found = snapshot.synthesis.lookup(name, question.type, zone: zone) {
                    let (outcome, rule) = found
                    res.synthesisRule = rule
                    res.note(name, .synthesized(zone: zone.origin, rule: snapshot.synthesis.rules[rule], outcome: outcome))
                    switch outcome {
                    case .answer(let rrs):
                        // Rate-limited per zone like wildcard answers: random synthesized names
                        // must not each get their own bucket.
                        res.wildcardZone = zone.origin
                        res.answers += rrs
                        return .done
                    case .noData, .emptyNonTerminal:
                        res.authority = [negativeSOA(zone)]
                        return .done
                    case .nameError:
                        break
                    }
                } else {
                    res.note(name, .nameError(zone: zone.origin))
                }
                res.rcode = .nxDomain
                res.authority = [negativeSOA(zone)]
                return .done
            }
        }
        // Chain longer than the limit: answer what we have (resolvers continue from the last CNAME).
        return .done
    }

    /// RFC 8482 §4.1: over UDP, ANY is answered with one RRset instead of all of them, so the
    /// question cannot be used to amplify traffic towards a spoofed source. Like Knot 3.2 (checked
    /// with kdig), the RRset of the lowest type number at the name; TCP still gets everything.
    static func minimalANY(_ rrs: [ResourceRecord]) -> [ResourceRecord] {
        guard let first = rrs.min(by: { $0.type.rawValue < $1.type.rawValue })?.type else { return rrs }
        return rrs.filter { $0.type == first }
    }

    /// SOA for the authority section of negative answers: TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
    static func negativeSOA(_ zone: Zone) -> ResourceRecord {
        var soa = zone.soa
        if case .soa(let d) = soa.rdata { soa.ttl = min(soa.ttl, d.minimum) }
        return soa
    }

    /// A/AAAA of NS/MX/SRV targets inside the zone (RFC 1034 §4.3.2 step 6).
    static func addAdditional(_ names: [DomainName], zone: Zone, into res: inout Resolution) {
        var added: Set<DomainName> = []
        for n in names where n.isSubdomain(of: zone.origin) && !added.contains(n) {
            added.insert(n)
            res.additional += zone.addresses(of: n)
        }
    }
}
