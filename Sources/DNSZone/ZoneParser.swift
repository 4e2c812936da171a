import DNSWire

/// Parses RFC 1035 §5 master files (BIND syntax) into a validated `Zone`.
///
/// Supported: `$ORIGIN`, `$TTL` (RFC 2308 §4, with BIND units `1w2d3h4m5s`), `$INCLUDE` (RFC 1035
/// §5.1, through an injected `ZoneFileAccess`), BIND's `$GENERATE`, `@`, relative names, omitted
/// owner/TTL/class, TTL and class in either order, `( )` across lines, `;` comments, quoted
/// strings with `\"`, `\\`, `\DDD` escapes, `TYPEnnn`/`CLASSnnn` and the generic `\# len hex`
/// RDATA of RFC 3597 §5 for any type.
///
/// TTL of a record written without one, as BIND does it: the `$TTL` in force; without `$TTL`, the
/// last TTL written explicitly (RFC 1035 §5.1); without either, the SOA MINIMUM (with a warning).
///
/// Parsing continues after a bad line; every problem is collected into one `ZoneError`.
public enum ZoneParser {
    /// Parses `text` (the contents of `file`, used only in messages) with initial origin `origin`,
    /// then builds and validates the zone. The zone's origin is `origin` (`$ORIGIN` only changes
    /// how relative names are completed). Without file access, `$INCLUDE` is an error.
    public static func parse(text: String, file: String, origin: DomainName) throws(ZoneError) -> Zone {
        try parse(text: text, file: file, origin: origin, access: nil).zone
    }

    /// Parses `text`, the contents of the zone file at `file` (an absolute path: `$INCLUDE` names
    /// are relative to its directory), reading included files through `access`.
    public static func parse(text: String, file: String, origin: DomainName,
                             access: ZoneFileAccess?) throws(ZoneError) -> ParsedZone {
        var state = ParserState(file: file, origin: origin, access: access)
        state.run(text)
        state.resolvePendingTTLs()
        do {
            let zone = try Zone(origin: origin, located: state.records, file: file,
                                issues: state.issues, warnings: state.warnings)
            return ParsedZone(zone: zone, includedFiles: state.includedFiles)
        } catch {
            var failure = error
            failure.includedFiles = state.includedFiles
            throw failure
        }
    }
}

/// A zone and the files it was read from besides the zone file itself.
public struct ParsedZone: Sendable {
    /// The validated zone.
    public let zone: Zone
    /// Every file `$INCLUDE` read (absolute, normalized, in reading order, once each): a change
    /// to any of them changes the zone, so they are watched like the zone file.
    public let includedFiles: [String]
}

/// A record plus where it came from.
struct LocatedRecord: Sendable {
    var record: ResourceRecord
    /// File, line and `$INCLUDE` chain; line nil for records given in memory.
    var place: RecordPlace
    /// No TTL could be determined while reading; the SOA MINIMUM applies (RFC 2308 §4).
    var ttlPending = false

    init(record: ResourceRecord, place: RecordPlace, ttlPending: Bool = false) {
        self.record = record
        self.place = place
        self.ttlPending = ttlPending
    }

    /// A record of the zone file itself (or given in memory when `line` is nil).
    init(record: ResourceRecord, line: Int?) {
        self.init(record: record, place: RecordPlace(file: nil, line: line))
    }
}

/// Where a record was read: the file (nil: the zone file itself), the line, and the `$INCLUDE`
/// directives that led there, innermost first.
struct RecordPlace: Sendable {
    var file: String?
    var line: Int?
    var includedFrom: [ZoneIssue.Site] = []

    /// An issue at this place; `zoneFile` names the zone file when `file` is nil.
    func issue(_ code: ZoneIssue.Code, zoneFile: String, _ message: String) -> ZoneIssue {
        ZoneIssue(code, file: file ?? zoneFile, line: line, message, includedFrom: includedFrom)
    }

    /// Document order, as `ZoneIssue.documentPosition`.
    var documentPosition: [Int] { includedFrom.reversed().map(\.line) + [line ?? Int.max] }
}

/// Mutable state while reading a zone file and the files it includes.
struct ParserState {
    /// The current file as named in messages: the zone file, or an included file's path.
    var file: String
    /// The zone's origin (not the current `$ORIGIN`).
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

    /// How `$INCLUDE` reads files; nil: `$INCLUDE` is an error.
    let access: ZoneFileAccess?
    /// The `$INCLUDE` directives that led to the current file, innermost first.
    var includedFrom: [ZoneIssue.Site] = []
    /// Real paths of the files being read, outermost first: one seen twice is an include loop.
    var fileStack: [String]
    /// Files read by `$INCLUDE`, once each, in order.
    var includedFiles: [String] = []
    /// `$INCLUDE` directives followed so far (`Limits.maxIncludesPerZone`).
    var includeCount = 0
    /// Records and characters `$GENERATE` produced so far (`Limits.maxGeneratedRecordsPerZone`,
    /// `Limits.maxGeneratedTextPerZone`).
    var generatedRecords = 0
    var generatedText = 0
    /// The per-zone `$GENERATE` budgets (smaller in tests).
    var maxGeneratedRecords = Limits.maxGeneratedRecordsPerZone
    var maxGeneratedText = Limits.maxGeneratedTextPerZone

    init(file: String, origin: DomainName, access: ZoneFileAccess? = nil) {
        self.file = file
        self.zoneOrigin = origin
        self.origin = origin
        self.access = access
        self.fileStack = [ZonePath.normalize(file)]
    }

