/// An RR TYPE (RFC 1035 §3.2.2) — an open set: unknown values are kept and printed as `TYPEnnn`
/// (RFC 3597 §5).
public struct RecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = RecordType(rawValue: 1)
    public static let ns = RecordType(rawValue: 2)
    public static let cname = RecordType(rawValue: 5)
    public static let soa = RecordType(rawValue: 6)
    public static let ptr = RecordType(rawValue: 12)
    public static let hinfo = RecordType(rawValue: 13)
    public static let mx = RecordType(rawValue: 15)
    public static let txt = RecordType(rawValue: 16)
    public static let aaaa = RecordType(rawValue: 28)
    public static let srv = RecordType(rawValue: 33)
    public static let dname = RecordType(rawValue: 39)
    public static let opt = RecordType(rawValue: 41)
    public static let ds = RecordType(rawValue: 43)
    public static let rrsig = RecordType(rawValue: 46)
    public static let nsec = RecordType(rawValue: 47)
    public static let dnskey = RecordType(rawValue: 48)
    public static let ixfr = RecordType(rawValue: 251)
    public static let axfr = RecordType(rawValue: 252)
    public static let any = RecordType(rawValue: 255)
    public static let caa = RecordType(rawValue: 257)

    static let mnemonics: [(String, RecordType)] = [
        ("A", .a), ("NS", .ns), ("CNAME", .cname), ("SOA", .soa), ("PTR", .ptr), ("HINFO", .hinfo),
        ("MX", .mx), ("TXT", .txt), ("AAAA", .aaaa), ("SRV", .srv), ("DNAME", .dname), ("OPT", .opt),
        ("DS", .ds), ("RRSIG", .rrsig), ("NSEC", .nsec), ("DNSKEY", .dnskey), ("IXFR", .ixfr),
        ("AXFR", .axfr), ("ANY", .any), ("CAA", .caa),
    ]

    /// Parses a mnemonic (`AAAA`, case-insensitive) or the generic `TYPEnnn` form (RFC 3597 §5).
    public init?(mnemonic: some StringProtocol) {
        let up = mnemonic.uppercased()
        if let hit = RecordType.mnemonics.first(where: { $0.0 == up }) {
            self = hit.1
            return
        }
        if up.hasPrefix("TYPE"), let v = UInt16(up.dropFirst(4)), up.count > 4 {
            self.init(rawValue: v)
            return
        }
        return nil
    }

    /// The mnemonic, or `TYPEnnn` for types we have no name for.
    public var description: String {
        RecordType.mnemonics.first(where: { $0.1 == self })?.0 ?? "TYPE\(rawValue)"
    }

    /// Meta and question-only types that never appear in zone data (RFC 6895 §3.1).
    public var isMetaType: Bool {
        rawValue == 41 || (rawValue >= 128 && rawValue <= 255)
    }
}

/// An RR CLASS (RFC 1035 §3.2.4).
public struct RecordClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let `in` = RecordClass(rawValue: 1)
    public static let ch = RecordClass(rawValue: 3)
    public static let hs = RecordClass(rawValue: 4)
    public static let none = RecordClass(rawValue: 254)
    public static let any = RecordClass(rawValue: 255)

    /// Parses `IN`, `CH`, `HS`, `NONE`, `ANY` or `CLASSnnn` (RFC 3597 §5).
    public init?(mnemonic: some StringProtocol) {
        switch mnemonic.uppercased() {
        case "IN": self = .in
        case "CH", "CHAOS": self = .ch
        case "HS": self = .hs
        case "NONE": self = .none
        case "ANY": self = .any
        case let up where up.hasPrefix("CLASS") && up.count > 5:
            guard let v = UInt16(up.dropFirst(5)) else { return nil }
            self.init(rawValue: v)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .in: return "IN"
        case .ch: return "CH"
        case .hs: return "HS"
        case .none: return "NONE"
        case .any: return "ANY"
        default: return "CLASS\(rawValue)"
        }
    }
}

/// RCODE, including the extended values carried in OPT (RFC 6891 §6.1.3).
public struct ResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = ResponseCode(rawValue: 0)
    public static let formErr = ResponseCode(rawValue: 1)
    public static let servFail = ResponseCode(rawValue: 2)
    public static let nxDomain = ResponseCode(rawValue: 3)
    public static let notImp = ResponseCode(rawValue: 4)
    public static let refused = ResponseCode(rawValue: 5)
    public static let notAuth = ResponseCode(rawValue: 9)
    /// BADVERS (16): EDNS version not supported (RFC 6891 §6.1.3).
    public static let badVers = ResponseCode(rawValue: 16)

    public var description: String {
        switch rawValue {
        case 0: return "NOERROR"
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 3: return "NXDOMAIN"
        case 4: return "NOTIMP"
        case 5: return "REFUSED"
        case 9: return "NOTAUTH"
        case 16: return "BADVERS"
        default: return "RCODE\(rawValue)"
        }
    }
}

/// OPCODE (RFC 1035 §4.1.1).
public struct OpCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let query = OpCode(rawValue: 0)
    public static let notify = OpCode(rawValue: 4)
    public static let update = OpCode(rawValue: 5)
}
