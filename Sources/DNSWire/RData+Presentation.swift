/// Presentation (master-file) format of RDATA, as `dig`/`kdig` print it (RFC 1035 §5.1,
/// RFC 3597 §5 for opaque data).
extension RData: CustomStringConvertible {
    public var description: String {
        switch self {
        case .a(let a), .aaaa(let a): return a.description
        case .ns(let n), .cname(let n), .ptr(let n): return n.description
        case .soa(let s):
            return "\(s.mname) \(s.rname) \(s.serial) \(s.refresh) \(s.retry) \(s.expire) \(s.minimum)"
        case .mx(let p, let n): return "\(p) \(n)"
        case .txt(let strings): return strings.map(RData.quoted).joined(separator: " ")
        case .srv(let p, let w, let port, let t): return "\(p) \(w) \(port) \(t)"
        case .caa(let f, let tag, let value):
            return "\(f) \(String(decoding: tag, as: UTF8.self)) \(RData.quoted(value))"
        case .unknown(_, let raw):
            let hex = raw.map { b -> String in
                let s = String(b, radix: 16, uppercase: true)
                return s.count == 1 ? "0" + s : s
            }.joined()
            return raw.isEmpty ? "\\# 0" : "\\# \(raw.count) \(hex)"
        }
    }

    /// A <character-string> in quotes with `"` and `\` escaped and non-printables as `\DDD`.
    static func quoted(_ bytes: [UInt8]) -> String {
        var s = "\""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                s.append("\\"); s.unicodeScalars.append(Unicode.Scalar(b))
            case 0x20...0x7e:
                s.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let d = String(b)
                s += "\\" + String(repeating: "0", count: 3 - d.count) + d
            }
        }
        return s + "\""
    }
}

extension ResourceRecord: CustomStringConvertible {
    /// `owner TTL CLASS TYPE RDATA`, one line, as in a zone file.
    public var description: String {
        "\(name) \(ttl) \(rclass) \(type) \(rdata)"
    }
}
