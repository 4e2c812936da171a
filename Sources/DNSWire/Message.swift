/// The fixed 12-byte header (RFC 1035 §4.1.1), flags unpacked.
public struct Header: Hashable, Sendable {
    public var id: UInt16
    public var isResponse: Bool
    public var opcode: OpCode
    public var authoritative: Bool
    public var truncated: Bool
    public var recursionDesired: Bool
    public var recursionAvailable: Bool
    /// AD (RFC 4035 §3.2.3).
    public var authenticData: Bool
    /// CD (RFC 4035 §3.2.2).
    public var checkingDisabled: Bool
    /// The low 4 bits of the RCODE; the rest travels in OPT.
    public var rcodeLow: UInt8
    public var questionCount: UInt16
    public var answerCount: UInt16
    public var authorityCount: UInt16
    public var additionalCount: UInt16

    public init(id: UInt16 = 0, isResponse: Bool = false, opcode: OpCode = .query, authoritative: Bool = false,
                truncated: Bool = false, recursionDesired: Bool = false, recursionAvailable: Bool = false,
                authenticData: Bool = false, checkingDisabled: Bool = false, rcodeLow: UInt8 = 0,
                questionCount: UInt16 = 0, answerCount: UInt16 = 0, authorityCount: UInt16 = 0,
                additionalCount: UInt16 = 0) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.authoritative = authoritative
        self.truncated = truncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.authenticData = authenticData
        self.checkingDisabled = checkingDisabled
        self.rcodeLow = rcodeLow
        self.questionCount = questionCount
        self.answerCount = answerCount
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
    }

    /// Reads the header from the first 12 bytes; nil when shorter.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 12 else { return nil }
        func u16(_ i: Int) -> UInt16 { UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) }
        let f1 = bytes[2], f2 = bytes[3]
        self.init(id: u16(0), isResponse: f1 & 0x80 != 0, opcode: OpCode(rawValue: (f1 >> 3) & 0x0f),
                  authoritative: f1 & 0x04 != 0, truncated: f1 & 0x02 != 0, recursionDesired: f1 & 0x01 != 0,
                  recursionAvailable: f2 & 0x80 != 0, authenticData: f2 & 0x20 != 0,
                  checkingDisabled: f2 & 0x10 != 0, rcodeLow: f2 & 0x0f,
                  questionCount: u16(4), answerCount: u16(6), authorityCount: u16(8), additionalCount: u16(10))
    }

    /// The two flag bytes as on the wire.
    public var flagBytes: (UInt8, UInt8) {
        var f1: UInt8 = (opcode.rawValue & 0x0f) << 3
        if isResponse { f1 |= 0x80 }
        if authoritative { f1 |= 0x04 }
        if truncated { f1 |= 0x02 }
        if recursionDesired { f1 |= 0x01 }
        var f2: UInt8 = rcodeLow & 0x0f
        if recursionAvailable { f2 |= 0x80 }
        if authenticData { f2 |= 0x20 }
        if checkingDisabled { f2 |= 0x10 }
        return (f1, f2)
    }
}

/// One question (RFC 1035 §4.1.2).
public struct Question: Hashable, Sendable {
    public var name: DomainName
    public var type: RecordType
    public var qclass: RecordClass

    public init(name: DomainName, type: RecordType, qclass: RecordClass = .in) {
        self.name = name
        self.type = type
        self.qclass = qclass
    }
}

/// EDNS Client Subnet option (RFC 7871 §6).
public struct ClientSubnet: Hashable, Sendable {
    /// The client network; host bits beyond `sourcePrefixLength` are zero.
    public var address: IPAddress
    public var sourcePrefixLength: UInt8
    public var scopePrefixLength: UInt8

    public init(address: IPAddress, sourcePrefixLength: UInt8, scopePrefixLength: UInt8 = 0) {
        self.address = address
        self.sourcePrefixLength = sourcePrefixLength
        self.scopePrefixLength = scopePrefixLength
    }

    /// Option code 8 (RFC 7871 §6).
    public static let optionCode: UInt16 = 8

    /// Parses the option data (FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH, ADDRESS). Enforces
    /// RFC 7871 §6: prefix within family width, address truncated to ceil(source/8) octets, and the
    /// bits past the source prefix zero.
    public init(optionData d: some Collection<UInt8>) throws(DNSWireError) {
        let parsed = d.withContiguousStorageIfAvailable { buffer in
            Result { () throws(DNSWireError) in try ClientSubnet(optionBytes: UnsafeRawBufferPointer(buffer)) }
        } ?? Array(d).withUnsafeBytes { bytes in
            Result { () throws(DNSWireError) in try ClientSubnet(optionBytes: bytes) }
        }
        self = try parsed.get()
    }

