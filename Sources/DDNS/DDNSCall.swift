// Routing and URL decoding of the DDNS API (`DDNSRequestHandler`). Pure (no NIO types), so
// fuzz-ddns compiles this file itself.

/// What a request asks the DDNS API for, from its method and path (docs/ddns.md, "The API").
enum DDNSCall: Equatable {
    case ping
    case ip
    case listSilos
    case getSilo(String)
    case putSilo(String)
    case deleteSilo(String)
    case makeToken(String)
    case dyndns2
    /// A path the API serves, with a method it does not (405); the methods it allows.
    case methodNotAllowed(allowed: String)
    /// No such path (404).
    case unknown

    /// Routes `method` (as sent: methods are case-sensitive, RFC 9110 §9.1) and `path` (the
    /// request target before `?`; empty segments are ignored, so a trailing slash is the same
    /// call; a silo id is percent-decoded).
    init(method: String, path: Substring) {
        // Split as bytes: "/" is ASCII, so UTF-8 segments are the text's segments, without
        // Character (grapheme) iteration on a path every request routes.
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        func only(_ wanted: String, _ call: DDNSCall) -> DDNSCall {
            method == wanted ? call : .methodNotAllowed(allowed: wanted)
        }
        func id(_ segment: Substring.UTF8View.SubSequence) -> String {
            let text = Substring(segment)
            return DDNSCall.percentDecoded(text) ?? String(text)
        }
        func segment(_ index: Int, is word: StaticString) -> Bool {
            segments[index].elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        }
        switch segments.count {
        case 1:
            if segment(0, is: "ping") {
                self = only("GET", .ping)
            } else if segment(0, is: "ip") {
                self = only("GET", .ip)
            } else if segment(0, is: "silos") {
                self = only("GET", .listSilos)
            } else {
                self = .unknown
            }
        case 2 where segment(0, is: "silos"):
            let id = id(segments[1])
            switch method {
            case "GET": self = .getSilo(id)
            case "PUT": self = .putSilo(id)
            case "DELETE": self = .deleteSilo(id)
            default: self = .methodNotAllowed(allowed: "GET, PUT, DELETE")
            }
        case 2 where segment(0, is: "nic") && segment(1, is: "update"):
            self = only("GET", .dyndns2)
        case 3 where segment(0, is: "silos") && segment(2, is: "token"):
            self = only("POST", .makeToken(id(segments[1])))
        default:
            self = .unknown
        }
    }

    /// Where the path of a request target ends: at its first `?` or `#`.
    static func pathEnd(_ target: String) -> String.Index {
        target.utf8.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? target.endIndex
    }

    /// `text` with `%XX` escapes decoded (RFC 3986 §2.1); nil when an escape is malformed or
    /// the result is not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The first value of `key` in a query string (`a=1&b=2`), percent-decoded; `+` is a space
    /// (HTML form encoding, as some routers send it). nil when absent or malformed.
    static func queryValue(_ query: Substring, _ key: String) -> String? {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: "=") ?? pair.endIndex
            guard pair[..<equals] == key else { continue }
            let raw = equals == pair.endIndex ? "" : pair[pair.index(after: equals)...]
            return percentDecoded(Substring(raw.replacing("+", with: " ")))
        }
        return nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
