import DNSWire

/// Why a record's RDATA was rejected, and where.
struct RDataFailure: Error {
    var code: ZoneIssue.Code
    var line: Int
    var message: String
}

/// Parses the presentation form of RDATA (RFC 1035 §5.1 and each type's RFC), or the generic
/// `\# len hex` form of RFC 3597 §5 for any type.
struct RDataTextParser {
    let type: RecordType
    let tokens: ArraySlice<ZoneToken>
    let origin: DomainName
    /// Line of the type token, for errors about missing fields.
    let line: Int
    var index: Int

    static func parse(type: RecordType, tokens: ArraySlice<ZoneToken>, origin: DomainName,
                      line: Int) -> Result<RData, RDataFailure> {
        var p = RDataTextParser(type: type, tokens: tokens, origin: origin, line: line, index: tokens.startIndex)
        do {
            let rdata = try p.parse()
            return .success(rdata)
        } catch {
            return .failure(error)
        }
    }

    func fail(_ message: String, at token: ZoneToken? = nil, code: ZoneIssue.Code = .badRData) -> RDataFailure {
        RDataFailure(code: code, line: token?.line ?? line, message: message)
    }

    /// The type as users write it, for messages ("in A record", "in TYPE65280 record").
    var typeName: String { RecordType.zoneExtraMnemonics.first(where: { $0.value == type.rawValue })?.key ?? type.description }

    mutating func next(_ what: String) throws(RDataFailure) -> ZoneToken {
        guard index < tokens.endIndex else { throw fail("missing \(what) in \(typeName) record") }
        defer { index += 1 }
        return tokens[index]
    }

    func finish() throws(RDataFailure) {
        guard index < tokens.endIndex else { return }
        let extra = tokens[index]
        throw fail("unexpected \(extra.shown) after the \(typeName) RDATA", at: extra)
    }

    mutating func parse() throws(RDataFailure) -> RData {
        if let first = tokens.first, first.isWord("\\#") {
            return try parseGeneric()
        }
        guard type.hasTypedText else {
            if !typeName.hasPrefix("TYPE") {
                throw fail("the text form of \(typeName) RDATA is not supported; write it as \\# <length> <hex> (RFC 3597 §5)",
                           code: .badType)
            }
            throw fail("RDATA of unknown type \(typeName) must use the generic form \\# <length> <hex> (RFC 3597 §5)")
        }
        let rdata: RData
        switch type {
        case .a:
            let t = try next("IPv4 address")
            guard !t.quoted, !t.text.contains(":"), let a = IPAddress(t.text) else {
                throw fail("bad IPv4 address \(t.shown) in A record", at: t)
            }
            rdata = .a(a)
        case .aaaa:
            let t = try next("IPv6 address")
            guard !t.quoted, t.text.contains(":"), let a = IPAddress(t.text) else {
                throw fail("bad IPv6 address \(t.shown) in AAAA record", at: t)
            }
            rdata = .aaaa(a)
        case .ns:
            rdata = .ns(try name("name server"))
        case .cname:
            rdata = .cname(try name("canonical name"))
        case .ptr:
            rdata = .ptr(try name("domain name"))
        case .soa:
            let mname = try name("primary server (MNAME)")
            let rname = try name("mailbox (RNAME)")
            let serial = try number("serial", max: UInt64(UInt32.max), units: false)
            let refresh = try number("refresh", max: UInt64(UInt32.max), units: true)
            let retry = try number("retry", max: UInt64(UInt32.max), units: true)
            let expire = try number("expire", max: UInt64(UInt32.max), units: true)
            let minimum = try number("minimum", max: UInt64(UInt32.max), units: true)
            rdata = .soa(SOAData(mname: mname, rname: rname, serial: UInt32(serial), refresh: UInt32(refresh),
                                 retry: UInt32(retry), expire: UInt32(expire), minimum: UInt32(minimum)))
        case .mx:
            let pref = try number("preference", max: 65535, units: false)
            rdata = .mx(preference: UInt16(pref), exchange: try name("mail exchange"))
        case .txt:
            var strings: [[UInt8]] = []
            repeat {
                strings.append(try characterString(try next("text")))
            } while index < tokens.endIndex
            rdata = .txt(strings)
        case .srv:
            let priority = try number("priority", max: 65535, units: false)
            let weight = try number("weight", max: 65535, units: false)
            let port = try number("port", max: 65535, units: false)
            rdata = .srv(priority: UInt16(priority), weight: UInt16(weight), port: UInt16(port),
                         target: try name("target"))
        case .caa:
            // RFC 8659 §4.1.1: flags, tag (ASCII letters and digits), value.
            let flags = try number("flags", max: 255, units: false)
            let tagToken = try next("tag")
            let tag = tagToken.bytes
            guard !tagToken.quoted, !tag.isEmpty, tag.count <= 255,
                  tag.allSatisfy({ isDigit($0) || (asciiLowerByte($0) >= 0x61 && asciiLowerByte($0) <= 0x7a) }) else {
                throw fail("bad CAA tag \(tagToken.shown): letters and digits only (RFC 8659 §4.1.1)", at: tagToken)
            }
            let valueToken = try next("value")
            let value: [UInt8]
            switch valueToken.decodeCharacterString() {
            case .success(let v): value = v
            case .failure(let e): throw fail("bad CAA value \(valueToken.shown): \(e.message)", at: valueToken)
            }
            rdata = .caa(flags: UInt8(flags), tag: tag, value: value)
        default:
            throw fail("the text form of \(typeName) RDATA is not supported", code: .badType)
        }
        try finish()
        return rdata
    }

