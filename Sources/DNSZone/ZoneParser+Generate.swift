import DNSWire

extension ParserState {
    /// BIND's `$GENERATE range owner [ttl] [class] type rdata`: one record per value of the range,
    /// `$` in the owner and RDATA replaced by the value (`GenerateTemplate`).
    ///
    /// As BIND 9 reads it: `range` is `start-stop[/step]` with 0 ≤ start ≤ stop ≤ 2^31 - 1 and
    /// step ≥ 1; TTL and class may come in either order and follow the usual TTL rules; the RDATA
    /// is one field (quote it when it holds blanks: `MX "10 mx$"`), and after substitution is read
    /// like any record's RDATA, so every type with a text form here can be generated. `$GENERATE`
    /// does not change the previous owner. Bounded by `Limits.maxGenerateRecords` per directive and
    /// `Limits.maxGeneratedRecordsPerZone` / `Limits.maxGeneratedTextPerZone` per zone; the first
    /// value that does not make a valid record stops the directive with one error at its line.
    /// (Knot 3.2 does not read `$GENERATE`: "invalid directive".)
    mutating func generate(_ entry: ZoneEntry) {
        let t = entry.tokens
        let line = entry.line
        let usage = "$GENERATE start-stop[/step] owner [ttl] [class] type rdata"
        guard t.count >= 5 else {
            issue(.generate, line, "$GENERATE needs a range, an owner, a type and RDATA: \(usage)")
            return
        }
        guard let range = GenerateRange(t[1]) else {
            issue(.generate, t[1].line, "bad $GENERATE range \(t[1].shown): expected start-stop[/step] with 0 <= start <= stop <= 2147483647 and step >= 1")
            return
        }
        guard !t[2].quoted else {
            issue(.generate, t[2].line, "the $GENERATE owner \(t[2].shown) cannot be a quoted string")
            return
        }
        guard let (ttl, type, next) = recordHeader(t, from: 3, owner: t[2].text) else { return }
        guard next < t.count else {
            issue(.generate, t[next - 1].line, "$GENERATE needs RDATA after the type: \(usage)")
            return
        }
        guard next == t.count - 1 else {
            issue(.generate, t[next + 1].line, "$GENERATE takes the RDATA as one field; quote it when it has blanks, e.g. \"10 mail$\" (unexpected \(t[next + 1].shown))")
            return
        }
        let owner: GenerateTemplate, rdata: GenerateTemplate
        do throws(TextProblem) {
            owner = try GenerateTemplate(t[2].bytes)
            // As BIND's lexer: inside quotes, \" is a quote; every other escape stays for the RDATA parser.
            rdata = try GenerateTemplate(t[next].quoted ? unescapeQuotes(t[next].bytes) : t[next].bytes)
        } catch {
            issue(.generate, line, "bad $GENERATE template: \(error.message)")
            return
        }
        let count = range.count
        guard count <= Limits.maxGenerateRecords else {
            issue(.generate, t[1].line, "$GENERATE range \(t[1].shown) makes \(count) records; at most \(Limits.maxGenerateRecords) per directive")
            return
        }
        guard generatedRecords + count <= maxGeneratedRecords else {
            issue(.generate, t[1].line, "$GENERATE would take the zone past \(maxGeneratedRecords) generated records")
            return
        }
        generatedRecords += count

        var ownerText: [UInt8] = [], rdataText: [UInt8] = []
        var lexIssues: [ZoneIssue] = []
        var generated: [LocatedRecord] = []
        generated.reserveCapacity(count)
        let place = place(line)
        for value in stride(from: range.start, through: range.stop, by: range.step) {
            ownerText.removeAll(keepingCapacity: true)
            rdataText.removeAll(keepingCapacity: true)
            do throws(TextProblem) {
                try owner.render(value, into: &ownerText)
                try rdata.render(value, into: &rdataText)
            } catch {
                issue(.generate, line, "$GENERATE at \(value): \(error.message)")
                return
            }
            generatedText += ownerText.count + rdataText.count
            guard generatedText <= maxGeneratedText else {
                issue(.generate, line, "$GENERATE would expand the zone's templates past \(maxGeneratedText) characters")
                return
            }
            let name: DomainName
            switch parseDomainName(ZoneToken(bytes: ownerText, quoted: false, line: line), origin: origin) {
            case .success(let n): name = n
            case .failure(let p):
                issue(.generate, line, "$GENERATE at \(value): bad owner name \"\(String(decoding: ownerText, as: UTF8.self))\": \(p.message)")
                return
            }
            let entries = ZoneLexer.entries(of: String(decoding: rdataText, as: UTF8.self), file: file, issues: &lexIssues)
            guard lexIssues.isEmpty, entries.count == 1 else {
                let why = lexIssues.first?.message ?? "the RDATA is empty or spans lines"
                issue(.generate, line, "$GENERATE at \(value): RDATA \"\(String(decoding: rdataText, as: UTF8.self))\": \(why)")
                return
            }
            let tokens = entries[0].tokens.map { ZoneToken(bytes: $0.bytes, quoted: $0.quoted, line: line) }
            let parsed: RData
            switch RDataTextParser.parse(type: type, tokens: tokens[...], origin: origin, line: line) {
            case .success(let r): parsed = r
            case .failure(let failure):
                issue(failure.code == .badType ? .badType : .generate, line, "$GENERATE at \(value): \(failure.message)")
                return
            }
            if value == range.start { warnIfDNAME(parsed, at: name, line: line) }
            let effective = effectiveTTL(ttl, parsed, line: line)
            generated.append(LocatedRecord(record: ResourceRecord(name: name, rclass: .in, ttl: effective ?? 0, rdata: parsed),
                                           place: place, ttlPending: effective == nil))
        }
        records += generated
    }

