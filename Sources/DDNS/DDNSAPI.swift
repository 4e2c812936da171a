import DNSWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import ProximaConfig

/// A reply of the DDNS API before it becomes HTTP.
struct DDNSReply: Sendable {
    var status: Int
    var contentType: String
    var body: String
    var headers: [(String, String)] = []

    static func json(_ status: Int, _ value: some Encodable) -> DDNSReply {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"encoding failed"}"#.utf8)
        return DDNSReply(status: status, contentType: "application/json; charset=utf-8",
                         body: String(decoding: data, as: UTF8.self) + "\n")
    }

    /// A silo as JSON (`SiloDocument.jsonText`); `zoneText` is the DDNS zone as
    /// `SiloDocument.zoneText` spells it.
    static func document(_ status: Int, _ silo: Silo, zone: DomainName, zoneText: String) -> DDNSReply {
        DDNSReply(status: status, contentType: "application/json; charset=utf-8",
                  body: SiloDocument.jsonText(silo, zone: zone, zoneText: zoneText))
    }

    static func error(_ error: DDNSAPIError) -> DDNSReply {
        var reply = json(error.httpStatus, ["error": error.message])
        if error.code == .unauthorized { reply.headers.append(("WWW-Authenticate", "Bearer realm=\"proxima-ddns\"")) }
        return reply
    }

    /// A dyndns2 reply: text/plain, one line per host.
    static func text(_ status: Int, _ body: String) -> DDNSReply {
        DDNSReply(status: status, contentType: "text/plain; charset=utf-8", body: body)
    }
}

/// The JSON form of a silo: `{"id": …, "dnsrecords": [{"hostname", "ip", "ttl"?, "name"}]}`.
/// `name` is the served name (read-only, ignored on input); `ttl` appears when the record sets
/// one (else `ddns.default_ttl` applies).
struct SiloDocument: Encodable {
    struct Record: Encodable {
        var hostname: String
        var ip: String
        var ttl: UInt32?
        var name: String
    }

    var id: String
    var dnsrecords: [Record]

    init(_ silo: Silo, zone: DomainName) {
        id = silo.id
        let zoneText = Self.zoneText(zone)
        dnsrecords = silo.records.map { record in
            Record(hostname: record.hostname, ip: record.address.description, ttl: record.ttl,
                   name: Self.servedNameText(hostname: record.hostname, siloID: silo.id, zone: zone, zoneText: zoneText))
        }
    }

    /// The zone as served names end in it: its text with the final dot, empty for the root.
    static func zoneText(_ zone: DomainName) -> String {
        zone.wire.count == 1 ? "" : zone.description
    }

    /// The served name as text: `DDNSRequestValidation.servedName`'s description, or the hostname
    /// when it has none. For the usual record (lowercase letter-digit-hyphen labels that fit) it
    /// is spelled directly — the text a DomainName of those labels prints — without building one;
    /// anything else takes the DomainName path. (`DDNSCallTests` checks both agree.)
    static func servedNameText(hostname: String, siloID: String, zone: DomainName, zoneText: String) -> String {
        if isPlain(hostname: hostname, siloID: siloID, zone: zone) {
            return hostname + "." + siloID + "." + zoneText
        }
        let name = DDNSRequestValidation.servedName(hostname: hostname, siloID: siloID, zone: zone)
        return name.map { "\($0)" } ?? hostname
    }

    /// The usual record: hostname and silo id lowercase letter-digit-hyphen labels whose served
    /// name fits 255 octets (then it is spelled `hostname.silo.zoneText`).
    static func isPlain(hostname: String, siloID: String, zone: DomainName) -> Bool {
        func plainLabel(_ text: String) -> Bool {
            let bytes = text.utf8
            guard (1...63).contains(bytes.count) else { return false }
            return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        }
        return plainLabel(hostname) && plainLabel(siloID) && 1 + hostname.utf8.count + 1 + siloID.utf8.count + zone.wire.count <= 255
    }
}

