/// A small, strict JSON reader for admin request bodies (RFC 8259), used instead of
/// `JSONDecoder` because the admin API must refuse what `JSONDecoder` quietly accepts:
/// duplicate object keys (which value wins differs between parsers, so a proxy and this server
/// could disagree about what a request says) — compared after unescaping, so `"lo\u0061d"` is
/// `"load"`. Numbers keep their source text, so callers can refuse `-0` and check the grammar.
///
/// Bounded (STYLE §10): nesting depth and the number of values are limited; the body size is
/// limited before this runs.
enum StrictJSON: Equatable {
    case object([(key: String, value: StrictJSON)])
    case array([StrictJSON])
    case string(String)
    /// The number exactly as written (RFC 8259 §6 grammar, already checked).
    case number(String)
    case bool(Bool)
    case null

    static func == (a: StrictJSON, b: StrictJSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Deepest nesting accepted.
    static let maxDepth = 8
    /// Most values (of any kind) accepted in one document.
    static let maxValues = 16_384

    /// Why a document was refused (the message names the byte offset).
    struct Failure: Error, Equatable {
        var message: String
    }

    /// Parses one complete document (surrounding whitespace allowed).
    static func parse(_ bytes: [UInt8]) throws(Failure) -> StrictJSON {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw parser.failure("trailing data") }
        return value
    }

    /// The value of `key` in an object (keys are unique, so there is at most one).
    subscript(key: String) -> StrictJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    private struct Parser {
        let bytes: [UInt8]
        var offset = 0
        var values = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func failure(_ what: String) -> Failure { Failure(message: "invalid JSON at byte \(offset): \(what)") }

        mutating func skipSpace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String) throws(Failure) {
            for b in literal.utf8 {
                guard offset < bytes.count, bytes[offset] == b else { throw failure("expected '\(literal)'") }
                offset += 1
            }
        }

        mutating func value(depth: Int) throws(Failure) -> StrictJSON {
            guard depth <= StrictJSON.maxDepth else { throw failure("nested deeper than \(StrictJSON.maxDepth)") }
            values += 1
            guard values <= StrictJSON.maxValues else { throw failure("more than \(StrictJSON.maxValues) values") }
            guard offset < bytes.count else { throw failure("unexpected end") }
            switch bytes[offset] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int) throws(Failure) -> StrictJSON {
            offset += 1
            var members: [(key: String, value: StrictJSON)] = []
            var seen: Set<String> = []
            skipSpace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object([]) }
            while true {
                skipSpace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                let keyOffset = offset
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw Failure(message: "invalid JSON at byte \(keyOffset): duplicate key '\(key)'")
                }
                skipSpace()
                try expect(":")
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard offset < bytes.count else { throw failure("unterminated object") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                if bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object(members) }
                throw failure("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws(Failure) -> StrictJSON {
            offset += 1
            var items: [StrictJSON] = []
            skipSpace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array([]) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard offset < bytes.count else { throw failure("unterminated array") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                if bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array(items) }
                throw failure("expected ',' or ']'")
            }
        }

        /// A string per RFC 8259 §7: no raw control characters, only the listed escapes, valid
        /// UTF-8 and surrogate pairs. Decoded into UTF-8 bytes and validated once at the closing quote
        /// (a string without escapes, the usual case, is validated in place, no copy): an
        /// escape always decodes to a whole UTF-8 sequence, so a raw byte sequence cut by an
        /// escape stays invalid, as it should.
        mutating func string() throws(Failure) -> String {
            offset += 1
            var decoded: [UInt8] = []
            var run = offset
            while offset < bytes.count {
                let b = bytes[offset]
                switch b {
                case UInt8(ascii: "\""):
                    let text: String?
                    if decoded.isEmpty {
                        text = String(validating: bytes[run..<offset], as: UTF8.self)
                    } else {
                        decoded.append(contentsOf: bytes[run..<offset])
                        text = String(validating: decoded, as: UTF8.self)
                    }
                    offset += 1
                    guard let text else { throw Failure(message: "invalid UTF-8 in a string") }
                    return text
                case UInt8(ascii: "\\"):
                    decoded.append(contentsOf: bytes[run..<offset])
                    offset += 1
                    guard offset < bytes.count else { break }
                    let e = bytes[offset]
                    offset += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(e)
                    case UInt8(ascii: "b"): decoded.append(0x08)
                    case UInt8(ascii: "f"): decoded.append(0x0C)
                    case UInt8(ascii: "n"): decoded.append(0x0A)
                    case UInt8(ascii: "r"): decoded.append(0x0D)
                    case UInt8(ascii: "t"): decoded.append(0x09)
                    case UInt8(ascii: "u"):
                        var unit = try hex4()
                        if (0xD800...0xDBFF).contains(unit) {
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate") }
                            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(unit) {
                            throw failure("unpaired surrogate")
                        }
                        guard let scalar = Unicode.Scalar(unit) else { throw failure("invalid escape") }
                        UTF8.encode(scalar) { decoded.append($0) }
                    default:
                        throw failure("invalid escape")
                    }
                    run = offset
                default:
                    guard b >= 0x20 else { throw failure("control character in a string") }
                    offset += 1
                }
            }
            throw failure("unterminated string")
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard offset < bytes.count, let digit = Self.hexValue(bytes[offset]) else { throw failure("bad \\u escape") }
                value = value << 4 | digit
                offset += 1
            }
            return value
        }

        static func hexValue(_ b: UInt8) -> UInt32? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` — RFC 8259 §6; no hex, no
        /// leading `+`, no `Infinity`/`NaN`.
        mutating func number() throws(Failure) -> String {
            let start = offset
            func digits() -> Int {
                let s = offset
                while offset < bytes.count, bytes[offset] >= UInt8(ascii: "0"), bytes[offset] <= UInt8(ascii: "9") { offset += 1 }
                return offset - s
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard offset < bytes.count else { throw failure("expected a value") }
            if bytes[offset] == UInt8(ascii: "0") {
                offset += 1
            } else {
                guard digits() > 0 else { throw failure("expected a value") }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw failure("expected digits after '.'") }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
                guard digits() > 0 else { throw failure("expected exponent digits") }
            }
            // A number must end at a delimiter ("0x1p-1" stops after "0" and fails here).
            if offset < bytes.count, ![0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[offset]) {
                throw failure("not a JSON number")
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }
    }
}
