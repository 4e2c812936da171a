import DNSWire
import Foundation

/// `GET /nic/update`: the dyndns2 protocol (Dyn's "Remote Access API", as ddclient, inadyn and home
/// routers speak it).
///
/// - Credentials: HTTP Basic `silo-id:silo-token`. None at all → 401 with a Basic challenge (some
///   routers send credentials only when challenged) and `badauth`; wrong ones → `badauth`.
/// - `hostname`: one or more FQDNs, comma-separated (ddclient joins the hosts that share an
///   address), at most `maxHosts`; each must be a name of this silo: `label.<silo>.<zone>` or an
///   absolute record name of the silo, with or without the final dot, any case. A name that is not
///   a domain name of two labels or more → `notfqdn`; another silo's name or a hostname with no
///   record in this silo → `nohost` (updates change existing names, they do not create them).
/// - `myip`: the address (IPv4 or IPv6; two, comma-separated, one of each family, as dyndns2's
///   IPv6 extension allows); missing or empty → the caller's address (through trusted proxies).
///   Each address sets the record of its family for that hostname (adding the AAAA beside an A,
///   say), keeping the hostname's other records and every other record of the silo.
/// - Replies are text/plain, HTTP 200, one line per hostname in request order: `good IP` (changed
///   and committed), `nochg IP` (already so), `nohost`, `notfqdn`, `badauth`, `abuse` (the silo's
///   `ddns.max_updates_per_minute` is spent), `numhost` (too many hostnames, or the silo would
///   exceed `ddns.max_records_per_silo`), `911` (the store is unavailable: clients retry later).
///   An unparsable `myip` → HTTP 400 `badip` (dyndns2 has no code for it).
extension DDNSAPI {
    /// Most hostnames in one update.
    static let maxHosts = 20

    func dyndns2Update(authorization: String?, hostname: String?, myip: String?, peer: IPAddress?,
                       forwardedFor: [String]) async -> DDNSReply {
        // Credentials first: nothing about the silo is revealed to a caller without them.
        guard let authorization else {
            var reply = DDNSReply.text(401, "badauth")
            reply.headers.append(("WWW-Authenticate", "Basic realm=\"proxima-ddns\""))
            return reply
        }
        guard let (user, password) = Self.basic(authorization),
              let id = try? DDNSRequestValidation.siloID(user) else { return .text(200, "badauth") }
        let stored: [UInt8]?
        do throws(DDNSAPIError) {
            stored = try await storeCall { try await store.tokenHash(siloID: id) }
        } catch {
            return .text(error.code == .unavailable ? 200 : 500, "911")
        }
        guard let stored, DDNSToken.matches(password, hash: stored) else { return .text(200, "badauth") }

        let hosts = (hostname ?? "").split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard !(hostname ?? "").isEmpty else { return .text(200, "notfqdn") }
        guard hosts.count <= Self.maxHosts else { return .text(200, "numhost") }

        var addresses: [IPAddress] = []
        if let myip, !myip.isEmpty {
            let parts = myip.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return .text(400, "badip") }
            for part in parts {
                guard let address = IPAddress(part.trimmingCharacters(in: .whitespaces)) else { return .text(400, "badip") }
                addresses.append(address.mappedIPv4 ?? address)
            }
            if addresses.count == 2 && addresses[0].bitWidth == addresses[1].bitWidth { return .text(400, "badip") }
        } else {
            guard let caller = clientAddress(peer: peer, forwardedFor: forwardedFor) else { return .text(400, "badip") }
            addresses = [caller]
        }
        let shown = addresses.map(\.description).joined(separator: ",")

        do {
            try takeBudget(id)
        } catch {
            return .text(200, hosts.map { _ in "abuse" }.joined(separator: "\n"))
        }

        do {
            let lines: [String] = try await gate.run {
                guard let silo = try await storeCall({ try await store.silo(id: id) }) else {
                    return hosts.map { _ in "nohost" }
                }
                var records = silo.records
                var lines: [String] = []
                for host in hosts {
                    switch resolve(host: host, in: silo) {
                    case .notFQDN:
                        lines.append("notfqdn")
                    case .noHost:
                        lines.append("nohost")
                    case .record(let name):
                        var changed = false
                        for address in addresses {
                            if let i = records.firstIndex(where: { $0.hostname == name && $0.address.bitWidth == address.bitWidth }) {
                                if records[i].address != address {
                                    records[i].address = address
                                    changed = true
                                }
                            } else {
                                let ttl = records.first { $0.hostname == name }?.ttl
                                records.append(DDNSRecord(hostname: name, address: address, ttl: ttl))
                                changed = true
                            }
                        }
                        lines.append(changed ? "good \(shown)" : "nochg \(shown)")
                    }
                }
                guard records != silo.records else { return lines }
                let checked: [DDNSRecord]
                do {
                    checked = try DDNSRequestValidation.checkRecords(records, siloID: id, rules: rules,
                                                                     refusal: { namePolicy.refusal(for: $0) })
                } catch {
                    return hosts.map { _ in "numhost" }
                }
                let updated = Silo(id: id, records: checked)
                let (version, changed) = try await storeCall { try await store.put(updated) }
                if changed { publisher.apply([.upsert(updated)], version: version) }
                logger.info("ddns dyndns2 update", metadata: ["silo": "\(id)", "hosts": "\(hosts.joined(separator: ","))",
                                                              "ip": "\(shown)"])
                return lines
            }
            return .text(200, lines.joined(separator: "\n"))
        } catch {
            return .text(200, hosts.map { _ in "911" }.joined(separator: "\n"))
        }
    }

    private enum HostMatch {
        case notFQDN
        case noHost
        case record(String)
    }

    /// Which record hostname of `silo` the dyndns2 `hostname` names.
    private func resolve(host: String, in silo: Silo) -> HostMatch {
        let absolute = host.hasSuffix(".") ? host : host + "."
        guard let name = try? DomainName(parsing: absolute), name.labelCount >= 2 else { return .notFQDN }
        let siloName = try? DomainName(parsing: silo.id, origin: settings.zone)
        if let siloName, name.labelCount == siloName.labelCount + 1, name.isSubdomain(of: siloName),
           let first = name.labels.first {
            let label = String(decoding: first.map(asciiLower), as: UTF8.self)
            return silo.records.contains { $0.hostname == label } ? .record(label) : .noHost
        }
        let lowered = String(decoding: name.lowercased().description.utf8.map(asciiLower), as: UTF8.self)
        return silo.records.contains { $0.hostname == lowered } ? .record(lowered) : .noHost
    }

    /// `Basic base64(user:password)` (RFC 7617): the user is everything before the first colon.
    static func basic(_ header: String) -> (String, String)? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic", parts[1].utf8.count <= 1024,
              let data = Data(base64Encoded: parts[1].trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}