extension SiloDocument {
    /// `SiloDocument(silo, zone:)` as `DDNSReply.json` encodes it (sorted keys, slashes as they
    /// are, a final newline), written straight from the silo: it is the reply to every update,
    /// and JSONEncoder's generic walk (then the document's own copies of every string) showed in
    /// an update's CPU. `zoneText` is `zoneText(zone)`. `DDNSCallTests` checks it byte for byte
    /// against JSONEncoder.
    static func jsonText(_ silo: Silo, zone: DomainName, zoneText: String) -> String {
        // Bytes, not String appends: a String append re-checks capacity, ASCII-ness and
        // breadcrumbs for every piece, and an update's reply is a few dozen pieces.
        var out: [UInt8] = []
        out.reserveCapacity(32 + silo.id.utf8.count + silo.records.count * (80 + zoneText.utf8.count))
        out.append(contentsOf: #"{"dnsrecords":["#.utf8)
        for (i, record) in silo.records.enumerated() {
            out.append(contentsOf: (i == 0 ? #"{"hostname":"# : #",{"hostname":"#).utf8)
            appendString(record.hostname, to: &out)
            // An address's text never needs an escape.
            out.append(contentsOf: #","ip":""#.utf8)
            out.append(contentsOf: record.address.description.utf8)
            out.append(contentsOf: #"","name":"#.utf8)
            if isPlain(hostname: record.hostname, siloID: silo.id, zone: zone) {
                // servedNameText's plain spelling, straight into the bytes (the labels need no escape).
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: record.hostname.utf8)
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: silo.id.utf8)
                out.append(UInt8(ascii: "."))
                appendEscaped(zoneText, to: &out)
                out.append(UInt8(ascii: "\""))
            } else {
                appendString(servedNameText(hostname: record.hostname, siloID: silo.id, zone: zone, zoneText: zoneText), to: &out)
            }
            if let ttl = record.ttl {
                out.append(contentsOf: #","ttl":"#.utf8)
                out.append(contentsOf: String(ttl).utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"id":"#.utf8)
        appendString(silo.id, to: &out)
        out.append(contentsOf: "}\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON string literal, escaped as JSONEncoder does (RFC 8259 §7: quote, backslash and
    /// control characters; `\b \f \n \r \t` by name, the others as `\u00xx`), as UTF-8.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        appendEscaped(text, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// `text`'s characters as inside a JSON string literal (`appendString` without the quotes).
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        for byte in text.utf8 {
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                // byte < 0x20 here: "u00" and two lowercase hex digits.
                func hex(_ digit: UInt8) -> UInt8 { digit < 10 ? 0x30 + digit : 0x61 + digit - 10 }
                out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex(byte >> 4), hex(byte & 0x0F)])
            }
        }
    }
}

/// The DDNS API's calls, independent of the HTTP server that carries them (see `DDNSHTTPServer`).
/// Who may do what, and the status codes, are documented in docs/ddns.md, "The API".
final class DDNSAPI: Sendable {
    enum Role: Equatable {
        case admin
        case silo(String)
    }

    let settings: DDNSSettings
    let store: any SiloStore
    /// `store` when its updates can run on the caller's thread (`putSiloNow`).
    private let synchronousStore: (any SynchronousSiloStore)?
    let publisher: any DDNSPublisher
    let namePolicy: any DDNSNamePolicy
    let logger: Logger
    let rules: DDNSValidationRules
    /// `SiloDocument.zoneText(settings.zone)`, spelled once.
    let zoneText: String
    private let adminHash: [UInt8]?
    private let limiter: NIOLockedValueBox<DDNSRateLimiter>
    let gate = DDNSWriteGate()
    private let now: @Sendable () -> UInt64

    init(settings: DDNSSettings, store: any SiloStore, publisher: any DDNSPublisher, namePolicy: any DDNSNamePolicy,
         logger: Logger, now: @escaping @Sendable () -> UInt64) {
        self.settings = settings
        self.store = store
        synchronousStore = store as? any SynchronousSiloStore
        self.publisher = publisher
        self.namePolicy = namePolicy
        self.logger = logger
        self.now = now
        rules = DDNSValidationRules(zone: settings.zone, allowNamesIn: settings.allowNamesIn,
                                    maxRecordsPerSilo: settings.maxRecordsPerSilo)
        zoneText = SiloDocument.zoneText(settings.zone)
        adminHash = settings.adminToken.flatMap { $0.isEmpty ? nil : DDNSToken.hash($0) }
        limiter = NIOLockedValueBox(DDNSRateLimiter(perMinute: settings.maxUpdatesPerMinute,
                                                    maxEntries: min(max(settings.maxSilos, 1024), 1_000_000)))
    }

    // MARK: Calls

    /// `GET /ip`.
    func ip(peer: IPAddress?, forwardedFor: [String]) -> DDNSReply {
        guard let address = clientAddress(peer: peer, forwardedFor: forwardedFor) else {
            return .error(DDNSAPIError(.badRequest, "the caller's address is unknown"))
        }
        return .json(200, ["ip": address.description])
    }

    /// `GET /silos`.
    func listSilos(authorization: String?) async -> DDNSReply {
        await reply {
            _ = try await authorize(authorization, silo: nil)
            let (silos, _) = try await storeCall { try await store.loadAll() }
            return .json(200, ["silos": silos.map { SiloDocument($0, zone: settings.zone) }])
        }
    }

    /// `GET /silos/{id}`.
    func getSilo(rawID: String, authorization: String?) async -> DDNSReply {
        await reply {
            let id = try DDNSRequestValidation.siloID(rawID)
            _ = try await authorize(authorization, silo: id)
            guard let silo = try await storeCall({ try await store.silo(id: id) }) else {
                throw DDNSAPIError(.notFound, "silo \(DDNSRequestValidation.quoted(id)) does not exist")
            }
            return .document(200, silo, zone: settings.zone, zoneText: zoneText)
        }
    }

    /// `PUT /silos/{id}`: `body` is read by the caller only after `authorizePut` passed.
    func authorizePut(rawID: String, authorization: String?) async throws(DDNSAPIError) -> (id: String, role: Role) {
        let id = try DDNSRequestValidation.siloID(rawID)
        return (id, try await authorize(authorization, silo: id))
    }

    /// `PUT /silos/{id}` once authorized and the body is read.
    func putSilo(id: String, role: Role, body: [UInt8]) async -> DDNSReply {
        await reply {
            let silo = try parseSilo(id: id, body: body)
            try takeBudget(id)
            let outcome = try await gate.run {
                try await checkAbsoluteNamesAreFree(silo)
                // A silo token can only exist for an existing silo: without the admin's, a
                // missing silo is a deleted one, not created again.
                return try await storeCall {
                    try await store.update(silo, mayCreate: role == .admin, maxSilos: settings.maxSilos)
                }
            }
            return try finishPut(silo, role: role, outcome: outcome)
        }
    }

    /// `PUT /silos/{id}` with the admin token, answered on the calling thread — the API's event
    /// loop — when the store's update runs there too (SQLite), the write gate is free and the
    /// silo names no absolute name (whose check reads every silo): the same checks, budget,
    /// store call and reply as `putSilo`, without a task and its hops (a visible part of an
    /// update's CPU on the DNS core). Nil, having changed nothing, when it cannot: the caller
    /// then takes the usual path.
    func putSiloNow(rawID: String, authorization: String?, body: [UInt8]) -> DDNSReply? {
        guard let synchronousStore, let adminHash, let header = authorization, let token = Self.bearer(header),
              DDNSToken.matches(token, hash: adminHash) else { return nil }
        do throws(DDNSAPIError) {
            let id = try DDNSRequestValidation.siloID(rawID)
            let silo = try parseSilo(id: id, body: body)
            guard !silo.records.contains(where: { $0.hostname.hasSuffix(".") }), gate.tryAcquire() else { return nil }
            defer { gate.release() }
            try takeBudget(id)
            let outcome: SiloUpdate
            do {
                outcome = try synchronousStore.updateNow(silo, mayCreate: true, maxSilos: settings.maxSilos)
            } catch {
                throw storeError(error)
            }
            return try finishPut(silo, role: .admin, outcome: outcome)
        } catch {
            return .error(error)
        }
    }

    private func parseSilo(id: String, body: [UInt8]) throws(DDNSAPIError) -> Silo {
        try DDNSRequestValidation.parseSiloBody(body, siloID: id, rules: rules, refusal: { namePolicy.refusal(for: $0) })
    }

    /// A put's outcome as the reply, the change published and logged (called inside the gate).
    private func finishPut(_ silo: Silo, role: Role, outcome: SiloUpdate) throws(DDNSAPIError) -> DDNSReply {
        switch outcome {
        case .written(let version, let changed, let created):
            if changed { publisher.apply([.upsert(silo)], version: version) }
            logger.info("ddns silo \(created ? "created" : "replaced")", metadata: [
                "silo": "\(silo.id)", "records": "\(silo.records.count)", "by": "\(role == .admin ? "admin" : "silo token")"])
            return .document(created ? 201 : 200, silo, zone: settings.zone, zoneText: zoneText)
        case .noSuchSilo:
            throw DDNSAPIError(.notFound, "silo \(DDNSRequestValidation.quoted(silo.id)) does not exist")
        case .full(let count):
            throw DDNSAPIError(.conflict, "the store holds \(count) silos, the most ddns.max_silos allows (\(settings.maxSilos)); delete one first")
        }
    }

    /// `DELETE /silos/{id}`.
    func deleteSilo(rawID: String, authorization: String?) async -> DDNSReply {
        await reply {
            let id = try DDNSRequestValidation.siloID(rawID)
            _ = try await authorize(authorization, silo: nil)
            try await gate.run {
                guard let version = try await storeCall({ try await store.delete(id: id) }) else {
                    throw DDNSAPIError(.notFound, "silo \(DDNSRequestValidation.quoted(id)) does not exist")
                }
                publisher.apply([.delete(id: id)], version: version)
            }
            limiter.withLockedValue { $0.forget(id) }
            logger.info("ddns silo deleted", metadata: ["silo": "\(id)"])
            return .json(200, ["deleted": id])
        }
    }

    /// `POST /silos/{id}/token`: a new token, returned once; only its hash is kept.
    func makeToken(rawID: String, authorization: String?) async -> DDNSReply {
        await reply {
            let id = try DDNSRequestValidation.siloID(rawID)
            _ = try await authorize(authorization, silo: nil)
            let token = DDNSToken.generate()
            try await storeCall { try await store.setTokenHash(siloID: id, hash: DDNSToken.hash(token)) }
            logger.info("ddns silo token issued", metadata: ["silo": "\(id)"])
            var reply = DDNSReply.json(201, ["id": id, "token": token])
            reply.headers.append(("Cache-Control", "no-store"))
            return reply
        }
    }

    // MARK: Access

    /// Resolves the caller's role for a call on `silo` (nil: an admin-only call).
    /// No `Authorization` → 401; a token that is not good for this call → 403; the admin token
    /// (when configured) is good for everything; a silo's token only for that silo.
    func authorize(_ header: String?, silo: String?) async throws(DDNSAPIError) -> Role {
        guard let header, let token = Self.bearer(header) else {
            throw DDNSAPIError(.unauthorized, "missing credentials: send Authorization: Bearer <token>")
        }
        if let adminHash, DDNSToken.matches(token, hash: adminHash) { return .admin }
        guard let silo else {
            guard adminHash != nil else {
                throw DDNSAPIError(.unauthorized, "no admin token is configured (ddns.admin_token), so admin calls are off")
            }
            throw DDNSAPIError(.forbidden, "this call needs the admin token")
        }
        let stored = try await storeCall { try await store.tokenHash(siloID: silo) }
        guard let stored, DDNSToken.matches(token, hash: stored) else {
            throw DDNSAPIError(.forbidden, "the token does not grant access to silo \(DDNSRequestValidation.quoted(silo))")
        }
        return .silo(silo)
    }

    /// The token of `Bearer <token>` (scheme case-insensitive, RFC 7235 §2.1).
    /// Spaces and tabs around the token are ignored. (Scanned as UTF-8 bytes: the Foundation
    /// split/trim, then the Character-wise slicing, it replaces showed in the per-update profile.
    /// Space and tab are ASCII, so every cut falls on a character boundary.)
    static func bearer(_ header: String) -> Substring? {
        // Scanned as contiguous bytes (the header is a native string), then cut by offsets.
        var text = header
        let range: Range<Int>? = text.withUTF8 { bytes in
            func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
            var start = 0
            while start < bytes.count, blank(bytes[start]) { start += 1 }
            var gap = start
            while gap < bytes.count, !blank(bytes[gap]) { gap += 1 }
            guard gap < bytes.count, gap - start == 6,
                  zip(bytes[start..<gap], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
            var first = gap
            while first < bytes.count, blank(bytes[first]) { first += 1 }
            var end = bytes.count
            while end > first, blank(bytes[end - 1]) { end -= 1 }
            return first < end ? first..<end : nil
        }
        guard let range else { return nil }
        let utf8 = header.utf8
        return header[utf8.index(utf8.startIndex, offsetBy: range.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: range.upperBound)]
    }

    /// The caller's address: the peer, or, when the peer is a trusted proxy, the right-most
    /// address in `X-Forwarded-For` that is not itself a trusted proxy (RFC 7239 §5.2's advice
    /// for the de-facto header: only hops we trust may have added entries to its right).
    func clientAddress(peer: IPAddress?, forwardedFor: [String]) -> IPAddress? {
        guard let peer else { return nil }
        var current = peer.mappedIPv4 ?? peer
        guard isTrusted(current) else { return current }
        let entries = forwardedFor.flatMap { $0.split(separator: ",") }.suffix(64)
        for entry in entries.reversed() {
            let text = entry.trimmingCharacters(in: .whitespaces)
            guard let address = IPAddress(text) else { return current }
            current = address.mappedIPv4 ?? address
            if !isTrusted(current) { return current }
        }
        return current
    }

    private func isTrusted(_ address: IPAddress) -> Bool {
        settings.trustedProxies.contains { $0.contains(address) }
    }

    // MARK: Helpers

    /// An absolute name belongs to one silo: a second silo claiming it would override the
    /// first's answer, so that PUT is refused (409) naming the holder. Only silos that name
    /// absolute names pay for the scan (absolute names are few, and operator-allowed).
    func checkAbsoluteNamesAreFree(_ silo: Silo) async throws(DDNSAPIError) {
        let absolute = Set(silo.records.map(\.hostname).filter { $0.hasSuffix(".") })
        guard !absolute.isEmpty else { return }
        let (all, _) = try await storeCall { try await store.loadAll() }
        for other in all where other.id != silo.id {
            if let taken = other.records.first(where: { absolute.contains($0.hostname) }) {
                throw DDNSAPIError(.conflict, "\(DDNSRequestValidation.quoted(taken.hostname)) is already a name of silo \(DDNSRequestValidation.quoted(other.id))")
            }
        }
    }

    /// Takes one write from the silo's budget, or 429.
    func takeBudget(_ id: String) throws(DDNSAPIError) {
        let ok = limiter.withLockedValue { $0.take(id, now: now()) }
        guard ok else {
            throw DDNSAPIError(.rateLimited, "silo \(DDNSRequestValidation.quoted(id)) made more than \(settings.maxUpdatesPerMinute) updates in a minute (ddns.max_updates_per_minute); try again later")
        }
    }

    /// Maps store failures to HTTP: unreachable → 503, anything else → 500 (logged).
    func storeCall<T: Sendable>(_ body: () async throws -> T) async throws(DDNSAPIError) -> T {
        do {
            return try await body()
        } catch {
            throw storeError(error)
        }
    }

    /// A store failure as the API's error (logged when it is the server's).
    func storeError(_ error: any Error) -> DDNSAPIError {
        switch error {
        case let error as SiloStoreError:
            switch error {
            case .unavailable(let why):
                logger.warning("ddns store unavailable: \(why)")
                return DDNSAPIError(.unavailable, "the DDNS store is unavailable; try again later")
            case .noSuchSilo(let id):
                return DDNSAPIError(.notFound, "silo \(DDNSRequestValidation.quoted(id)) does not exist")
            case .incompatible(let why):
                logger.error("ddns store: \(why)")
                return DDNSAPIError(.internal, "the DDNS store failed")
            }
        case let error as DDNSAPIError:
            return error
        default:
            logger.error("ddns store: \(error)")
            return DDNSAPIError(.unavailable, "the DDNS store is unavailable; try again later")
        }
    }

    private func reply(_ body: () async throws -> DDNSReply) async -> DDNSReply {
        do {
            return try await body()
        } catch let error as DDNSAPIError {
            return .error(error)
        } catch {
            logger.error("ddns API: \(error)")
            return .error(DDNSAPIError(.internal, "internal error"))
        }
    }
}
