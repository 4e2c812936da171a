import DNSWire

/// What a silo's records are checked against: the parts of `DDNSSettings` validation needs, so
/// this file stays pure (it is also compiled into the `fuzz-ddns` target, which links no
/// ProximaConfig).
public struct DDNSValidationRules: Sendable, Hashable {
    /// The DDNS zone: `host` in silo `s` is `host.s.<zone>`.
    public var zone: DomainName
    /// Zones in which a record may name an absolute hostname (`ddns.allow_names_in`).
    public var allowNamesIn: [DomainName]
    /// Records one silo may hold (`ddns.max_records_per_silo`).
    public var maxRecordsPerSilo: Int

    /// Creates rules.
    public init(zone: DomainName, allowNamesIn: [DomainName], maxRecordsPerSilo: Int) {
        self.zone = zone
        self.allowNamesIn = allowNamesIn
        self.maxRecordsPerSilo = maxRecordsPerSilo
    }
}

/// Parses and checks what clients send the DDNS API, once, at the boundary (STYLE §2). Every
/// refusal is a 400 whose message names the field (`dnsrecords[2].ip: "300.1.1.1" is not an IP
/// address`); nothing is written unless the whole request passes.
///
/// Decisions:
/// - Silo ids and label hostnames are LDH labels (RFC 952/1123: letters, digits, hyphen, not
///   starting or ending with a hyphen, 1...63 octets) and are stored lowercased: DNS compares
///   names case-insensitively (RFC 4343), so `Db` and `db` are one name.
/// - One hostname may carry one A and one AAAA record (dual-stack hosts); two records of the same
///   hostname and family are a duplicate.
/// - Records are stored sorted by hostname, then A before AAAA, so a PUT of the same records in
///   another order is "no change".
/// - An absolute hostname ("www.example.com.") must lie in a zone of `ddns.allow_names_in` and
///   not inside the DDNS zone itself (names there belong to silos by their label form, and one
///   silo must not claim another's names).
public enum DDNSRequestValidation {
    /// Largest request body accepted (413 past it).
    public static let maxBodyBytes = 65_536
    /// Largest TTL a record may name (one day).
    public static let maxTTL: UInt32 = 86_400

    /// Checks a silo id (from a path or a dyndns2 user name) and returns it lowercased.
    public static func siloID(_ text: String, field: String = "id") throws(DDNSAPIError) -> String {
        let bytes = Array(text.utf8)
        guard isLDHLabel(bytes) else {
            throw DDNSAPIError(.badRequest, "\(field): \(quoted(text)) is not a DNS label (letters, digits and inner hyphens, 1 to 63 characters)")
        }
        return String(decoding: bytes.map(asciiLower), as: UTF8.self)
    }

