import DNSWire
import DNSZone
import Foundation
import GeoRouting

/// What decided the answer for one name of a response (the query name, then each CNAME target).
public enum AnswerSource: Sendable, Hashable {
    /// No served zone holds the name: REFUSED (we are not a resolver).
    case notOurs
    /// The zone's own records (from a wildcard when `wildcard`, RFC 4592).
    case zoneAnswer(zone: DomainName, wildcard: Bool)
    /// A CNAME in the zone; the answer continues at its target (RFC 1034 §3.6.2).
    case alias(zone: DomainName)
    /// The name is at or below a zone cut: a referral (RFC 1034 §4.3.2 step 3b).
    case delegation(zone: DomainName, cut: DomainName)
    /// The name exists in the zone without data of the type (RFC 2308 §2.2).
    case noData(zone: DomainName)
    /// The name does not exist and no rule synthesizes it (RFC 2308 §2.1).
    case nameError(zone: DomainName)
    /// A `synthesize:` rule decided it.
    case synthesized(zone: DomainName, rule: SynthesisRule, outcome: SynthesisOutcome)
    /// A routed name (`routing.names`) asked for A/AAAA: answered from its pool.
    case routed(pool: String, answer: String)
    /// A dynamic DNS record (`ddns:`): `hostname` as the silo wrote it, `records` answered.
    case ddns(zone: DomainName, silo: String, hostname: String, records: Int)
}

/// One name of the answer and what decided it.
public struct ExplainStep: Sendable, Hashable {
    /// The name (as asked, or a CNAME target).
    public var name: DomainName
    /// What decided its answer.
    public var source: AnswerSource
}

/// `proxima explain`: how the engine answers one question, with the response it builds.
public struct NameExplanation: Sendable {
    /// The question.
    public var name: DomainName
    public var type: RecordType
    /// Each name of the answer (the question, then CNAME targets) with what decided it.
    public var steps: [ExplainStep]
    /// The response the server sends for this question (sections as `dig` shows them).
    public var rcode: ResponseCode
    public var authoritative: Bool
    public var answers: [ResourceRecord]
    public var authority: [ResourceRecord]
    public var additional: [ResourceRecord]
    /// Remarks for the reader (e.g. that DDNS records live in the store, which an offline explain
    /// does not read).
    public var notes: [String] = []
}

extension QueryEngine {
    /// Explains how `name`/`type` is answered from `snapshot`: the same resolution code the server
    /// runs. Routed names are resolved for `source` (default a documentation address, which no
    /// locator places); `proxima route` explains their routing in full.
    /// `ddns`: the live DDNS records (nil: none are known here, e.g. offline without the store).
    public static func explain(name: DomainName, type: RecordType, snapshot: EngineSnapshot, states: BackendStates,
                               source: IPAddress = .v4(0xc000_0201), ddns: DDNSTable? = nil) -> NameExplanation {
        let question = Question(name: name, type: type, qclass: .in)
        var res = Resolution(question: question, transport: .tcp)
        res.steps = []
        let ctx = QueryContext(source: source, transport: .tcp, remoteLocation: .some(nil))
        _ = resolve(question: question, ecs: nil, context: ctx, snapshot: snapshot, states: states, ddns: ddns, into: &res)
        return NameExplanation(name: name, type: type, steps: res.steps ?? [], rcode: res.rcode,
                               authoritative: res.authoritative, answers: res.answers, authority: res.authority,
                               additional: res.additional)
    }
}

/// The JSON form of a `NameExplanation` (also what `--json` prints).
public struct NameExplanationDocument: Codable, Sendable, Hashable {
    public struct Step: Codable, Sendable, Hashable {
        public var name: String
        /// zone-answer, wildcard-answer, cname, delegation, nodata, nxdomain, synthesized, routed, not-ours.
        public var kind: String
        public var zone: String?
        public var detail: String
        /// For synthesized names: the rule's index in `synthesize:`, its file and line.
        public var rule: Int?
        public var ruleFile: String?
        public var ruleLine: Int?
        /// For routed names: the pool, and the command that explains the routing.
        public var pool: String?
        public var see: String?
        /// For DDNS names: the silo and the record's hostname as written.
        public var silo: String?
        public var hostname: String?
    }

    public var name: String
    public var type: String
    public var rcode: String
    public var authoritative: Bool
    public var steps: [Step]
    public var answer: [String]
    public var authority: [String]
    public var additional: [String]
    public var notes: [String]?
}

