import DNSWire

/// Decodes uncompressed RDATA octets into typed `RData`, for the generic `\# len hex` form
/// (RFC 3597 §5) of types Proxima otherwise parses from text: the zone model must hold one
/// representation per type, whichever way it was written. Names must be uncompressed (RFC 3597
/// §4: compression is not allowed in RDATA of types unknown to the writer, and a master file has
/// no message to point into). Unknown types stay opaque.
enum RDataWireDecoder {
    /// Decodes `bytes` as the RDATA of `type`.
    static func decode(type: RecordType, bytes: [UInt8]) throws(DNSWireError) -> RData {
        var r = Reader(bytes: bytes)
        let rdata: RData
        switch type {
        case .a:
            rdata = .a(try r.address(count: 4))
        case .aaaa:
            rdata = .aaaa(try r.address(count: 16))
        case .ns:
            rdata = .ns(try r.name())
        case .cname:
            rdata = .cname(try r.name())
        case .ptr:
            rdata = .ptr(try r.name())
        case .soa:
            let mname = try r.name()
            let rname = try r.name()
            rdata = .soa(SOAData(mname: mname, rname: rname, serial: try r.u32(), refresh: try r.u32(),
                                 retry: try r.u32(), expire: try r.u32(), minimum: try r.u32()))
        case .mx:
            let pref = try r.u16()
            rdata = .mx(preference: pref, exchange: try r.name())
        case .txt:
            // RFC 1035 §3.3.14: one or more <character-string>s.
            var strings: [[UInt8]] = []
            repeat {
                let len = Int(try r.u8())
                strings.append(try r.take(len))
            } while !r.atEnd
            rdata = .txt(strings)
        case .srv:
            let priority = try r.u16(), weight = try r.u16(), port = try r.u16()
            rdata = .srv(priority: priority, weight: weight, port: port, target: try r.name())
        case .caa:
            // RFC 8659 §4.1: flags, tag length (≥ 1), tag, value (rest of the RDATA).
            let flags = try r.u8()
            let tagLength = Int(try r.u8())
            guard tagLength > 0 else { throw DNSWireError(.badRData, offset: 1, detail: "CAA tag length 0") }
            let tag = try r.take(tagLength)
            rdata = .caa(flags: flags, tag: tag, value: try r.take(bytes.count - r.offset))
        default:
            return .unknown(type, bytes)
        }
        guard r.atEnd else { throw DNSWireError(.trailingBytes, offset: r.offset) }
        return rdata
    }

    /// A bounds-checked cursor over RDATA octets.
    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset == bytes.count }

        mutating func take(_ count: Int) throws(DNSWireError) -> [UInt8] {
            guard count >= 0, offset + count <= bytes.count else { throw DNSWireError(.truncated, offset: offset) }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func u8() throws(DNSWireError) -> UInt8 {
            guard offset < bytes.count else { throw DNSWireError(.truncated, offset: offset) }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() throws(DNSWireError) -> UInt16 {
            let hi = try u8(), lo = try u8()
            return UInt16(hi) << 8 | UInt16(lo)
        }

        mutating func u32() throws(DNSWireError) -> UInt32 {
            let hi = try u16(), lo = try u16()
            return UInt32(hi) << 16 | UInt32(lo)
        }

        mutating func address(count: Int) throws(DNSWireError) -> IPAddress {
            let raw = try take(count)
            guard let address = IPAddress(bytes: raw) else { throw DNSWireError(.badRData, offset: offset) }
            return address
        }

        /// An uncompressed name (RFC 1035 §3.1); compression pointers are rejected.
        mutating func name() throws(DNSWireError) -> DomainName {
            let start = offset
            while true {
                let len = Int(try u8())
                if len == 0 { break }
                guard len <= Limits.maxLabelLength else {
                    throw DNSWireError(len >= 0xc0 ? .badPointer : .badLabelType, offset: offset - 1,
                                       detail: "compressed or extended label in RDATA")
                }
                _ = try take(len)
                guard offset - start <= Limits.maxNameLength else { throw DNSWireError(.nameTooLong, offset: start) }
            }
            return try DomainName(wire: Array(bytes[start..<offset]))
        }
    }
}
