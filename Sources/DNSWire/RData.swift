/// SOA RDATA fields (RFC 1035 §3.3.13).
public struct SOAData: Hashable, Sendable {
    public var mname: DomainName
    public var rname: DomainName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    /// The negative-caching TTL (RFC 2308 §4).
    public var minimum: UInt32

    public init(mname: DomainName, rname: DomainName, serial: UInt32, refresh: UInt32, retry: UInt32,
                expire: UInt32, minimum: UInt32) {
        self.mname = mname
        self.rname = rname
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}

/// Typed RDATA for the types Proxima understands; anything else is kept opaque (RFC 3597).
public enum RData: Hashable, Sendable {
    case a(IPAddress)
    case aaaa(IPAddress)
    case ns(DomainName)
    case cname(DomainName)
    case ptr(DomainName)
    case soa(SOAData)
    case mx(preference: UInt16, exchange: DomainName)
    /// One or more <character-string>s, each ≤ 255 octets (RFC 1035 §3.3.14).
    case txt([[UInt8]])
    /// RFC 2782.
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DomainName)
    /// RFC 8659: flags, tag (alphanumeric), value.
    case caa(flags: UInt8, tag: [UInt8], value: [UInt8])
    /// Opaque RDATA of any other type (RFC 3597 §4).
    case unknown(RecordType, [UInt8])

    /// The RR type this RDATA belongs to.
    public var type: RecordType {
        switch self {
        case .a: return .a
        case .aaaa: return .aaaa
        case .ns: return .ns
        case .cname: return .cname
        case .ptr: return .ptr
        case .soa: return .soa
        case .mx: return .mx
        case .txt: return .txt
        case .srv: return .srv
        case .caa: return .caa
        case .unknown(let t, _): return t
        }
    }

    /// The domain name whose A/AAAA records belong in the additional section (RFC 1034 §4.3.2
    /// step 6): NS and MX targets, and SRV targets (RFC 2782).
    /// Octets of this RDATA on the wire without compression (RFC 1035 §3.3, RFC 3597 §4): what
    /// RDLENGTH would say. The zone loader compares it with `Limits.maxRDataLength`.
    public var wireLength: Int {
        switch self {
        case .a: return 4
        case .aaaa: return 16
        case .ns(let n), .cname(let n), .ptr(let n): return n.wire.count
        case .soa(let s): return s.mname.wire.count + s.rname.wire.count + 20
        case .mx(_, let n): return 2 + n.wire.count
        case .srv(_, _, _, let n): return 6 + n.wire.count
        case .txt(let strings): return strings.reduce(0) { $0 + 1 + $1.count }
        case .caa(_, let tag, let value): return 2 + tag.count + value.count
        case .unknown(_, let raw): return raw.count
        }
    }

    public var additionalSectionName: DomainName? {
        switch self {
        case .ns(let n): return n
        case .mx(_, let n): return n
        case .srv(_, _, _, let n): return n
        default: return nil
        }
    }
}

/// A resource record (RFC 1035 §3.2.1).
public struct ResourceRecord: Hashable, Sendable {
    public var name: DomainName
    public var rclass: RecordClass
    public var ttl: UInt32
    public var rdata: RData

    public var type: RecordType { rdata.type }

    public init(name: DomainName, rclass: RecordClass = .in, ttl: UInt32, rdata: RData) {
        self.name = name
        self.rclass = rclass
        self.ttl = ttl
        self.rdata = rdata
    }
}