extension NameExplanation {
    /// The JSON-ready form (`--json`), from which the text form is also rendered.
    public var document: NameExplanationDocument {
        let steps = self.steps.map { step -> NameExplanationDocument.Step in
            var s = NameExplanationDocument.Step(name: step.name.description, kind: "", zone: nil, detail: "")
            switch step.source {
            case .notOurs:
                s.kind = "not-ours"
                s.detail = "no served zone holds this name: REFUSED (Proxima is not a resolver)"
            case .zoneAnswer(let zone, let wildcard):
                s.kind = wildcard ? "wildcard-answer" : "zone-answer"
                s.zone = zone.description
                s.detail = wildcard ? "synthesized from a wildcard in zone \(zone) (RFC 4592)" : "records in zone \(zone)"
            case .alias(let zone):
                s.kind = "cname"
                s.zone = zone.description
                s.detail = "CNAME in zone \(zone); the answer continues at its target"
            case .delegation(let zone, let cut):
                s.kind = "delegation"
                s.zone = zone.description
                s.detail = "at or below the zone cut \(cut) in zone \(zone): referral to its name servers (AA=0)"
            case .noData(let zone):
                s.kind = "nodata"
                s.zone = zone.description
                s.detail = "the name exists in zone \(zone) but has no records of this type (NODATA)"
            case .nameError(let zone):
                s.kind = "nxdomain"
                s.zone = zone.description
                s.detail = "the name does not exist in zone \(zone) and no synthesize rule matches it (NXDOMAIN)"
            case .synthesized(let zone, let rule, let outcome):
                s.kind = "synthesized"
                s.zone = zone.description
                s.rule = rule.source.index
                s.ruleFile = rule.source.file
                s.ruleLine = rule.source.line
                let which = "\(rule.source.description) '\(rule.name)'"
                switch outcome {
                case .answer: s.detail = "synthesized by \(which); the zone has no data at this name"
                case .noData: s.detail = "synthesized by \(which), which has no records of this type (NODATA)"
                case .nameError: s.detail = "has the shape of \(which) but the rule does not answer it (out of range, outside within, or its name is zone data): NXDOMAIN"
                case .emptyNonTerminal: s.detail = "no data, but \(which) synthesizes names below it (empty non-terminal, RFC 8020): NODATA"
                }
            case .routed(let pool, let answer):
                s.kind = "routed"
                s.pool = pool
                s.detail = "routed name (routing.names), pool \"\(pool)\", for client 192.0.2.1 (a documentation address): \(answer)"
                s.see = "proxima route IP --name \(step.name)"
            case .ddns(let zone, let silo, let hostname, let records):
                s.kind = "ddns"
                s.zone = zone.description
                s.silo = silo
                s.hostname = hostname
                let what = records > 0 ? "\(records) record(s) answered" : "no records of this type (NODATA)"
                s.detail = "DDNS silo \(silo) record \(hostname) (ddns:, live records from the store): \(what)"
            }
            return s
        }
        return NameExplanationDocument(name: name.description, type: type.description, rcode: rcode.description,
                                       authoritative: authoritative, steps: steps,
                                       answer: answers.map(\.description), authority: authority.map(\.description),
                                       additional: additional.map(\.description), notes: notes.isEmpty ? nil : notes)
    }

    /// Pretty JSON.
    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? enc.encode(document) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Human-readable form, as `proxima explain` prints it.
    public func text() -> String { document.text() }
}

extension NameExplanationDocument {
    /// Human-readable form, as `proxima explain` prints it (also for a document from the admin API).
    public func text() -> String {
        let d = self
        var out = ["question:  \(d.name) \(d.type)"]
        for s in d.steps {
            var line = "\(s.name): \(s.detail)"
            if let see = s.see { line += "\n    for the routing decision: \(see)" }
            out.append(line)
        }
        out.append("response:  \(d.rcode)\(d.authoritative ? " (authoritative)" : "")")
        for (title, rrs) in [("answer", d.answer), ("authority", d.authority), ("additional", d.additional)] where !rrs.isEmpty {
            out.append("\(title):")
            out += rrs.map { "  " + $0 }
        }
        for note in d.notes ?? [] { out.append("note: \(note)") }
        return out.joined(separator: "\n")
    }
}
