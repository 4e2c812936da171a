import DDNS
import DNSWire
import Foundation

/// The DDNS API's JSON bodies as the clients send and read them:
/// `{"id": "silo1", "dnsrecords": [{"hostname": "dbserver", "ip": "203.0.113.7", "ttl": 60}]}`,
/// errors `{"error": "..."}`. Replies are untrusted: sizes are bounded by the caller, an address
/// that does not parse or a TTL outside 0...2³¹-1 is an error naming the field.
public enum SiloJSON {
    struct RecordBody: Codable {
        var hostname: String
        var ip: String
        var ttl: Int64?
        /// In replies: the name the record is served at (`dbserver.silo1.dyn.example.test.`).
        var name: String?
    }

    struct SiloBody: Codable {
        var id: String?
        var dnsrecords: [RecordBody]
    }

    struct ErrorBody: Decodable {
        var error: String
    }

    struct IPBody: Decodable {
        var ip: String
    }

    struct TokenBody: Decodable {
        var id: String?
        var token: String
    }

    /// `{"dnsrecords": [...]}` (the PUT body; the id is in the path).
    public static func putBody(_ records: [DDNSRecord]) -> [UInt8] {
        let body = SiloBody(id: nil, dnsrecords: records.map {
            RecordBody(hostname: $0.hostname, ip: ($0.address.mappedIPv4 ?? $0.address).description, ttl: $0.ttl.map(Int64.init), name: nil)
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(body)) ?? Data("{\"dnsrecords\":[]}".utf8))
    }

    /// `{"id": ..., "dnsrecords": [...]}` for printing (`proxima ddns silo show --json`); a JSON
    /// list of them when `list` (`silo list --json`).
    public static func encode(_ silos: [Silo], list: Bool) -> String {
        let bodies = silos.map { silo in
            SiloBody(id: silo.id, dnsrecords: silo.records.map {
                RecordBody(hostname: $0.hostname, ip: ($0.address.mappedIPv4 ?? $0.address).description, ttl: $0.ttl.map(Int64.init), name: nil)
            })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data: Data?
        if !list, bodies.count == 1 {
            data = try? encoder.encode(bodies[0])
        } else {
            data = try? encoder.encode(bodies)
        }
        return String(decoding: data ?? Data(), as: UTF8.self)
    }

    /// A silo from a reply; `expectedID` is used when the reply carries none.
    public static func silo(_ bytes: [UInt8], expectedID: String) throws(DDNSClientError) -> Silo {
        try servedSilo(bytes, expectedID: expectedID).silo
    }

    /// A silo from a reply with, per record, the name the server says it is served at (the
    /// reply's `name`, nil when absent).
    public static func servedSilo(_ bytes: [UInt8], expectedID: String) throws(DDNSClientError) -> ServedSilo {
        let body: SiloBody
        do {
            body = try JSONDecoder().decode(SiloBody.self, from: Data(bytes))
        } catch {
            throw DDNSClientError(.refused, "the server's silo reply is not {\"id\", \"dnsrecords\"} JSON: \(error)")
        }
        return ServedSilo(silo: Silo(id: body.id ?? expectedID, records: try records(body.dnsrecords)),
                          servedNames: body.dnsrecords.map(\.name))
    }

    /// Every silo from `GET /silos`: a JSON array of silos, or `{"silos": [...]}`.
    public static func silos(_ bytes: [UInt8]) throws(DDNSClientError) -> [Silo] {
        struct Wrapped: Decodable { var silos: [SiloBody] }
        let bodies: [SiloBody]
        if let list = try? JSONDecoder().decode([SiloBody].self, from: Data(bytes)) {
            bodies = list
        } else if let wrapped = try? JSONDecoder().decode(Wrapped.self, from: Data(bytes)) {
            bodies = wrapped.silos
        } else {
            throw DDNSClientError(.refused, "the server's GET /silos reply is not a list of silos")
        }
        var out: [Silo] = []
        for body in bodies {
            out.append(Silo(id: body.id ?? "?", records: try records(body.dnsrecords)))
        }
        return out
    }

    static func records(_ bodies: [RecordBody]) throws(DDNSClientError) -> [DDNSRecord] {
        var out: [DDNSRecord] = []
        for (index, record) in bodies.enumerated() {
            guard let address = IPAddress(record.ip) else {
                throw DDNSClientError(.refused, "the server's reply has dnsrecords[\(index)].ip '\(record.ip.prefix(64))', not an address")
            }
            var ttl: UInt32?
            if let raw = record.ttl {
                guard let value = UInt32(exactly: raw), value <= Int32.max else {
                    throw DDNSClientError(.refused, "the server's reply has dnsrecords[\(index)].ttl \(raw), outside 0...2147483647")
                }
                ttl = value
            }
            out.append(DDNSRecord(hostname: record.hostname, address: address, ttl: ttl))
        }
        return out
    }

    /// The address in a `GET /ip` reply.
    public static func ip(_ bytes: [UInt8]) throws(DDNSClientError) -> IPAddress {
        guard let body = try? JSONDecoder().decode(IPBody.self, from: Data(bytes)) else {
            throw DDNSClientError(.refused, "the server's GET /ip reply is not {\"ip\": \"...\"}")
        }
        guard let address = IPAddress(body.ip) else {
            throw DDNSClientError(.refused, "the server's GET /ip reply has ip '\(body.ip.prefix(64))', not an address")
        }
        return address.mappedIPv4 ?? address
    }

    /// The token in a `POST /silos/{id}/token` reply.
    public static func token(_ bytes: [UInt8]) throws(DDNSClientError) -> String {
        guard let body = try? JSONDecoder().decode(TokenBody.self, from: Data(bytes)), !body.token.isEmpty,
              !body.token.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f }) else {
            throw DDNSClientError(.refused, "the server's token reply is not {\"id\", \"token\"} JSON with a printable token")
        }
        return body.token
    }

    /// The message of an `{"error": "..."}` body, else the body's first 200 bytes (printable).
    public static func errorMessage(_ bytes: [UInt8]) -> String {
        if let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes)) { return String(body.error.prefix(500)) }
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return String(text.unicodeScalars.map { $0.value >= 0x20 && $0.value != 0x7f ? Character($0) : " " })
    }
}

/// A silo as a reply shows it: its records and, in the same order, the names they are served at.
public struct ServedSilo: Sendable, Hashable {
    /// The silo's id and records.
    public var silo: Silo
    /// One per record (nil where the reply gave no `name`).
    public var servedNames: [String?]

    public init(silo: Silo, servedNames: [String?] = []) {
        self.silo = silo
        self.servedNames = servedNames
    }
}
