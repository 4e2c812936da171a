import DNSWire

/// Parses RFC 1035 §5 master files (BIND syntax) into a validated `Zone`.
///
/// Supported: `$ORIGIN`, `$TTL` (RFC 2308 §4, with BIND units `1w2d3h4m5s`), `@`, relative
/// names, omitted owner/TTL/class, TTL and class in either order, `( )` across lines, `;`
/// comments, quoted strings with `\"`, `\\`, `\DDD` escapes, `TYPEnnn`/`CLASSnnn` and the
/// generic `\# len hex` RDATA of RFC 3597 §5 for any type. `$INCLUDE` and `$GENERATE` are
/// reported as unsupported (DNSZone does no file IO).
///
/// TTL of a record written without one, as BIND does it: the `$TTL` in force; without `$TTL`, the
/// last TTL written explicitly (RFC 1035 §5.1); without either, the SOA MINIMUM (with a warning).
///
/// Parsing continues after a bad line; every problem is collected into one `ZoneError`.
public enum ZoneParser {
    /// Parses `text` (the contents of `file`, used only in messages) with initial origin `origin`,
    /// then builds and validates the zone. The zone's origin is `origin` (`$ORIGIN` only changes
    /// how relative names are completed).
    public static func parse(text: String, file: String, origin: DomainName) throws(ZoneError) -> Zone {
        var state = ParserState(file: file, origin: origin)
        state.run(text)
        state.resolvePendingTTLs()
        return try Zone(origin: origin, located: state.records, file: file,
                        issues: state.issues, warnings: state.warnings)
    }
}

/// A record plus where it came from.
struct LocatedRecord: Sendable {
    var record: ResourceRecord
    /// 1-based line, nil for records given in memory.
    var line: Int?
    /// No TTL could be determined while reading; the SOA MINIMUM applies (RFC 2308 §4).
    var ttlPending = false
}

/// Mutable state while reading one file.
struct ParserState {
    let file: String
    let zoneOrigin: DomainName
    /// Current `$ORIGIN`, used to complete relative names.
    var origin: DomainName
    /// `$TTL` in force (RFC 2308 §4).
    var defaultTTL: UInt32?
    /// Last TTL written explicitly on a record (RFC 1035 §5.1).
    var lastTTL: UInt32?
    /// Owner of the previous record, for lines starting with a blank.
    var previousOwner: DomainName?
    var records: [LocatedRecord] = []
    var issues: [ZoneIssue] = []
    var warnings: [ZoneIssue] = []

    init(file: String, origin: DomainName) {
        self.file = file
        self.zoneOrigin = origin
        self.origin = origin
    }

    mutating func issue(_ code: ZoneIssue.Code, _ line: Int, _ message: String) {
        issues.append(ZoneIssue(code, file: file, line: line, message))
    }

    mutating func run(_ text: String) {
        let entries = ZoneLexer.entries(of: text, file: file, issues: &issues)
        for entry in entries {
            let first = entry.tokens[0]
            if !entry.startsWithBlank && !first.quoted && first.bytes.first == UInt8(ascii: "$") {
                directive(entry)
            } else {
                record(entry)
            }
        }
        // Lexer issues were appended as found; keep all issues in line order.
        issues = stableSortedByLine(issues)
    }

    // MARK: Directives

    mutating func directive(_ entry: ZoneEntry) {
        let t = entry.tokens
        let name = t[0].text.uppercased()
        switch name {
        case "$ORIGIN":
            guard t.count == 2 else {
                issue(.syntax, entry.line, "$ORIGIN takes exactly one domain name")
                return
            }
            switch parseName(t[1]) {
            case .success(let n): origin = n
            case .failure(let p): issue(.badName, t[1].line, "bad $ORIGIN \(t[1].shown): \(p.message)")
            }
        case "$TTL":
            guard t.count == 2 else {
                issue(.syntax, entry.line, "$TTL takes exactly one TTL")
                return
            }
            switch parseTTL(t[1]) {
            case .success(let ttl): defaultTTL = ttl
            case .failure(let p): issue(.badTTL, t[1].line, p.message)
            }
        case "$INCLUDE":
            issue(.unsupportedDirective, entry.line, "$INCLUDE is not supported: put all records of the zone in one file")
        case "$GENERATE":
            issue(.unsupportedDirective, entry.line, "$GENERATE is not supported: write the records out")
        default:
            issue(.unsupportedDirective, entry.line, "unknown directive \(t[0].shown)")
        }
    }

