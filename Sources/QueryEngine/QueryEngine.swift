import DNSWire
import DNSZone
import GeoRouting

/// How the query arrived; decides the response size limit (RFC 1035 §4.2.1, RFC 6891 §6.2.5).
public enum QueryTransport: Sendable, Hashable {
    case udp
    case tcp
}

/// Everything about one query that is not in its bytes. Values only: the shell reads the clock and
/// draws entropy, the engine stays pure.
public struct QueryContext: Sendable {
    /// Source address of the packet.
    public var source: IPAddress
    public var transport: QueryTransport
    /// Monotonic seconds, compared with load-report receipt times.
    public var now: Double
    /// Per-query entropy for round-robin/random/weighted policies.
    public var entropy: UInt64
    /// Set when the shell already waited for a remote (ipstack) lookup for this query: the located
    /// result, or nil when the budget ran out. The engine will not ask for a remote lookup again.
    public var remoteLocation: Location??
    /// The answer maps built for the snapshot and states of this query, if any: located clients
    /// get the ECS scope of their block (issue #12.1).
    public var answerMaps: AnswerMapSet?

    public init(source: IPAddress, transport: QueryTransport, now: Double = 0, entropy: UInt64 = 0,
                remoteLocation: Location?? = nil, answerMaps: AnswerMapSet? = nil) {
        self.source = source
        self.transport = transport
        self.now = now
        self.entropy = entropy
        self.remoteLocation = remoteLocation
        self.answerMaps = answerMaps
    }
}

/// What to do with a query.
public enum EngineResult: Sendable, Equatable {
    /// Send these bytes.
    case response([UInt8])
    /// Send nothing (RFC 1035: responses and packets whose header cannot be trusted).
    case drop
    /// The client needs a remote lookup before routing can decide; the shell waits for it (bounded)
    /// and calls `respond` again with `QueryContext.remoteLocation` set.
    case needsRemoteLocation(IPAddress)
}

/// Query in, response out: RFC 1034 §4.3.2 resolution against the snapshot's zones, with routed
/// names answered from their pools. Pure: no IO, no clock, no logging.
public enum QueryEngine {
    /// Answers one query.
    /// `ddns`: the dynamic DNS records (`ddns:`), published apart from the snapshot.
    public static func respond(to bytes: [UInt8], context: QueryContext, snapshot: EngineSnapshot,
                               states: BackendStates, ddns: DDNSTable? = nil) -> EngineResult {
        respondDetailed(to: bytes, context: context, snapshot: snapshot, states: states, ddns: ddns).result
    }

    /// Answers one query and says whether the answer depended on anything but the query bytes
    /// (client address, ECS, health, load, entropy). Answers that did not may be cached by the
    /// shell's fast path and replayed with only the ID, RD/CD flags and question case patched.
    public static func respondDetailed(to bytes: [UInt8], context: QueryContext, snapshot: EngineSnapshot,
                                       states: BackendStates, ddns: DDNSTable? = nil)
        -> (result: EngineResult, clientDependent: Bool) {
        var routed = false
        var wildcardZone: DomainName?
        var dependency = DDNSDependency.none
        var report: RouteReport?
        let r = respond(to: bytes, context: context, snapshot: snapshot, states: states, ddns: ddns, routed: &routed,
                        wildcardZone: &wildcardZone, ddnsDependency: &dependency, report: &report)
        return (r, routed)
    }

    /// `wildcardZone` is set to the zone's origin when the answer was synthesized from a wildcard
    /// (RFC 4592): the rate limiter counts such answers per zone, not per (random) QNAME.
    /// Without DDNS records.
    static func respond(to bytes: [UInt8], context: QueryContext, snapshot: EngineSnapshot,
                        states: BackendStates, routed: inout Bool, wildcardZone: inout DomainName?) -> EngineResult {
        var dependency = DDNSDependency.none
        var report: RouteReport?
        return respond(to: bytes, context: context, snapshot: snapshot, states: states, ddns: nil, routed: &routed,
                       wildcardZone: &wildcardZone, ddnsDependency: &dependency, report: &report)
    }