    mutating func issue(_ code: ZoneIssue.Code, _ line: Int, _ message: String) {
        issues.append(ZoneIssue(code, file: file, line: line, message, includedFrom: includedFrom))
    }

    mutating func warn(_ code: ZoneIssue.Code, _ line: Int?, _ message: String) {
        warnings.append(ZoneIssue(code, file: file, line: line, message, includedFrom: includedFrom))
    }

    /// Where a record read now, at `line`, comes from.
    func place(_ line: Int) -> RecordPlace {
        RecordPlace(file: file, line: line, includedFrom: includedFrom)
    }

    mutating func run(_ text: String) {
        var lexIssues: [ZoneIssue] = []
        let entries = ZoneLexer.entries(of: text, file: file, issues: &lexIssues)
        for var i in lexIssues {
            i.includedFrom = includedFrom
            issues.append(i)
        }
        for entry in entries {
            let first = entry.tokens[0]
            if !entry.startsWithBlank && !first.quoted && first.bytes.first == UInt8(ascii: "$") {
                directive(entry)
            } else {
                record(entry)
            }
        }
        // Lexer issues were appended as found; keep all issues in document order.
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
            include(entry)
        case "$GENERATE":
            generate(entry)
        default:
            issue(.unsupportedDirective, entry.line, "unknown directive \(t[0].shown)")
        }
    }

    // MARK: Records

    /// `[TTL] [class] type` or `[class] [TTL] type` starting at `t[start]` (RFC 1035 §5.1): the
    /// TTL if written, the type, and the index after the type; nil after reporting a problem.
    /// Only class IN is accepted; meta types cannot be zone data.
    mutating func recordHeader(_ t: [ZoneToken], from start: Int, owner: String)
        -> (ttl: UInt32?, type: RecordType, next: Int)? {
        var idx = start
        var ttl: UInt32?
        var rclass: RecordClass?
        while idx < t.count, !t[idx].quoted, ttl == nil || rclass == nil {
            let tok = t[idx]
            if ttl == nil, let c = tok.bytes.first, isDigit(c) {
                switch parseTTL(tok) {
                case .success(let v): ttl = v
                case .failure(let p):
                    issue(.badTTL, tok.line, p.message)
                    return nil
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
            return nil
        }
        let typeToken = t[idx]
        guard !typeToken.quoted, let type = RecordType(zoneText: typeToken.text) else {
            issue(.badType, typeToken.line, "unknown record type \(typeToken.shown)")
            return nil
        }
        if let rclass, rclass != .in {
            issue(.unsupportedClass, t[0].line, "class \(rclass) is not supported (only IN) for \(owner) \(type)")
            return nil
        }
        if type.isMetaType || type.rawValue == 0 {
            issue(.badType, typeToken.line, "type \(type) cannot appear in zone data")
            return nil
        }
        return (ttl, type, idx + 1)
    }

    /// The TTL of a record with `explicit` TTL (or none) and `rdata`: explicit, else `$TTL`, else
    /// the last explicit TTL, else an SOA's own MINIMUM; nil when only the apex SOA can tell later.
    mutating func effectiveTTL(_ explicit: UInt32?, _ rdata: RData, line: Int) -> UInt32? {
        if let explicit {
            lastTTL = explicit
            return explicit
        } else if let defaultTTL {
            return defaultTTL
        } else if let lastTTL {
            return lastTTL
        } else if case .soa(let soa) = rdata {
            lastTTL = soa.minimum
            warn(.ttl, line, "no TTL and no $TTL: using the SOA MINIMUM \(soa.minimum) (RFC 2308 §4)")
            return soa.minimum
        }
        return nil
    }

    /// DNAME loads (as RFC 3597 data) but its redirection is not implemented: say so.
    mutating func warnIfDNAME(_ rdata: RData, at owner: DomainName, line: Int) {
        if case .unknown(let ut, _) = rdata, ut == .dname {
            warn(.unsupportedSemantics, line, "DNAME at \(owner) is served as plain data; names below it are not rewritten (RFC 6672)")
        }
    }

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

        guard let (ttl, type, next) = recordHeader(t, from: idx, owner: "\(owner)") else { return }
        let rdata: RData
        switch RDataTextParser.parse(type: type, tokens: t[next...], origin: origin, line: t[next - 1].line) {
        case .success(let r): rdata = r
        case .failure(let failure):
            issue(failure.code, failure.line, failure.message)
            return
        }
        warnIfDNAME(rdata, at: owner, line: entry.line)
        let effective = effectiveTTL(ttl, rdata, line: entry.line)
        records.append(LocatedRecord(record: ResourceRecord(name: owner, rclass: .in, ttl: effective ?? 0, rdata: rdata),
                                     place: place(entry.line), ttlPending: effective == nil))
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
                issues.append(records[i].place.issue(.ttl, zoneFile: file, "no TTL for \(records[i].record.name) \(records[i].record.type), no $TTL and no SOA to take a default from"))
                continue
            }
            records[i].record.ttl = soaMinimum
            records[i].ttlPending = false
            if !warned {
                warned = true
                warnings.append(records[i].place.issue(.ttl, zoneFile: file,
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

/// Sorts issues into document order (by line, an included file's issues at its `$INCLUDE` line),
/// keeping the original order among equal positions and putting line-less ones last.
func stableSortedByLine(_ issues: [ZoneIssue]) -> [ZoneIssue] {
    issues.enumerated().sorted { a, b in
        let pa = a.element.documentPosition, pb = b.element.documentPosition
        return pa != pb ? pa.lexicographicallyPrecedes(pb) : a.offset < b.offset
    }.map(\.element)
}

/// A readable reason a token was rejected.
struct TextProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
