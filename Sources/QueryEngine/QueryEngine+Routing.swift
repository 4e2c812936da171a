import DNSWire
import DNSZone
import GeoRouting

/// How a routed name was answered and why: what `proxima route` prints and the admin API returns.
/// Produced by the same function the server runs, so it cannot disagree with `dig`.
public struct RouteReport: Sendable {
    /// How the routed lookup ended.
    public enum Outcome: Sendable, Hashable {
        /// Answered from the pool.
        case pool
        /// Answered from the zone file's own records at the name (location unknown, or the pool
        /// has no member of the family).
        case zoneFallback(reason: String)
        /// Every member down and the route says SERVFAIL.
        case servfail
    }

    public var name: DomainName
    public var type: RecordType
    /// The address that was located: the ECS address when one with source prefix > 0 was sent,
    /// else the packet's source.
    public var clientAddress: IPAddress
    /// The Client Subnet option the query carried, if any.
    public var clientSubnet: ClientSubnet?
    public var location: Placement
    public var route: RouteSpec
    public var decision: RouteDecision
    public var outcome: Outcome
    /// The addresses answered (empty for zone fallback and SERVFAIL).
    public var answers: [IPAddress]
    public var ttl: UInt32
    /// The SCOPE PREFIX-LENGTH echoed (nil when the query had no ECS).
    public var ecsScope: UInt8?
    /// The zone file's own addresses of the asked type at the name: the answer when the outcome is
    /// `.zoneFallback`.
    public var zoneAnswers: [IPAddress] = []
}

enum RoutedAnswer {
    case records([ResourceRecord], RouteReport)
    case useZone(RouteReport)
    case servfail(RouteReport)
    case needsRemote(IPAddress)
}

extension QueryEngine {
    /// Answers A/AAAA for a routed name from its pool (DESIGN §2 step 5).
    static func routedAnswer(owner: DomainName, route: RouteSpec, type: RecordType, ecs: ClientSubnet?,
                             context: QueryContext, snapshot: EngineSnapshot, states: BackendStates, zone: Zone,
                             explain: Bool = false) -> RoutedAnswer {
        // RFC 7871 §7.1.2: SOURCE PREFIX-LENGTH 0 means "do not use my address": use the source.
        let usedECS = (ecs?.sourcePrefixLength ?? 0) > 0 ? ecs : nil
        let clientAddress = usedECS?.address ?? context.source
        let location: Placement
        if let remote = context.remoteLocation {
            location = remote.map { .located($0) } ?? .unknown(network: nil)
        } else {
            location = snapshot.locator.locate(clientAddress)
            if case .needsRemote = location { return .needsRemote(clientAddress) }
        }
        var coordinate: Coordinate?
        if case .located(let l) = location { coordinate = l.coordinate }
        let family: AddressFamily = type == .aaaa ? .v6 : .v4
        let decision: RouteDecision
        if let geo = snapshot.geoData {
            decision = Router.decide(route: route, pools: geo, client: coordinate, family: family, states: states,
                                     now: context.now, loadMaxAge: snapshot.settings.loadMaxAge,
                                     entropy: context.entropy, explain: explain)
        } else {
            decision = RouteDecision(outcome: .unknownPool, answeringPool: nil, usedFallback: false, failedOpen: false,
                                     client: coordinate, explanation: nil)
        }
        var scope = ecs.map { ecsScope(for: $0, used: usedECS != nil, location: location, policy: route.policy) }
        if usedECS != nil, let mapped = mapScope(route: route, family: family, client: clientAddress, location: location,
                                                 context: context, snapshot: snapshot) {
            scope = mapped
        }
        var report = RouteReport(name: owner, type: type, clientAddress: clientAddress, clientSubnet: ecs,
                                 location: location, route: route, decision: decision, outcome: .pool,
                                 answers: [], ttl: route.ttl, ecsScope: scope)
        let zoneHasOwn = zone.addresses(of: owner).contains { $0.type == type }
        if explain {
            report.zoneAnswers = zone.addresses(of: owner).compactMap { rr -> IPAddress? in
                switch rr.rdata {
                case .a(let a) where type == .a: return a
                case .aaaa(let a) where type == .aaaa: return a
                default: return nil
                }
            }
        }
        if coordinate == nil && zoneHasOwn && route.policy == .nearest {
            report.outcome = .zoneFallback(reason: "client location unknown")
            return .useZone(report)
        }
        switch decision.outcome {
        case .answer(let addrs):
            report.answers = addrs
            let rrs = addrs.map { a -> ResourceRecord in
                ResourceRecord(name: owner, ttl: route.ttl, rdata: type == .aaaa ? .aaaa(a) : .a(a))
            }
            return .records(rrs, report)
        case .servfail:
            report.outcome = .servfail
            return .servfail(report)
        case .noMembers:
            report.outcome = .zoneFallback(reason: "pool has no \(family == .v6 ? "IPv6" : "IPv4") member")
            return .useZone(report)
        case .unknownPool:
            report.outcome = .zoneFallback(reason: "pool \"\(route.pool)\" not in geo data")
            return .useZone(report)
        }
    }