    // MARK: Records

    mutating func record(_ entry: ZoneEntry) {
        let t = entry.tokens
        var idx = 0
        let owner: DomainName
        if entry.startsWithBlank {
            guard let previousOwner else {
                issue(.syntax, entry.line, "line starts with a blank but there is no previous owner name")
                return
            }
            owner = previousOwner
        } else {
            switch parseName(t[0]) {
            case .success(let n):
                owner = n
                previousOwner = n
            case .failure(let p):
                issue(.badName, t[0].line, "bad owner name \(t[0].shown): \(p.message)")
                previousOwner = nil
                return
            }
            idx = 1
        }

        // [TTL] [class] or [class] [TTL] (RFC 1035 §5.1).
        var ttl: UInt32?
        var rclass: RecordClass?
        while idx < t.count, !t[idx].quoted, ttl == nil || rclass == nil {
            let tok = t[idx]
            if ttl == nil, let c = tok.bytes.first, isDigit(c) {
                switch parseTTL(tok) {
                case .success(let v): ttl = v
                case .failure(let p):
                    issue(.badTTL, tok.line, p.message)
                    return
                }
            } else if rclass == nil, let c = RecordClass(mnemonic: tok.text) {
                rclass = c
            } else {
                break
            }
            idx += 1
        }
        guard idx < t.count else {
            issue(.syntax, t[t.count - 1].line, "missing record type after \(t[t.count - 1].shown)")
            return
        }
        let typeToken = t[idx]
        guard !typeToken.quoted, let type = RecordType(zoneText: typeToken.text) else {
            issue(.badType, typeToken.line, "unknown record type \(typeToken.shown)")
            return
        }
        if let rclass, rclass != .in {
            issue(.unsupportedClass, t[0].line, "class \(rclass) is not supported (only IN) for \(owner) \(type)")
            return
        }
        if type.isMetaType || type.rawValue == 0 {
            issue(.badType, typeToken.line, "type \(type) cannot appear in zone data")
            return
        }

        let rdata: RData
        switch RDataTextParser.parse(type: type, tokens: t[(idx + 1)...], origin: origin, line: typeToken.line) {
        case .success(let r): rdata = r
        case .failure(let failure):
            issue(failure.code, failure.line, failure.message)
            return
        }
        if case .unknown(let ut, _) = rdata, ut == .dname {
            warnings.append(ZoneIssue(.unsupportedSemantics, file: file, line: entry.line,
                                      "DNAME at \(owner) is served as plain data; names below it are not rewritten (RFC 6672)"))
        }

        // TTL: explicit, else $TTL, else the last explicit TTL, else the SOA MINIMUM.
        var pending = false
        let effectiveTTL: UInt32
        if let ttl {
            effectiveTTL = ttl
            lastTTL = ttl
        } else if let defaultTTL {
            effectiveTTL = defaultTTL
        } else if let lastTTL {
            effectiveTTL = lastTTL
        } else if case .soa(let soa) = rdata {
            effectiveTTL = soa.minimum
            lastTTL = soa.minimum
            warnings.append(ZoneIssue(.ttl, file: file, line: entry.line,
                                      "no TTL and no $TTL: using the SOA MINIMUM \(soa.minimum) (RFC 2308 §4)"))
        } else {
            effectiveTTL = 0
            pending = true
        }
        records.append(LocatedRecord(record: ResourceRecord(name: owner, rclass: .in, ttl: effectiveTTL, rdata: rdata),
                                     line: entry.line, ttlPending: pending))
    }