    /// `init(optionData:)` over bytes in place, without copying: what the query fast path uses.
    public init(optionBytes b: UnsafeRawBufferPointer) throws(DNSWireError) {
        guard b.count >= 4 else { throw DNSWireError(.badOption, detail: "ECS shorter than 4 octets") }
        let family = UInt16(b[0]) << 8 | UInt16(b[1])
        let source = b[2], scope = b[3]
        let width: Int
        switch family {
        case 1: width = 32
        case 2: width = 128
        default: throw DNSWireError(.badOption, detail: "ECS family \(family)")
        }
        guard Int(source) <= width, Int(scope) <= width else { throw DNSWireError(.badOption, detail: "ECS prefix too long") }
        let octets = (Int(source) + 7) / 8
        guard b.count - 4 == octets else { throw DNSWireError(.badOption, detail: "ECS address length") }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<octets {
            let byte = UInt64(b[4 + i])
            if i < 8 { hi |= byte << UInt64(56 - 8 * i) } else { lo |= byte << UInt64(56 - 8 * (i - 8)) }
        }
        let addr: IPAddress = family == 1 ? .v4(UInt32(truncatingIfNeeded: hi >> 32)) : .v6(hi, lo)
        guard addr.masked(to: Int(source)) == addr else {
            throw DNSWireError(.badOption, detail: "ECS address has bits set past the source prefix")
        }
        self.init(address: addr, sourcePrefixLength: source, scopePrefixLength: scope)
    }

    /// Option data bytes (address truncated to the source prefix, RFC 7871 §6).
    public var optionData: [UInt8] {
        var out: [UInt8] = []
        let fam = address.family
        out.append(UInt8(fam >> 8)); out.append(UInt8(fam & 0xff))
        out.append(sourcePrefixLength); out.append(scopePrefixLength)
        let octets = (Int(sourcePrefixLength) + 7) / 8
        out.append(contentsOf: address.masked(to: Int(sourcePrefixLength)).bytes.prefix(octets))
        return out
    }

    /// The network the client claimed.
    public var network: IPNetwork { IPNetwork(address: address, prefixLength: Int(sourcePrefixLength)) }
}

/// One EDNS option (RFC 6891 §6.1.2).
public enum EDNSOption: Hashable, Sendable {
    case clientSubnet(ClientSubnet)
    /// Any option we do not interpret; ignored on input (RFC 6891 §6.1.2), never echoed.
    case unknown(code: UInt16, data: [UInt8])
}

/// The OPT pseudo-RR (RFC 6891 §6.1).
public struct EDNS: Hashable, Sendable {
    /// Requestor's UDP payload size (the OPT CLASS field).
    public var udpPayloadSize: UInt16
    /// Upper 8 bits of the 12-bit RCODE.
    public var extendedRCode: UInt8
    public var version: UInt8
    /// DO bit (RFC 3225).
    public var dnssecOK: Bool
    public var options: [EDNSOption]

    public init(udpPayloadSize: UInt16 = 1232, extendedRCode: UInt8 = 0, version: UInt8 = 0,
                dnssecOK: Bool = false, options: [EDNSOption] = []) {
        self.udpPayloadSize = udpPayloadSize
        self.extendedRCode = extendedRCode
        self.version = version
        self.dnssecOK = dnssecOK
        self.options = options
    }

    /// The Client Subnet option, if present.
    public var clientSubnet: ClientSubnet? {
        for o in options { if case .clientSubnet(let c) = o { return c } }
        return nil
    }
}

/// A DNS message with typed sections. OPT is lifted out of the additional section into `edns`.
public struct Message: Hashable, Sendable {
    public var header: Header
    public var questions: [Question]
    public var answerSection: [ResourceRecord]
    public var authoritySection: [ResourceRecord]
    public var additionalSection: [ResourceRecord]
    public var edns: EDNS?

    public init(header: Header, questions: [Question] = [], answerSection: [ResourceRecord] = [],
                authoritySection: [ResourceRecord] = [], additionalSection: [ResourceRecord] = [],
                edns: EDNS? = nil) {
        self.header = header
        self.questions = questions
        self.answerSection = answerSection
        self.authoritySection = authoritySection
        self.additionalSection = additionalSection
        self.edns = edns
    }

    /// The full RCODE: header low bits plus OPT's extended bits (RFC 6891 §6.1.3).
    public var rcode: ResponseCode {
        get { ResponseCode(rawValue: UInt16(edns?.extendedRCode ?? 0) << 4 | UInt16(header.rcodeLow)) }
        set {
            header.rcodeLow = UInt8(truncatingIfNeeded: newValue.rawValue & 0x0f)
            // RCODEs are 12 bits (RFC 6891 §6.1.3); higher bits of a made-up value are dropped, not trapped on.
            if newValue.rawValue > 0x0f || edns != nil { edns?.extendedRCode = UInt8(truncatingIfNeeded: newValue.rawValue >> 4) }
        }
    }
}
