/// One token of a master file (RFC 1035 §5.1): a run of non-blank characters or a quoted string.
///
/// Escapes are kept raw (`\.`, `\DDD`) so names can be handed to `DomainName(parsing:)`, which
/// has its own escape handling; character-strings are unescaped with `decodeCharacterString()`.
struct ZoneToken: Sendable {
    /// Raw bytes; for a quoted token, the bytes between the quotes.
    var bytes: [UInt8]
    /// The token was written in double quotes.
    var quoted: Bool
    /// 1-based line the token starts on.
    var line: Int

    /// The raw token as text, for messages and for name parsing.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The token in double quotes, for messages (`bad IPv4 address "192.0.2.300"`).
    var shown: String { "\"\(text)\"" }

    /// The token is the unquoted word `word` (ASCII case-insensitive).
    func isWord(_ word: String) -> Bool {
        !quoted && bytes.count == word.utf8.count && zip(bytes, word.utf8).allSatisfy { asciiLowerByte($0) == asciiLowerByte($1) }
    }

    /// Unescapes a <character-string> (RFC 1035 §5.1): `\X` is X, `\DDD` is the octet DDD.
    func decodeCharacterString() -> Result<[UInt8], ZoneLexer.EscapeError> {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < bytes.count else { return .failure(.dangling) }
            let n = bytes[i + 1]
            if isDigit(n) {
                guard i + 3 < bytes.count, isDigit(bytes[i + 2]), isDigit(bytes[i + 3]) else {
                    return .failure(.shortDecimal)
                }
                let v = Int(n - 48) * 100 + Int(bytes[i + 2] - 48) * 10 + Int(bytes[i + 3] - 48)
                guard v <= 255 else { return .failure(.decimalTooLarge) }
                out.append(UInt8(v))
                i += 4
            } else {
                out.append(n)
                i += 2
            }
        }
        return .success(out)
    }
}

/// One logical entry: the tokens of one line, or of several lines joined by parentheses.
struct ZoneEntry: Sendable {
    /// The tokens, in order.
    var tokens: [ZoneToken]
    /// Line of the first token.
    var line: Int
    /// The entry's first line begins with a blank: the owner is omitted (RFC 1035 §5.1).
    var startsWithBlank: Bool
}

/// Splits master-file text into entries (RFC 1035 §5.1): `;` comments, `( )` grouping across
/// lines, quoted strings, backslash escapes. Lexing problems are reported per entry and the entry
/// is dropped, so one bad line does not hide the rest of the file.
enum ZoneLexer {
    /// Malformed escape inside a character-string.
    enum EscapeError: Error {
        case dangling, shortDecimal, decimalTooLarge

        var message: String {
            switch self {
            case .dangling: return "dangling backslash"
            case .shortDecimal: return "\\DDD escape needs three digits"
            case .decimalTooLarge: return "\\DDD escape above 255"
            }
        }
    }

    /// Tokenizes `text`; problems are appended to `issues` with their line.
    static func entries(of text: String, file: String, issues: inout [ZoneIssue]) -> [ZoneEntry] {
        let b = Array(text.utf8)
        let n = b.count
        var entries: [ZoneEntry] = []
        var tokens: [ZoneToken] = []
        var broken = false
        var depth = 0
        var parenLine = 0
        var line = 1
        var lineStartsBlank = n > 0 && isBlank(b[0])
        var entryStartsBlank = false
        var i = 0

        func finishEntry() {
            if !tokens.isEmpty && !broken {
                entries.append(ZoneEntry(tokens: tokens, line: tokens[0].line, startsWithBlank: entryStartsBlank))
            }
            tokens.removeAll(keepingCapacity: true)
            broken = false
        }
        func add(_ token: ZoneToken) {
            if tokens.isEmpty { entryStartsBlank = lineStartsBlank }
            tokens.append(token)
        }

        while i < n {
            let c = b[i]
            switch c {
            case UInt8(ascii: "\n"):
                line += 1
                i += 1
                lineStartsBlank = i < n && isBlank(b[i])
                if depth == 0 { finishEntry() }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                i += 1
            case UInt8(ascii: ";"):
                while i < n && b[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "("):
                if depth > 0 {
                    // BIND rejects nesting too; keep counting so the closing ')' still balance.
                    issues.append(ZoneIssue(.syntax, file: file, line: line, "nested '(' (the one on line \(parenLine) is still open)"))
                    broken = true
                } else {
                    parenLine = line
                }
                depth += 1
                i += 1
            case UInt8(ascii: ")"):
                if depth == 0 {
                    issues.append(ZoneIssue(.syntax, file: file, line: line, "')' without a matching '('"))
                    broken = true
                } else {
                    depth -= 1
                }
                i += 1
            case UInt8(ascii: "\""):
                let startLine = line
                var j = i + 1
                var closed = false
                while j < n {
                    let d = b[j]
                    if d == UInt8(ascii: "\n") { break }
                    if d == UInt8(ascii: "\\") && j + 1 < n && b[j + 1] != UInt8(ascii: "\n") {
                        j += 2
                        continue
                    }
                    if d == UInt8(ascii: "\"") { closed = true; break }
                    j += 1
                }
                if closed {
                    add(ZoneToken(bytes: Array(b[(i + 1)..<j]), quoted: true, line: startLine))
                    i = j + 1
                } else {
                    issues.append(ZoneIssue(.syntax, file: file, line: startLine, "unterminated quoted string"))
                    broken = true
                    i = j
                }
            default:
                let start = i
                while i < n {
                    let d = b[i]
                    if d == UInt8(ascii: "\\") {
                        // An escape keeps the next character in the token, even a delimiter.
                        i += (i + 1 < n && b[i + 1] != UInt8(ascii: "\n")) ? 2 : 1
                        continue
                    }
                    if isBlank(d) || d == UInt8(ascii: "\n") || d == UInt8(ascii: "\r") || d == UInt8(ascii: ";")
                        || d == UInt8(ascii: "(") || d == UInt8(ascii: ")") || d == UInt8(ascii: "\"") {
                        break
                    }
                    i += 1
                }
                add(ZoneToken(bytes: Array(b[start..<i]), quoted: false, line: line))
            }
        }
        if depth > 0 {
            issues.append(ZoneIssue(.syntax, file: file, line: parenLine, "'(' is never closed"))
            broken = true
        }
        finishEntry()
        return entries
    }
}

@inline(__always)
func isBlank(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") }

@inline(__always)
func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

@inline(__always)
func asciiLowerByte(_ c: UInt8) -> UInt8 { (c >= 0x41 && c <= 0x5a) ? c | 0x20 : c }