    /// `\"` → `"`, every other byte as written (BIND's lexer inside a quoted string).
    func unescapeQuotes(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count {
                if bytes[i + 1] != UInt8(ascii: "\"") { out.append(bytes[i]) }
                out.append(bytes[i + 1])
                i += 2
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }
}

/// `start-stop[/step]` of a `$GENERATE` (BIND: non-negative 32-bit signed values, start ≤ stop).
struct GenerateRange: Equatable {
    var start: Int
    var stop: Int
    var step: Int

    /// Values the range yields.
    var count: Int { (stop - start) / step + 1 }

    init?(_ token: ZoneToken) {
        guard !token.quoted else { return nil }
        let text = token.text
        let (bounds, stepText): (Substring, Substring?) = {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            return (parts[0], parts.count == 2 ? parts[1] : nil)
        }()
        let ends = bounds.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard ends.count == 2, let start = GenerateRange.number(ends[0]), let stop = GenerateRange.number(ends[1]),
              start <= stop else { return nil }
        var step = 1
        if let stepText {
            guard let s = GenerateRange.number(stepText), s >= 1 else { return nil }
            step = s
        }
        self.start = start
        self.stop = stop
        self.step = step
    }

    init(start: Int, stop: Int, step: Int) {
        self.start = start
        self.stop = stop
        self.step = step
    }

    /// Decimal digits only, at most 2^31 - 1.
    static func number(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.utf8.count <= 10, s.utf8.allSatisfy(isDigit), let v = Int(s), v <= Int(Int32.max) else { return nil }
        return v
    }
}

/// The owner or RDATA template of a `$GENERATE`, as BIND 9's `genname` reads it: `$` is the
/// value; `${offset}`, `${offset,width}` and `${offset,width,base}` add a signed offset, pad with
/// zeros to `width`, and print in base `d` (decimal), `o` (octal), `x`/`X` (hex), or `n`/`N`
/// (nibbles: hex digits least significant first, one per label, the width counting the dots, as
/// in reverse IPv6 names); `$$` and `\$` are a literal dollar (a backslash escape is kept for the
/// name or RDATA parser, which reads `\$` as `$`).
struct GenerateTemplate {
    enum Piece: Equatable {
        case text([UInt8])
        case value(offset: Int, width: Int, base: UInt8)
    }

    var pieces: [Piece] = []

