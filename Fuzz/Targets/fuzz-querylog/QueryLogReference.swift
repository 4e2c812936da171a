import DNSWire
import QueryEngine

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The query log's line as the first formatter wrote it: both messages parsed into `Message`, one
// Swift `String` per field. `QueryLogFormatter` must write exactly these bytes; the unit tests
// (`QueryLogFormatterTests`, through a symbolic link) and `fuzz-querylog` compare the two.

/// Route labels as `RouteLabels.label(nameHash:address:)` resolves them: the route's pools in
/// order, the first holding the address names it; an address no pool holds is named by itself.
struct ReferenceLabels {
    var routes: [(nameHash: UInt64, name: String, pools: [String])]
    var members: [String: [IPAddress: String]]

    func label(nameHash: UInt64, address: IPAddress) -> (name: String, pool: String, member: String)? {
        guard let route = routes.last(where: { $0.nameHash == nameHash }) else { return nil }
        for pool in route.pools {
            if let member = members[pool]?[address] { return (route.name, pool, member) }
        }
        return (route.name, "", address.description)
    }

    var encoded: QueryLogLabels { QueryLogLabels(routes: routes, members: members) }
}

enum QueryLogReference {
    static let rcodes = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
                         "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15"]

    /// One JSON line, without its newline.
    static func line(_ e: QueryLogEntry, labels: ReferenceLabels?) -> String {
        var o = ReferenceJSONLine()
        o.string("time", rfc3339(seconds: e.seconds, nanoseconds: e.nanoseconds))
        o.string("client", e.client.description)
        o.number("port", Int(e.port))
        o.string("transport", e.tcp ? "tcp" : "udp")
        let queryBytes = Array(e.query), responseBytes = Array(e.response)
        let query = try? Message(parsing: queryBytes)
        let response = e.responseCut ? nil : try? Message(parsing: responseBytes)
        if let ecs = query?.edns?.clientSubnet {
            o.string("ecs", "\(ecs.address)/\(ecs.sourcePrefixLength)")
            if let scope = response?.edns?.clientSubnet?.scopePrefixLength { o.number("ecs_scope", Int(scope)) }
        }
        if let q = query?.questions.first ?? response?.questions.first {
            o.string("name", q.name.description)
            o.string("type", q.type.description)
        }
        if responseBytes.count >= 4 {
            let rcode = response?.rcode.rawValue ?? UInt16(responseBytes[3] & 0x0f)
            o.string("rcode", rcode < 16 ? rcodes[Int(rcode)] : rcode == 16 ? "BADVERS" : "RCODE\(rcode)")
            o.bool("tc", responseBytes[2] & 0x02 != 0)
        }
        if let response {
            o.strings("answer", response.answerSection.map { "\($0.type) \($0.rdata)" })
        }
        if e.routeNameHash != 0, let labels, let response {
            for rr in response.answerSection {
                let a: IPAddress
                switch rr.rdata {
                case .a(let x), .aaaa(let x): a = x
                default: continue
                }
                if let l = labels.label(nameHash: e.routeNameHash, address: a) {
                    o.string("routed_name", l.name)
                    o.string("pool", l.pool)
                    o.string("member", l.member)
                }
                break
            }
        }
        if e.placement != .none { o.string("placement", e.placement.label) }
        return o.finish()
    }

    static func rfc3339(seconds: Int64, nanoseconds: Int64) -> String {
        let ms = max(0, min(999, nanoseconds / 1_000_000))
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        var t = time_t(seconds)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T"
            + "\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))" + "." + msText + "Z"
    }
}

/// A JSON object built one field at a time, with RFC 8259 string escaping.
struct ReferenceJSONLine {
    private var text = "{"
    private var empty = true

    private mutating func key(_ k: String) {
        if !empty { text += "," }
        empty = false
        text += ReferenceJSONLine.quoted(k) + ":"
    }
    mutating func string(_ k: String, _ v: String) { key(k); text += ReferenceJSONLine.quoted(v) }
    mutating func number(_ k: String, _ v: Int) { key(k); text += String(v) }
    mutating func bool(_ k: String, _ v: Bool) { key(k); text += v ? "true" : "false" }
    mutating func strings(_ k: String, _ v: [String]) { key(k); text += "[" + v.map(ReferenceJSONLine.quoted).joined(separator: ",") + "]" }
    mutating func finish() -> String { text + "}" }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
