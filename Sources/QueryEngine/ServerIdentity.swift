import DNSWire

/// Who this server is, for operators of an anycast fleet (config `identity`): the NSID option
/// (RFC 5001) and the CHAOS-class TXT names `id.server`/`hostname.bind` (RFC 4892 §2.3) and
/// `version.server`/`version.bind`.
public struct ServerIdentity: Sendable, Hashable {
    /// The server's name: the NSID payload and the `id.server`/`hostname.bind` TXT string.
    /// 1...255 bytes (one TXT character-string, RFC 1035 §3.3.14).
    public var id: [UInt8]
    /// The text for `version.server`/`version.bind`; nil hides it (those names are REFUSED).
    public var version: [UInt8]?

    public init(id: [UInt8], version: [UInt8]?) {
        self.id = id
        self.version = version
    }

    /// The EDNS option code of NSID (RFC 5001 §2.3).
    public static let nsidOptionCode: UInt16 = 3

    /// Whether `query` asks for the NSID: an NSID option with an empty payload (RFC 5001 §2.1:
    /// "the requestor MUST send an empty NSID option"; anything else is not a request).
    static func requestsNSID(_ query: EDNS) -> Bool {
        query.options.contains { if case .unknown(nsidOptionCode, let data) = $0 { return data.isEmpty } else { return false } }
    }

    /// The CHAOS TXT names answered, lowercased wire form → whether it is the version.
    static let chaosNames: [DomainName: Bool] = {
        var out: [DomainName: Bool] = [:]
        for (n, isVersion) in [("id.server.", false), ("hostname.bind.", false),
                               ("version.server.", true), ("version.bind.", true)] {
            out[try! DomainName(parsing: n)] = isVersion
        }
        return out
    }()

    /// The TXT string for a CHAOS question, or nil when it is not answered (REFUSED): names other
    /// than the four, types other than TXT, and the version names when the version is hidden.
    /// Matches Knot DNS 3 (checked with kdig: `CH A id.server` and `CH ANY id.server` are REFUSED).
    func chaosText(_ question: Question) -> [UInt8]? {
        guard question.type == .txt, let isVersion = Self.chaosNames[question.name.lowercased()] else { return nil }
        return isVersion ? version : id
    }
}
