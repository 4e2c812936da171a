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

/// Parses admin request bodies into typed values, once, at the boundary (STYLE §2).
public enum AdminRequestParser {
    /// At most this many reports in one batch body.
    public static let maxBatch = 1024

    /// Parses a `POST /load` body: `application/x-www-form-urlencoded` `ip=…&load=…` (what existing
    /// reporters send), JSON `{"ip": "…", "load": 0.42}`, or a JSON array of such objects. Without a
    /// recognised content type the body is sniffed (`{`/`[` means JSON).
    public static func parseLoad(body: [UInt8], contentType: String?) throws(AdminAPIError) -> [LoadSubmission] {
        switch bodyKind(body: body, contentType: contentType) {
        case .form:
            let fields = parseForm(body)
            guard let ip = fields["ip"] else { throw AdminAPIError(.badRequest, "missing 'ip' field") }
            guard let loadText = fields["load"] else { throw AdminAPIError(.badRequest, "missing 'load' field") }
            guard let load = Double(loadText.trimmingCharacters(in: .whitespaces)) else {
                throw AdminAPIError(.badRequest, "load '\(loadText)' is not a number")
            }
            return [try validated(ip: ip, load: load)]
        case .json:
            let decoder = JSONDecoder()
            let items: [JSONLoad]
            do {
                if firstNonSpace(body) == UInt8(ascii: "[") {
                    items = try decoder.decode([JSONLoad].self, from: Data(body))
                } else {
                    items = [try decoder.decode(JSONLoad.self, from: Data(body))]
                }
            } catch {
                throw AdminAPIError(.badRequest,
                    #"JSON body must be {"ip": "<address>", "load": <number>} or an array of those"#)
            }
            guard !items.isEmpty else { throw AdminAPIError(.badRequest, "empty batch") }
            guard items.count <= maxBatch else {
                throw AdminAPIError(.badRequest, "batch of \(items.count) reports exceeds \(maxBatch)")
            }
            var result: [LoadSubmission] = []
            for item in items {
                result.append(try validated(ip: item.ip, load: item.load))
            }
            return result
        }
    }

    /// Parses a `POST /backends/{ip}/force` body: JSON `{"state": "up"|"down"|"none"}` (or the form
    /// `state=…`). `none` clears the override (nil).
    public static func parseForce(body: [UInt8], contentType: String?) throws(AdminAPIError) -> ForcedHealth? {
        let text: String?
        switch bodyKind(body: body, contentType: contentType) {
        case .form:
            text = parseForm(body)["state"]
        case .json:
            text = (try? JSONDecoder().decode(JSONForce.self, from: Data(body)))?.state
        }
        guard let text else {
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

    private static func validated(ip: String, load: Double) throws(AdminAPIError) -> LoadSubmission {
        let address = try parseAddress(ip)
        guard load.isFinite, load >= 0 else {
            throw AdminAPIError(.badRequest, "load \(load) for \(ip) must be a finite number ≥ 0")
        }
        return LoadSubmission(address: address, load: load)
    }

    private enum BodyKind { case form, json }

    private static func bodyKind(body: [UInt8], contentType: String?) -> BodyKind {
        let type = contentType?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        if type == "application/json" || type.hasSuffix("+json") { return .json }
        if type == "application/x-www-form-urlencoded" { return .form }
        let first = firstNonSpace(body)
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? .json : .form
    }

    private static func firstNonSpace(_ body: [UInt8]) -> UInt8? {
        body.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
    }

    /// HTML URL-encoded form fields (`+` is a space, `%XX` escapes); the first of repeated keys wins.
    static func parseForm(_ body: [UInt8]) -> [String: String] {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decodeFormComponent(parts[0])
            let value = parts.count > 1 ? decodeFormComponent(parts[1]) : ""
            if fields[key] == nil { fields[key] = value }
        }
        return fields
    }

    private static func decodeFormComponent(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    private struct JSONLoad: Decodable {
        var ip: String
        var load: Double
    }

    private struct JSONForce: Decodable {
        var state: String
    }
}