    /// `ddnsDependency` says how the answer depends on `ddns` (how long the fast path may cache it);
    /// `report` is set to the routing report of the (last) routed name answered.
    static func respond(to bytes: [UInt8], context: QueryContext, snapshot: EngineSnapshot,
                        states: BackendStates, ddns: DDNSTable?, routed: inout Bool, wildcardZone: inout DomainName?,
                        ddnsDependency: inout DDNSDependency, report: inout RouteReport?) -> EngineResult {
        // RFC 1035 §4.1.1: fewer than 12 bytes or QR=1 cannot be a query we answer: drop.
        guard bytes.count >= 12 else { return .drop }
        guard let header = bytes.withUnsafeBytes({ Header(bytes: $0) }), !header.isResponse else { return .drop }

        let message: Message
        do {
            message = try Message(parsing: bytes)
        } catch {
            return .response(errorResponse(header: header, question: salvageQuestion(bytes, header),
                                           rcode: .formErr, edns: nil, settings: snapshot.settings))
        }
        let question = message.questions.count == 1 ? message.questions[0] : nil
        let respEDNS = message.edns.map { responseEDNS(for: $0, settings: snapshot.settings) }

        // RFC 1035 §4.1.1 / RFC 3425: only QUERY is implemented.
        guard header.opcode == .query else {
            return .response(errorResponse(header: header, question: question, rcode: .notImp, edns: respEDNS,
                                           settings: snapshot.settings))
        }
        // RFC 6891 §6.1.3: unsupported EDNS version → BADVERS, answered with version 0.
        if let e = message.edns, e.version > 0 {
            return .response(errorResponse(header: header, question: question, rcode: .badVers, edns: respEDNS,
                                           settings: snapshot.settings))
        }
        // A query carries no answer or authority records, except IXFR, whose authority section
        // holds the client's SOA (RFC 1995 §3).
        guard let question, header.answerCount == 0,
              header.authorityCount == 0 || question.type == .ixfr else {
            return .response(errorResponse(header: header, question: question, rcode: .formErr, edns: respEDNS,
                                           settings: snapshot.settings))
        }
        // RFC 7871 §6: SCOPE PREFIX-LENGTH "MUST be set to 0" in queries; anything else is FORMERR.
        if let ecs = message.edns?.clientSubnet, ecs.scopePrefixLength != 0 {
            return .response(errorResponse(header: header, question: question, rcode: .formErr, edns: respEDNS,
                                           settings: snapshot.settings))
        }
        // CHAOS: the server's identity (RFC 4892), answered as Knot DNS answers it; never the
        // fast path's concern (these are rare and the cache replays them like any answer).
        if question.qclass == .ch {
            let limit = sizeLimit(query: message.edns, transport: context.transport, settings: snapshot.settings)
            return .response(chaosResponse(header: header, question: question, edns: respEDNS, limit: limit,
                                           settings: snapshot.settings))
        }
        guard question.qclass == .in || question.qclass == .any else {
            return .response(errorResponse(header: header, question: question, rcode: .refused, edns: respEDNS,
                                           settings: snapshot.settings))
        }
        let qtype = question.type
        if qtype == .axfr || qtype == .ixfr {
            // We serve no transfers. Answered as Knot 3.2 answers without a transfer ACL (checked
            // with kdig, see KnotReferenceTests): AXFR over UDP is NOTIMP (RFC 5936 §4.2: AXFR is
            // TCP only), AXFR over TCP and IXFR over either transport are NOTAUTH (RFC 8945 §5.2:
            // not authorized to transfer).
            let rc: ResponseCode = qtype == .axfr && context.transport == .udp ? .notImp : .notAuth
            return .response(errorResponse(header: header, question: question, rcode: rc, edns: respEDNS,
                                           settings: snapshot.settings))
        }
        if qtype == .opt || (qtype.isMetaType && qtype != .any) {
            return .response(errorResponse(header: header, question: question, rcode: .notImp, edns: respEDNS,
                                           settings: snapshot.settings))
        }

        var resolution = Resolution(question: question, transport: context.transport)
        // ECS from a source outside `ecs.trusted_resolvers` is ignored: answered by the packet's
        // source address, and not echoed (RFC 7871 §7.1.1: a server that does not use the option
        // answers as if it were absent; §11.1 for why a server may trust only known resolvers).
        let ecs = snapshot.settings.trustsClientSubnet(from: context.source) ? message.edns?.clientSubnet : nil
        switch resolve(question: question, ecs: ecs, context: context, snapshot: snapshot, states: states, ddns: ddns,
                       into: &resolution) {
        case .needsRemote(let a): return .needsRemoteLocation(a)
        case .done: break
        }
        routed = resolution.routeReport != nil
        ddnsDependency = resolution.ddnsDependency
        report = resolution.routeReport
        wildcardZone = resolution.wildcardZone

        var h = Header(id: header.id, isResponse: true, opcode: .query, authoritative: resolution.authoritative,
                       recursionDesired: header.recursionDesired, checkingDisabled: header.checkingDisabled)
        h.rcodeLow = UInt8(truncatingIfNeeded: resolution.rcode.rawValue & 0x0f)
        var edns = respEDNS
        if let ecs, edns != nil {
            // RFC 7871 §7.2.1: echo FAMILY, SOURCE PREFIX-LENGTH and ADDRESS; SCOPE says how widely
            // the answer may be cached (0 when it does not depend on the client).
            let scope = resolution.ecsScope ?? 0
            edns!.options.append(.clientSubnet(ClientSubnet(address: ecs.address, sourcePrefixLength: ecs.sourcePrefixLength,
                                                        scopePrefixLength: scope)))
        }
        let response = Message(header: h, questions: [question], answerSection: resolution.answers,
                               authoritySection: resolution.authority, additionalSection: resolution.additional,
                               edns: edns)
        let limit = sizeLimit(query: message.edns, transport: context.transport, settings: snapshot.settings)
        do {
            return .response(try response.encoded(maxSize: limit, additionalRequired: resolution.requiredGlue))
        } catch {
            // Data too big for the wire (the zone loader refuses it; this is the last line):
            // SERVFAIL, never a trap (issue #8, "query of death").
            return .response(errorResponse(header: header, question: question, rcode: .servFail, edns: respEDNS,
                                           settings: snapshot.settings))
        }
    }