    /// Gives records read before any TTL was known the SOA MINIMUM (RFC 2308 §4), as BIND does.
    mutating func resolvePendingTTLs() {
        guard records.contains(where: \.ttlPending) else { return }
        let apex = zoneOrigin
        let soaMinimum = records.lazy.compactMap { r -> UInt32? in
            if case .soa(let s) = r.record.rdata, r.record.name == apex { return s.minimum }
            return nil
        }.first
        var warned = false
        for i in records.indices where records[i].ttlPending {
            guard let soaMinimum else {
                issue(.ttl, records[i].line ?? 0, "no TTL for \(records[i].record.name) \(records[i].record.type), no $TTL and no SOA to take a default from")
                continue
            }
            records[i].record.ttl = soaMinimum
            records[i].ttlPending = false
            if !warned {
                warned = true
                warnings.append(ZoneIssue(.ttl, file: file, line: records[i].line,
                                          "no TTL and no $TTL: using the SOA MINIMUM \(soaMinimum) (RFC 2308 §4)"))
            }
        }
        records.removeAll(where: \.ttlPending)
        issues = stableSortedByLine(issues)
    }

    /// A domain name token relative to the current `$ORIGIN`.
    func parseName(_ token: ZoneToken) -> Result<DomainName, TextProblem> {
        parseDomainName(token, origin: origin)
    }
}

/// Parses a name token (never quoted) relative to `origin`, with a readable failure.
func parseDomainName(_ token: ZoneToken, origin: DomainName) -> Result<DomainName, TextProblem> {
    guard !token.quoted else { return .failure(TextProblem("a domain name cannot be a quoted string")) }
    do throws(DNSWireError) {
        return .success(try DomainName(parsing: token.text, origin: origin))
    } catch {
        return .failure(TextProblem(describe(error)))
    }
}

/// A DNSWire error as a short phrase for zone messages.
func describe(_ error: DNSWireError) -> String {
    switch error.code {
    case .labelTooLong: return "label longer than 63 octets"
    case .nameTooLong: return "name longer than 255 octets"
    case .emptyLabel: return "empty label"
    case .badEscape: return "bad escape"
    case .truncated: return "RDATA too short"
    case .trailingBytes: return "trailing bytes after the RDATA"
    default: return error.detail ?? error.code.rawValue
    }
}

/// Parses a TTL: decimal seconds, or BIND units (`1w2d3h4m5s`, any case, each part once or more).
/// RFC 2181 §8 caps TTLs at 2^31 - 1.
func parseTTL(_ token: ZoneToken) -> Result<UInt32, TextProblem> {
    switch parseDuration(token.bytes) {
    case .some(let v) where v <= 0x7fff_ffff: return .success(UInt32(v))
    case .some: return .failure(TextProblem("TTL \(token.shown) exceeds 2147483647 (RFC 2181 §8)"))
    case .none: return .failure(TextProblem("bad TTL \(token.shown)"))
    }
}

/// Decimal seconds or BIND duration units; nil when malformed or above UInt32.max.
func parseDuration(_ bytes: [UInt8]) -> UInt64? {
    guard !bytes.isEmpty, isDigit(bytes[0]) else { return nil }
    var total: UInt64 = 0
    var current: UInt64 = 0
    var digits = 0
    var sawUnit = false
    for c in bytes {
        if isDigit(c) {
            current = current * 10 + UInt64(c - 48)
            digits += 1
            guard current <= UInt64(UInt32.max) else { return nil }
            continue
        }
        guard digits > 0 else { return nil }
        let multiplier: UInt64
        switch asciiLowerByte(c) {
        case UInt8(ascii: "s"): multiplier = 1
        case UInt8(ascii: "m"): multiplier = 60
        case UInt8(ascii: "h"): multiplier = 3600
        case UInt8(ascii: "d"): multiplier = 86400
        case UInt8(ascii: "w"): multiplier = 604_800
        default: return nil
        }
        total += current * multiplier
        guard total <= UInt64(UInt32.max) else { return nil }
        current = 0
        digits = 0
        sawUnit = true
    }
    if digits > 0 {
        // A bare number, or trailing seconds after units ("1h30" is 3630 in BIND).
        total += current
    } else if !sawUnit {
        return nil
    }
    return total <= UInt64(UInt32.max) ? total : nil
}

/// Sorts issues by line, keeping the original order among equal lines and putting line-less ones last.
func stableSortedByLine(_ issues: [ZoneIssue]) -> [ZoneIssue] {
    issues.enumerated().sorted { a, b in
        let la = a.element.line ?? Int.max, lb = b.element.line ?? Int.max
        return la != lb ? la < lb : a.offset < b.offset
    }.map(\.element)
}

/// A readable reason a token was rejected.
struct TextProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