    /// SCOPE PREFIX-LENGTH for a routed answer (RFC 7871 §7.2.1): no longer than the network the
    /// location holds for, so resolvers cache per region, not per client; 0 when the answer does not
    /// depend on the client (policies that ignore location, or ECS not used).
    static func ecsScope(for ecs: ClientSubnet, used: Bool, location: Placement, policy: RoutePolicy) -> UInt8 {
        guard used, policy.isLocationDependent else { return 0 }
        let source = Int(ecs.sourcePrefixLength)
        var network: IPNetwork?
        switch location {
        case .located(let l): network = l.network
        case .unknown(let n): network = n
        case .needsRemote: network = nil
        }
        guard let network, network.address.family == ecs.address.family else { return UInt8(clamping: source) }
        return UInt8(clamping: min(source, network.prefixLength))
    }

    /// The ECS scope from the answer map for a client the database or an override placed: the
    /// prefix of the widest block around the client whose every address gets the same answer
    /// (RFC 7871 §7.2.1; longer than the source prefix when the answer changes inside it). Nil when
    /// no current map covers the client (ipstack, unplaced, maps stale or for other data).
    static func mapScope(route: RouteSpec, family: AddressFamily, client: IPAddress, location: Placement,
                         context: QueryContext, snapshot: EngineSnapshot) -> UInt8? {
        guard let maps = context.answerMaps, maps.snapshotGeneration == snapshot.generation,
              context.now <= maps.validUntil, client.mappedIPv4 == nil,
              case .located(let l) = location, l.source != .ipstack,
              let map = maps.map(slot: snapshot.answerMapSlot(for: route), answer: family,
                                 client: AddressFamily(of: client)) else { return nil }
        let (cls, prefix) = map.lookup(client)
        guard map.isPlaced(cls) else { return nil }
        return UInt8(clamping: prefix)
    }

    /// Explains how `name` would be answered for a client: the same routing code the server runs.
    /// Returns nil when `name` is not a routed name in this snapshot. `.needsRemote` is reported as
    /// the location when a remote lookup would be needed and `remoteLocation` was not supplied.
    public static func explainRoute(name: DomainName, type: RecordType = .a, source: IPAddress,
                                    ecs: ClientSubnet?, now: Double, entropy: UInt64 = 0,
                                    remoteLocation: Location?? = nil, snapshot: EngineSnapshot,
                                    states: BackendStates, answerMaps: AnswerMapSet? = nil) -> RouteReport? {
        guard let route = snapshot.routes[name.lowercased()], let zone = snapshot.zones.zone(for: name) else { return nil }
        let ctx = QueryContext(source: source, transport: .udp, now: now, entropy: entropy, remoteLocation: remoteLocation,
                               answerMaps: answerMaps)
        switch routedAnswer(owner: name, route: route, type: type, ecs: ecs, context: ctx, snapshot: snapshot,
                            states: states, zone: zone, explain: true) {
        case .records(_, let r), .useZone(let r), .servfail(let r): return r
        case .needsRemote:
            let ctx2 = QueryContext(source: source, transport: .udp, now: now, entropy: entropy, remoteLocation: .some(nil),
                                    answerMaps: answerMaps)
            switch routedAnswer(owner: name, route: route, type: type, ecs: ecs, context: ctx2, snapshot: snapshot,
                                states: states, zone: zone, explain: true) {
            case .records(_, var r), .useZone(var r), .servfail(var r):
                r.location = .needsRemote
                return r
            case .needsRemote: return nil
            }
        }
    }
}