    /// The response size limit: 512 without EDNS, else the requestor's payload clamped to
    /// 512...our maximum (RFC 6891 §6.2.5); 65535 over TCP.
    public static func sizeLimit(query edns: EDNS?, transport: QueryTransport, settings: EngineSettings) -> Int {
        if transport == .tcp { return Limits.maxTCPMessage }
        guard let edns else { return Limits.minUDPPayload }
        return max(Limits.minUDPPayload, min(Int(edns.udpPayloadSize), settings.maxUDPPayload))
    }

    /// Our OPT for a query's: our payload size, the DO bit echoed, and the NSID when configured
    /// and asked for with an empty option (RFC 5001 §2.1; in every response, errors included).
    static func responseEDNS(for query: EDNS, settings: EngineSettings) -> EDNS {
        var options: [EDNSOption] = []
        if let identity = settings.identity, !query.options.isEmpty, ServerIdentity.requestsNSID(query) {
            options.append(.unknown(code: ServerIdentity.nsidOptionCode, data: identity.id))
        }
        return EDNS(udpPayloadSize: UInt16(clamping: settings.maxUDPPayload), version: 0, dnssecOK: query.dnssecOK,
                    options: options)
    }

    /// The answer to a CHAOS-class question: the identity's TXT (TTL 0, not authoritative, as
    /// Knot answers), else REFUSED (other names and types, a hidden version, no `identity`).
    static func chaosResponse(header: Header, question: Question, edns: EDNS?, limit: Int,
                              settings: EngineSettings) -> [UInt8] {
        guard let text = settings.identity?.chaosText(question) else {
            return errorResponse(header: header, question: question, rcode: .refused, edns: edns, settings: settings)
        }
        let h = Header(id: header.id, isResponse: true, opcode: .query, recursionDesired: header.recursionDesired,
                       checkingDisabled: header.checkingDisabled)
        let answer = ResourceRecord(name: question.name, rclass: .ch, ttl: 0, rdata: .txt([text]))
        let m = Message(header: h, questions: [question], answerSection: [answer], edns: edns)
        return m.serialized(maxSize: limit)
    }

    /// Best-effort question from a message that failed to parse as a whole, so FORMERR can echo it.
    static func salvageQuestion(_ bytes: [UInt8], _ header: Header) -> Question? {
        guard header.questionCount == 1 else { return nil }
        var r = WireReader(bytes: bytes, offset: 12)
        return try? r.question()
    }

    static func errorResponse(header: Header, question: Question?, rcode: ResponseCode, edns: EDNS?,
                              settings: EngineSettings) -> [UInt8] {
        var h = Header(id: header.id, isResponse: true, opcode: header.opcode,
                       recursionDesired: header.recursionDesired, checkingDisabled: header.checkingDisabled)
        h.rcodeLow = UInt8(truncatingIfNeeded: rcode.rawValue & 0x0f)
        var e = edns
        if rcode.rawValue > 0x0f {
            if e == nil { e = EDNS(udpPayloadSize: UInt16(clamping: settings.maxUDPPayload)) }
            e!.extendedRCode = UInt8(truncatingIfNeeded: rcode.rawValue >> 4)
        }
        let m = Message(header: h, questions: question.map { [$0] } ?? [], edns: e)
        return m.serialized(maxSize: Limits.minUDPPayload)
    }
}
