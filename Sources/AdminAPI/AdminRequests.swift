import DNSWire
import Foundation
import GeoRouting

/// One validated load report from a `POST /load` body.
public struct LoadSubmission: Hashable, Sendable {
    /// The reporting backend.
    public var address: IPAddress
    /// Its load: finite and ≥ 0 (a fraction 0...1 or a percentage, as the reporter sends it).
    public var load: Double

    /// Creates a submission.
    public init(address: IPAddress, load: Double) {
        self.address = address
        self.load = load
    }
}

/// The media types the admin API accepts in request bodies.
public enum AdminBodyType: Equatable, Sendable {
    /// `application/json` (parameters such as `charset` are allowed).
    case json
    /// `application/x-www-form-urlencoded`: only `POST /load`'s legacy `ip=…&load=…` form.
    case form

    /// The body type named by a `Content-Type` header, or nil for anything else (including no
    /// header, `text/plain` and `multipart/form-data`: what a web page can send cross-origin
    /// without a CORS preflight besides the form).
    public init?(contentType: String?) {
        guard let contentType else { return nil }
        let type = contentType.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        switch type {
        case "application/json": self = .json
        case "application/x-www-form-urlencoded": self = .form
        default: return nil
        }
    }
}

/// Parses admin request bodies into typed values, once, at the boundary (STYLE §2).
///
/// Strict on purpose: a body that two parsers could read differently (duplicate keys or fields,
/// `-0`, hex floats such as `0x1p-1` that `Double.init` accepts) is refused with 400 rather than
/// interpreted.
public enum AdminRequestParser {
    /// At most this many reports in one batch body.
    public static let maxBatch = 1024

    /// Parses a `POST /load` body: `application/x-www-form-urlencoded` `ip=…&load=…` (what existing
    /// reporters send), JSON `{"ip": "…", "load": 0.42}`, or a JSON array of such objects. Any other
    /// content type (or none) is refused with 415.
    public static func parseLoad(body: [UInt8], contentType: String?) throws(AdminAPIError) -> [LoadSubmission] {
        switch AdminBodyType(contentType: contentType) {
        case nil:
            throw unsupported(contentType, allowed: "application/json or application/x-www-form-urlencoded")
        case .form:
            let fields = try parseForm(body)
            guard let ip = fields["ip"] else { throw AdminAPIError(.badRequest, "missing 'ip' field") }
            guard let loadText = fields["load"] else { throw AdminAPIError(.badRequest, "missing 'load' field") }
            return [try validated(ip: ip, loadText: loadText.trimmingCharacters(in: .whitespaces))]
        case .json:
            let document = try json(body)
            let objects: [StrictJSON]
            if case .array(let items) = document { objects = items } else { objects = [document] }
            guard !objects.isEmpty else { throw AdminAPIError(.badRequest, "empty batch") }
            guard objects.count <= maxBatch else {
                throw AdminAPIError(.badRequest, "batch of \(objects.count) reports exceeds \(maxBatch)")
            }
            var result: [LoadSubmission] = []
            for object in objects {
                guard case .string(let ip)? = object["ip"], case .number(let load)? = object["load"] else {
                    throw AdminAPIError(.badRequest,
                        #"JSON body must be {"ip": "<address>", "load": <number>} or an array of those"#)
                }
                result.append(try validated(ip: ip, loadText: load))
            }
            return result
        }
    }

    /// Parses a `POST /backends/{ip}/force` body: JSON `{"state": "up"|"down"|"none"}` only (415
    /// for anything else). `none` clears the override (nil).
    public static func parseForce(body: [UInt8], contentType: String?) throws(AdminAPIError) -> ForcedHealth? {
        guard AdminBodyType(contentType: contentType) == .json else {
            throw unsupported(contentType, allowed: "application/json")
        }
        guard case .string(let text)? = try json(body)["state"] else {
            throw AdminAPIError(.badRequest, #"body must be {"state": "up"|"down"|"none"}"#)
        }
        switch text.lowercased() {
        case "up": return .up
        case "down": return .down
        case "none": return nil
        default: throw AdminAPIError(.badRequest, "state '\(text)' is not one of up, down, none")
        }
    }

    /// Parses an address from text (a path segment or query value), with a 400 error naming it.
    public static func parseAddress(_ text: String) throws(AdminAPIError) -> IPAddress {
        guard let address = IPAddress(text.trimmingCharacters(in: .whitespaces)) else {
            throw AdminAPIError(.badRequest, "'\(text)' is not an IPv4 or IPv6 address")
        }
        return address
    }

    /// A load value: an unsigned decimal (`0.42`, `7`, `1e-2`). Refused: any sign (so `-0` too),
    /// hex (`0x1p-1`), `inf`/`nan`, and values that overflow to infinity.
    static func parseLoadValue(_ text: String, ip: String) throws(AdminAPIError) -> Double {
        if text.hasPrefix("-") {
            throw AdminAPIError(.badRequest, "load \(text) for \(ip) must be a finite number ≥ 0 without a sign")
        }
        guard isUnsignedDecimal(text) else {
            throw AdminAPIError(.badRequest, "load '\(text)' is not a number (write a decimal such as 0.42)")
        }
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw AdminAPIError(.badRequest, "load \(text) for \(ip) must be a finite number ≥ 0")
        }
        return value
    }

    /// `[0-9]+ (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    static func isUnsignedDecimal(_ text: String) -> Bool {
        let b = Array(text.utf8)
        var i = 0
        func digits() -> Int {
            let s = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i - s
        }
        guard digits() > 0 else { return false }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == b.count
    }

    private static func validated(ip: String, loadText: String) throws(AdminAPIError) -> LoadSubmission {
        let address = try parseAddress(ip)
        return LoadSubmission(address: address, load: try parseLoadValue(loadText, ip: ip))
    }

    private static func json(_ body: [UInt8]) throws(AdminAPIError) -> StrictJSON {
        do {
            return try StrictJSON.parse(body)
        } catch {
            throw AdminAPIError(.badRequest, error.message)
        }
    }

    private static func unsupported(_ contentType: String?, allowed: String) -> AdminAPIError {
        AdminAPIError(.unsupportedMediaType,
                      "Content-Type \(contentType.map { "'\($0)'" } ?? "missing"); this call takes \(allowed)")
    }

    /// HTML URL-encoded form fields (`+` is a space, `%XX` escapes). A repeated field is refused:
    /// which copy wins differs between parsers.
    static func parseForm(_ body: [UInt8]) throws(AdminAPIError) -> [String: String] {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decodeFormComponent(parts[0])
            let value = parts.count > 1 ? decodeFormComponent(parts[1]) : ""
            guard fields[key] == nil else {
                throw AdminAPIError(.badRequest, "form field '\(key)' appears more than once")
            }
            fields[key] = value
        }
        return fields
    }

    private static func decodeFormComponent(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