    /// True for an RFC 1123 host label: 1...63 octets of letters, digits and hyphens, not
    /// starting or ending with a hyphen.
    public static func isLDHLabel(_ bytes: some Collection<UInt8>) -> Bool {
        guard (1...63).contains(bytes.count), let first = bytes.first else { return false }
        var last = first
        for b in bytes {
            let ok = (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x2d
            guard ok else { return false }
            last = b
        }
        return first != 0x2d && last != 0x2d
    }

    /// The name a record is served at: `hostname.silo.zone.` for a label, the name itself for an
    /// absolute hostname. Nil only for hostnames validation would refuse.
    public static func servedName(hostname: String, siloID: String, zone: DomainName) -> DomainName? {
        if hostname.hasSuffix(".") { return try? DomainName(parsing: hostname) }
        return try? DomainName(parsing: "\(hostname).\(siloID)", origin: zone)
    }

    /// Parses a `PUT /silos/{id}` body, `{"dnsrecords": [{"hostname": …, "ip": …, "ttl": …}]}`
    /// (an `"id"` member is allowed when it names the same silo), and checks every record.
    /// - Parameters:
    ///   - body: the raw body (its size is checked here too).
    ///   - siloID: the silo from the path, already checked and lowercased.
    ///   - refusal: the server's name policy (routed names and the like); nil means allowed.
    public static func parseSiloBody(_ body: [UInt8], siloID: String, rules: DDNSValidationRules,
                                     refusal: (DomainName) -> String?) throws(DDNSAPIError) -> Silo {
        guard body.count <= maxBodyBytes else {
            throw DDNSAPIError(.tooLarge, "body: \(body.count) bytes, at most \(maxBodyBytes)")
        }
        let document: StrictJSON
        do throws(StrictJSON.Failure) {
            document = try StrictJSON.parse(body)
        } catch {
            throw DDNSAPIError(.badRequest, "body: \(error.message)")
        }
        guard case .object(let members) = document else {
            throw DDNSAPIError(.badRequest, "body: must be a JSON object {\"dnsrecords\": [...]}")
        }
        var list: [StrictJSON]?
        for member in members {
            switch member.key {
            case "dnsrecords":
                guard case .array(let items) = member.value else {
                    throw DDNSAPIError(.badRequest, "dnsrecords: must be an array of records")
                }
                list = items
            case "id":
                guard case .string(let id) = member.value else {
                    throw DDNSAPIError(.badRequest, "id: must be a string")
                }
                guard id.lowercased() == siloID else {
                    throw DDNSAPIError(.badRequest, "id: \(quoted(id)) does not match the silo in the path, \(quoted(siloID))")
                }
            default:
                throw DDNSAPIError(.badRequest, "\(quoted(member.key)): unknown field (expected \"dnsrecords\")")
            }
        }
        guard let list else { throw DDNSAPIError(.badRequest, "dnsrecords: missing") }
        guard list.count <= rules.maxRecordsPerSilo else {
            throw DDNSAPIError(.badRequest, "dnsrecords: \(list.count) records, at most \(rules.maxRecordsPerSilo) per silo (ddns.max_records_per_silo)")
        }
        var records: [DDNSRecord] = []
        records.reserveCapacity(list.count)
        for (index, item) in list.enumerated() {
            records.append(try record(item, field: "dnsrecords[\(index)]"))
        }
        return Silo(id: siloID, records: try checkRecords(records, siloID: siloID, rules: rules, refusal: refusal))
    }

    /// Checks records built elsewhere (a dyndns2 update) or parsed above: hostnames, names'
    /// lengths, duplicates, count and the name policy. Returns them lowercased and sorted.
    /// Messages name `dnsrecords[i]` by the position given.
    public static func checkRecords(_ records: [DDNSRecord], siloID: String, rules: DDNSValidationRules,
                                    refusal: (DomainName) -> String?) throws(DDNSAPIError) -> [DDNSRecord] {
        guard records.count <= rules.maxRecordsPerSilo else {
            throw DDNSAPIError(.badRequest, "dnsrecords: \(records.count) records, at most \(rules.maxRecordsPerSilo) per silo (ddns.max_records_per_silo)")
        }
        var seen: [String: Int] = [:]
        var checked: [DDNSRecord] = []
        checked.reserveCapacity(records.count)
        for (index, original) in records.enumerated() {
            // Built only for a message (an update's records pass without one).
            func field() -> String { "dnsrecords[\(index)]" }
            var record = original
            let name = try hostname(record.hostname, field: "\(field()).hostname", siloID: siloID, rules: rules)
            record.hostname = name.stored
            if let why = refusal(name.served) {
                throw DDNSAPIError(.badRequest, "\(field()).hostname: \(quoted(original.hostname)): \(why)")
            }
            if let ttl = record.ttl, !(1...maxTTL).contains(ttl) {
                throw DDNSAPIError(.badRequest, "\(field()).ttl: \(ttl) is not from 1 to \(maxTTL)")
            }
            let key = "\(record.hostname) \(familyName(record.address))"
            if let earlier = seen[key] {
                throw DDNSAPIError(.badRequest, "\(field()): duplicate of dnsrecords[\(earlier)] (hostname \(quoted(record.hostname)), \(familyName(record.address)))")
            }
            seen[key] = index
            checked.append(record)
        }
        return checked.sorted(by: recordOrder)
    }

    /// The order records are stored and returned in: hostname, then A before AAAA.
    public static func recordOrder(_ a: DDNSRecord, _ b: DDNSRecord) -> Bool {
        if a.hostname != b.hostname { return a.hostname < b.hostname }
        return a.address.bitWidth < b.address.bitWidth
    }

    /// "A" or "AAAA".
    public static func familyName(_ address: IPAddress) -> String {
        if case .v4 = address { return "A" }
        return "AAAA"
    }

    /// A value quoted for a message, cut at 80 characters (messages echo untrusted input).
    public static func quoted(_ text: String) -> String {
        let cut = text.count > 80 ? String(text.prefix(80)) + "…" : text
        var out = "\""
        for scalar in cut.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Pieces

    private static func record(_ value: StrictJSON, field: @autoclosure () -> String) throws(DDNSAPIError) -> DDNSRecord {
        guard case .object(let members) = value else {
            throw DDNSAPIError(.badRequest, "\(field()): must be an object {\"hostname\": ..., \"ip\": ...}")
        }
        var hostname: String?
        var address: IPAddress?
        var ttl: UInt32?
        for member in members {
            switch member.key {
            case "hostname":
                guard case .string(let text) = member.value else {
                    throw DDNSAPIError(.badRequest, "\(field()).hostname: must be a string")
                }
                hostname = text
            case "ip":
                guard case .string(let text) = member.value else {
                    throw DDNSAPIError(.badRequest, "\(field()).ip: must be a string")
                }
                guard let parsed = IPAddress(text), text.utf8.count <= 45 else {
                    throw DDNSAPIError(.badRequest, "\(field()).ip: \(quoted(text)) is not an IP address")
                }
                address = parsed
            case "ttl":
                switch member.value {
                case .null:
                    ttl = nil
                case .number(let text):
                    guard text.utf8.count <= 6, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                          let n = UInt32(text), (1...maxTTL).contains(n) else {
                        throw DDNSAPIError(.badRequest, "\(field()).ttl: \(text) is not a whole number from 1 to \(maxTTL)")
                    }
                    ttl = n
                default:
                    throw DDNSAPIError(.badRequest, "\(field()).ttl: must be a whole number from 1 to \(maxTTL)")
                }
            case "name":
                // The served name, as GET returns it: read-only, so a GET body can be PUT back.
                break
            default:
                throw DDNSAPIError(.badRequest, "\(field()).\(member.key): unknown field (expected hostname, ip, ttl)")
            }
        }
        guard let hostname else { throw DDNSAPIError(.badRequest, "\(field()).hostname: missing") }
        guard let address else { throw DDNSAPIError(.badRequest, "\(field()).ip: missing") }
        return DDNSRecord(hostname: hostname, address: address, ttl: ttl)
    }

    /// A checked hostname: how it is stored (lowercased label, or lowercased absolute name with
    /// its final dot) and the name it is served at.
    private static func hostname(_ text: String, field: @autoclosure () -> String, siloID: String,
                                 rules: DDNSValidationRules) throws(DDNSAPIError) -> (stored: String, served: DomainName) {
        let bytes = Array(text.utf8)
        guard bytes.last == 0x2e else {
            guard isLDHLabel(bytes) else {
                throw DDNSAPIError(.badRequest, "\(field()): \(quoted(text)) is not a DNS label (letters, digits and inner hyphens, 1 to 63 characters) nor an absolute name ending in \".\"")
            }
            let stored = String(decoding: bytes.map(asciiLower), as: UTF8.self)
            // Wire length: label, silo label, then the zone (RFC 1035 §2.3.4: 255 octets).
            let length = 1 + bytes.count + 1 + siloID.utf8.count + rules.zone.wire.count
            guard length <= 255, let served = try? DomainName(parsing: "\(stored).\(siloID)", origin: rules.zone) else {
                throw DDNSAPIError(.badRequest, "\(field()): \(quoted(text)) makes the name \(stored).\(siloID).\(rules.zone) \(length) octets long, over 255")
            }
            return (stored, served)
        }
        // An absolute name: LDH labels separated by single dots.
        let labels = bytes.dropLast().split(separator: 0x2e, omittingEmptySubsequences: false)
        guard bytes.count > 1, labels.allSatisfy({ isLDHLabel($0) }) else {
            throw DDNSAPIError(.badRequest, "\(field()): \(quoted(text)) is not a host name (DNS labels of letters, digits and inner hyphens, separated by dots)")
        }
        guard bytes.count + 1 <= 255, let name = try? DomainName(parsing: text) else {
            throw DDNSAPIError(.badRequest, "\(field()): \(quoted(text)) is over 255 octets")
        }
        let served = name.lowercased()
        if served.isSubdomain(of: rules.zone) {
            throw DDNSAPIError(.badRequest, "\(field()): \(quoted(text)) is inside the DDNS zone \(rules.zone); name it by its label (\"host\" in silo \"\(siloID)\" is host.\(siloID).\(rules.zone))")
        }
        guard rules.allowNamesIn.contains(where: { served.isSubdomain(of: $0) }) else {
            let allowed = rules.allowNamesIn.isEmpty ? "none (ddns.allow_names_in is empty)"
                : rules.allowNamesIn.map { "\($0)" }.joined(separator: ", ")
            throw DDNSAPIError(.badRequest, "\(field()): \(quoted(text)) is not in a zone where absolute names are allowed: \(allowed)")
        }
        return (String(decoding: served.description.utf8.map(asciiLower), as: UTF8.self), served)
    }
}
