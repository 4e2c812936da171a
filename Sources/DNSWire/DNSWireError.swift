/// The one error type of DNSWire: a bounded code (usable as a metric label) plus context.
public struct DNSWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a small closed set.
    public enum Code: String, Sendable, Hashable {
        case truncated            // ran out of bytes
        case labelTooLong         // > 63 octets (RFC 1035 §2.3.4)
        case nameTooLong          // > 255 octets (RFC 1035 §2.3.4)
        case badPointer           // compression pointer forward/looping/out of range
        case tooManyPointers      // more hops than Limits.maxCompressionPointers
        case badLabelType         // 0x40/0x80 label types (RFC 6891 §5 retired them)
        case emptyLabel           // "a..b" in text
        case badEscape            // \DDD > 255 or dangling backslash
        case badRData             // RDATA length/contents inconsistent with its type
        case countMismatch        // section counts claim more records than the bytes hold
        case tooManyRecords       // more than Limits.maxRecordsPerSection
        case badOption            // malformed EDNS option
        case trailingBytes        // bytes left after the last section
        case badText              // other presentation-format problems
        case tooLarge             // a length or count does not fit its wire field (RDLENGTH, ...)
    }

    public var code: Code
    /// Byte offset in the message (or character offset in text) where it was noticed, if known.
    public var offset: Int?
    public var detail: String?

    public init(_ code: Code, offset: Int? = nil, detail: String? = nil) {
        self.code = code
        self.offset = offset
        self.detail = detail
    }

    public var description: String {
        var s = code.rawValue
        if let offset { s += " at offset \(offset)" }
        if let detail { s += ": \(detail)" }
        return s
    }
}

/// Every cost a packet can impose, bounded in one place (STYLE.md §10).
public enum Limits {
    /// Maximum octets in a wire-format name, including length bytes and the root (RFC 1035 §2.3.4).
    public static let maxNameLength = 255
    /// Maximum octets in one label (RFC 1035 §2.3.4).
    public static let maxLabelLength = 63
    /// Compression pointers followed while reading one name; a loop cannot exceed this.
    public static let maxCompressionPointers = 32
    /// Records accepted per section when parsing a message.
    public static let maxRecordsPerSection = 512
    /// CNAME links followed inside our zones for one answer (STYLE.md §10).
    public static let maxCNAMEChain = 8
    /// Smallest UDP payload we honour (RFC 1035 §4.2.1; RFC 6891 §6.2.5 says treat < 512 as 512).
    public static let minUDPPayload = 512
    /// Default maximum UDP payload (DNS flag day 2020 recommendation).
    public static let defaultMaxUDPPayload = 1232
    /// Maximum DNS message size over TCP (RFC 1035 §4.2.2 two-byte length).
    public static let maxTCPMessage = 65535
    /// Largest RDATA of one record: RDLENGTH is 16 bits (RFC 1035 §3.2.1). The zone loader refuses
    /// bigger ones, and a record set that cannot fit one maximum-size message.
    public static let maxRDataLength = 65535
    // EDNS options have no count limit: RFC 6891 sets none, and each takes ≥ 4 octets of an OPT
    // RDATA that is itself bounded by the message size.
}
