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
        let records: [DDNSRecord]
        if let plain = plainRecords(body, maxRecords: rules.maxRecordsPerSilo) {
            records = plain
        } else {
            records = try documentRecords(body, siloID: siloID, rules: rules)
        }
        return Silo(id: siloID, records: try checkRecords(records, siloID: siloID, rules: rules, refusal: refusal))
    }

    /// The records of a body, read through the whole-document parser (`StrictJSON`): every
    /// form the API accepts, and the message for every one it refuses.
    static func documentRecords(_ body: [UInt8], siloID: String, rules: DDNSValidationRules) throws(DDNSAPIError) -> [DDNSRecord] {
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
        return records
    }

    /// The records of a body in the plain form update clients send —
    /// `{"dnsrecords": [{"hostname": "…", "ip": "…", "ttl": N}, …]}`, keys in any order, `ttl`
    /// optional, strings of printable ASCII without escapes, any JSON whitespace — read in one
    /// pass without building a document (`StrictJSON`'s tree, with a String and an array per value,
    /// was the largest part of reading an update). Nil for anything else, valid or not (an `id`
    /// member, a `name`, an escape, a `null` TTL, a syntax error, more records than `maxRecords` or
    /// 256): `documentRecords` then decides, with its messages. For every body it accepts, it
    /// returns exactly what `documentRecords` does (fuzz-ddns checks this on every input).
    static func plainRecords(_ body: [UInt8], maxRecords: Int) -> [DDNSRecord]? {
        var i = 0
        let n = body.count
        func skipSpace() {
            while i < n, body[i] == 0x20 || body[i] == 0x09 || body[i] == 0x0A || body[i] == 0x0D { i += 1 }
        }
        func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard i < n, body[i] == byte else { return false }
            i += 1
            return true
        }
        /// A string of printable ASCII other than quote and backslash: its bytes' range.
        func plainString() -> Range<Int>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = i
            while i < n, body[i] != UInt8(ascii: "\"") {
                guard body[i] >= 0x20, body[i] < 0x7F, body[i] != UInt8(ascii: "\\") else { return nil }
                i += 1
            }
            guard i < n else { return nil }
            i += 1
            return start..<(i - 1)
        }
        func key(_ range: Range<Int>, is name: StaticString) -> Bool {
            range.count == name.utf8CodeUnitCount
                && body[range].elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
        /// 1 to 86400 as JSON writes it: digits, no leading zero.
        func plainTTL() -> UInt32? {
            skipSpace()
            var value: UInt32 = 0
            let start = i
            while i < n, body[i] >= 0x30, body[i] <= 0x39, i - start < 6 {
                value = value * 10 + UInt32(body[i] - 0x30)
                i += 1
            }
            guard i > start, body[start] != 0x30, (1...maxTTL).contains(value) else { return nil }
            return value
        }

        guard take(UInt8(ascii: "{")), let top = plainString(), key(top, is: "dnsrecords"),
              take(UInt8(ascii: ":")), take(UInt8(ascii: "[")) else { return nil }
        var records: [DDNSRecord] = []
        if !take(UInt8(ascii: "]")) {
            repeat {
                guard records.count < min(maxRecords, 256), take(UInt8(ascii: "{")) else { return nil }
                var hostname: String?
                var address: IPAddress?
                var ttl: UInt32?
                repeat {
                    guard let name = plainString(), take(UInt8(ascii: ":")) else { return nil }
                    if key(name, is: "hostname"), hostname == nil, let value = plainString() {
                        hostname = String(decoding: body[value], as: UTF8.self)
                    } else if key(name, is: "ip"), address == nil, let value = plainString(), value.count <= 45,
                              let parsed = IPAddress(String(decoding: body[value], as: UTF8.self)) {
                        address = parsed
                    } else if key(name, is: "ttl"), ttl == nil, let value = plainTTL() {
                        ttl = value
                    } else {
                        return nil
                    }
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "}")), let hostname, let address else { return nil }
                records.append(DDNSRecord(hostname: hostname, address: address, ttl: ttl))
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "]")) else { return nil }
        }
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        return i == n ? records : nil
    }

    /// Checks records built elsewhere (a dyndns2 update) or parsed above: hostnames, names'
    /// lengths, duplicates, count and the name policy. Returns them lowercased and sorted.
    /// Messages name `dnsrecords[i]` by the position given.
    public static func checkRecords(_ records: [DDNSRecord], siloID: String, rules: DDNSValidationRules,
                                    refusal: (DomainName) -> String?) throws(DDNSAPIError) -> [DDNSRecord] {
        guard records.count <= rules.maxRecordsPerSilo else {
            throw DDNSAPIError(.badRequest, "dnsrecords: \(records.count) records, at most \(rules.maxRecordsPerSilo) per silo (ddns.max_records_per_silo)")
        }
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
            checked.append(record)
        }
        // One record: nothing to sort or compare.
        if checked.count == 1 { return checked }
        // Sorted, a duplicate (same hostname and family) is next to its twin; the message names
        // both by their positions in the request.
        let order = checked.indices.sorted { recordOrder(checked[$0], checked[$1]) || (!recordOrder(checked[$1], checked[$0]) && $0 < $1) }
        for (a, b) in zip(order, order.dropFirst())
        where checked[a].hostname == checked[b].hostname && checked[a].address.bitWidth == checked[b].address.bitWidth {
            throw DDNSAPIError(.badRequest, "dnsrecords[\(b)]: duplicate of dnsrecords[\(a)] (hostname \(quoted(checked[b].hostname)), \(familyName(checked[b].address)))")
        }
        return order.map { checked[$0] }
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

    /// `label.siloID.zone`: for a silo id that is one LDH label (every id the API accepts), the
    /// wire form is put together directly (the label is checked LDH by the caller); any other id
    /// takes the presentation-format parser, as before.
    private static func servedName(label: [UInt8], siloID: String, zone: DomainName) -> DomainName? {
        let silo = Array(siloID.utf8)
        guard isLDHLabel(silo) else {
            return try? DomainName(parsing: String(decoding: label, as: UTF8.self) + "." + siloID, origin: zone)
        }
        var wire: [UInt8] = []
        wire.reserveCapacity(2 + label.count + silo.count + zone.wire.count)
        wire.append(UInt8(truncatingIfNeeded: label.count))
        wire += label
        wire.append(UInt8(truncatingIfNeeded: silo.count))
        wire += silo
        wire += zone.wire
        return try? DomainName(wire: wire)
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
            let lowered = bytes.map(asciiLower)
            let stored = String(decoding: lowered, as: UTF8.self)
            // Wire length: label, silo label, then the zone (RFC 1035 §2.3.4: 255 octets).
            let length = 1 + bytes.count + 1 + siloID.utf8.count + rules.zone.wire.count
            guard length <= 255, let served = servedName(label: lowered, siloID: siloID, zone: rules.zone) else {
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
