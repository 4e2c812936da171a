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
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        func only(_ wanted: String, _ call: DDNSCall) -> DDNSCall {
            method == wanted ? call : .methodNotAllowed(allowed: wanted)
        }
        switch segments.count {
        case 1:
            switch segments[0] {
            case "ping": self = only("GET", .ping)
            case "ip": self = only("GET", .ip)
            case "silos": self = only("GET", .listSilos)
            default: self = .unknown
            }
        case 2 where segments[0] == "silos":
            let id = DDNSCall.percentDecoded(segments[1]) ?? String(segments[1])
            switch method {
            case "GET": self = .getSilo(id)
            case "PUT": self = .putSilo(id)
            case "DELETE": self = .deleteSilo(id)
            default: self = .methodNotAllowed(allowed: "GET, PUT, DELETE")
            }
        case 2 where segments[0] == "nic" && segments[1] == "update":
            self = only("GET", .dyndns2)
        case 3 where segments[0] == "silos" && segments[2] == "token":
            self = only("POST", .makeToken(DDNSCall.percentDecoded(segments[1]) ?? String(segments[1])))
        default:
            self = .unknown
        }
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