    init(_ bytes: [UInt8]) throws(TextProblem) {
        var literal: [UInt8] = []
        func flush(_ pieces: inout [Piece]) {
            if !literal.isEmpty { pieces.append(.text(literal)) }
            literal.removeAll()
        }
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if c == UInt8(ascii: "\\") {
                literal.append(c)
                if i + 1 < n { literal.append(bytes[i + 1]) }
                i += 2
                continue
            }
            guard c == UInt8(ascii: "$") else {
                literal.append(c)
                i += 1
                continue
            }
            i += 1
            if i < n, bytes[i] == UInt8(ascii: "$") {
                literal.append(c)
                i += 1
                continue
            }
            flush(&pieces)
            guard i < n, bytes[i] == UInt8(ascii: "{") else {
                pieces.append(.value(offset: 0, width: 0, base: UInt8(ascii: "d")))
                continue
            }
            guard let close = bytes[i...].firstIndex(of: UInt8(ascii: "}")) else {
                throw TextProblem("\"${\" without a closing \"}\"")
            }
            let inner = String(decoding: bytes[(i + 1)..<close], as: UTF8.self)
            let shown = "\"${\(inner)}\""
            let fields = inner.split(separator: ",", omittingEmptySubsequences: false)
            guard (1...3).contains(fields.count) else {
                throw TextProblem("bad modifier \(shown): expected ${offset[,width[,base]]}")
            }
            guard let offset = GenerateTemplate.signed(fields[0]) else {
                throw TextProblem("bad offset in \(shown): expected a decimal number such as -20 or 5")
            }
            var width = 0
            if fields.count >= 2 {
                guard !fields[1].isEmpty, fields[1].utf8.allSatisfy(isDigit), fields[1].utf8.count <= 5, let w = Int(fields[1]) else {
                    throw TextProblem("bad width in \(shown): expected a decimal number")
                }
                guard w <= Limits.maxGenerateWidth else {
                    throw TextProblem("width \(w) in \(shown) exceeds \(Limits.maxGenerateWidth)")
                }
                width = w
            }
            var base = UInt8(ascii: "d")
            if fields.count == 3 {
                guard fields[2].utf8.count == 1, let b = fields[2].utf8.first, "doxXnN".utf8.contains(b) else {
                    throw TextProblem("bad base in \(shown): expected one of d, o, x, X, n, N")
                }
                base = b
            }
            pieces.append(.value(offset: offset, width: width, base: base))
            i = close + 1
        }
        flush(&pieces)
    }

    /// An optionally signed decimal of at most 10 digits, within 32-bit range.
    static func signed(_ s: Substring) -> Int? {
        var digits = s
        var negative = false
        if let f = digits.first, f == "-" || f == "+" {
            negative = f == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.utf8.count <= 10, digits.utf8.allSatisfy(isDigit), let v = Int(digits),
              v <= Int(Int32.max) else { return nil }
        return negative ? -v : v
    }

    /// Appends the template for `value` to `out`.
    func render(_ value: Int, into out: inout [UInt8]) throws(TextProblem) {
        for piece in pieces {
            switch piece {
            case .text(let bytes):
                out += bytes
            case .value(let offset, let width, let base):
                let v = value + offset
                guard v <= Int(Int32.max) else {
                    throw TextProblem("\(value) + offset \(offset) exceeds 2147483647")
                }
                guard v >= 0 || base == UInt8(ascii: "d") else {
                    throw TextProblem("\(value) + offset \(offset) is negative; only base d can show it")
                }
                GenerateTemplate.format(v, width: width, base: base, into: &out)
            }
        }
    }

    static func format(_ v: Int, width: Int, base: UInt8, into out: inout [UInt8]) {
        switch base {
        case UInt8(ascii: "n"), UInt8(ascii: "N"):
            // BIND's nibbles(): least significant nibble first, "." between nibbles, zero nibbles
            // (and dots) until `width` characters are written.
            let digits = Array((base == UInt8(ascii: "n") ? "0123456789abcdef" : "0123456789ABCDEF").utf8)
            var value = v
            var width = width
            repeat {
                out.append(digits[value & 0x0f])
                value >>= 4
                if width > 0 { width -= 1 }
                if width > 0 || value != 0 {
                    out.append(UInt8(ascii: "."))
                    if width > 0 { width -= 1 }
                }
            } while value != 0 || width > 0
        default:
            let radix = base == UInt8(ascii: "o") ? 8 : (base == UInt8(ascii: "d") ? 10 : 16)
            let digits = Array(String(abs(v), radix: radix, uppercase: base == UInt8(ascii: "X")).utf8)
            let sign = v < 0 ? 1 : 0
            if sign == 1 { out.append(UInt8(ascii: "-")) }
            let pad = width - sign - digits.count
            if pad > 0 { out += repeatElement(UInt8(ascii: "0"), count: pad) }
            out += digits
        }
    }
}