    /// `\# len hex...` (RFC 3597 §5); known types are decoded so every record of a type has one
    /// representation.
    mutating func parseGeneric() throws(RDataFailure) -> RData {
        _ = try next("\\#")
        let lengthToken = try next("RDATA length after \\#")
        guard !lengthToken.quoted, let length = Int(lengthToken.text), length >= 0, length <= 65535 else {
            throw fail("bad RDATA length \(lengthToken.shown) after \\# in \(typeName) record", at: lengthToken)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        var pendingNibble: UInt8?
        while index < tokens.endIndex {
            let t = tokens[index]
            index += 1
            guard !t.quoted else { throw fail("bad hex \(t.shown) in \\# RDATA of \(typeName) record", at: t) }
            for c in t.bytes {
                guard let v = hexValue(c) else { throw fail("bad hex \(t.shown) in \\# RDATA of \(typeName) record", at: t) }
                if let hi = pendingNibble {
                    bytes.append(hi << 4 | v)
                    pendingNibble = nil
                } else {
                    pendingNibble = v
                }
            }
        }
        guard pendingNibble == nil else { throw fail("odd number of hex digits in \\# RDATA of \(typeName) record") }
        guard bytes.count == length else {
            throw fail("\\# RDATA of \(typeName) record says \(length) octets but has \(bytes.count)")
        }
        do {
            return try RDataWireDecoder.decode(type: type, bytes: bytes)
        } catch {
            throw fail("bad \\# RDATA for \(typeName): \(describe(error))")
        }
    }

    mutating func name(_ what: String) throws(RDataFailure) -> DomainName {
        let t = try next(what)
        switch parseDomainName(t, origin: origin) {
        case .success(let n): return n
        case .failure(let p): throw fail("bad \(what) \(t.shown) in \(typeName) record: \(p.message)", at: t)
        }
    }

    mutating func number(_ what: String, max: UInt64, units: Bool) throws(RDataFailure) -> UInt64 {
        let t = try next(what)
        let value: UInt64?
        if t.quoted {
            value = nil
        } else if units {
            value = parseDuration(t.bytes)
        } else {
            value = t.bytes.allSatisfy(isDigit) ? UInt64(t.text) : nil
        }
        guard let value, value <= max else {
            throw fail("bad \(what) \(t.shown) in \(typeName) record (expected 0...\(max))", at: t)
        }
        return value
    }

    /// One <character-string>: quoted or a bare word, unescaped, at most 255 octets (RFC 1035 §3.3).
    func characterString(_ t: ZoneToken) throws(RDataFailure) -> [UInt8] {
        switch t.decodeCharacterString() {
        case .success(let s):
            guard s.count <= 255 else {
                throw fail("\(typeName) string of \(s.count) octets exceeds 255 (RFC 1035 §3.3); split it into several strings", at: t)
            }
            return s
        case .failure(let e):
            throw fail("bad string \(t.shown) in \(typeName) record: \(e.message)", at: t)
        }
    }
}

/// The value of one hex digit, or nil.
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}
