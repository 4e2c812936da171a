import DNSWire
import Yams

/// Decoding of the `ddns` section (the dynamic DNS service, issue #9; config/README.md, "ddns").
extension DecodeContext {
    static let ddnsKeys = ["zone", "nameservers", "hostmaster", "allow_names_in", "listen", "tls", "store",
                           "admin_token", "admin_token_env", "admin_token_file", "trusted_proxies",
                           "max_records_per_silo", "max_silos", "max_updates_per_minute", "default_ttl",
                           "resync_interval", "max_connections", "max_connections_per_ip", "request_timeout",
                           "idle_timeout"]

    /// The default store when `store` is not written.
    static let defaultDDNSStore = "sqlite:///var/lib/proxima/ddns.sqlite3"

    /// Decodes `ddns:`; cross-section checks (zones, listeners, routed names) are in
    /// `checkDDNS`. Nil when the section is unusable (its issues are reported).
    func decodeDDNS(_ v: YAMLValue) -> DDNSSettings? {
        guard let map = MappingReader(v, allowed: Self.ddnsKeys, sink: sink) else { return nil }
        defer { map.finish() }
        let zoneValue = map.required("zone", what: "the DDNS zone, e.g. dyn.example.test.")
        let zone = zoneValue.flatMap { domainName($0) }
        var nameservers: [DomainName] = []
        if let items = map.sequence("nameservers") {
            for item in items {
                guard let ns = domainName(item) else { continue }
                if nameservers.contains(ns) {
                    sink.add(.conflict, at: item, "name server \(ns) is listed twice")
                    continue
                }
                nameservers.append(ns)
            }
            if items.isEmpty, let n = map.optional("nameservers") {
                sink.add(.invalidValue, at: n, "must list at least one name server (or omit it when zone has a zone file)")
            }
        }
        let hostmaster = map.optional("hostmaster").flatMap { domainName($0) }
        var allow: [DomainName] = []
        if let items = map.sequence("allow_names_in") {
            for item in items {
                guard let z = domainName(item) else { continue }
                if allow.contains(z) {
                    sink.add(.conflict, at: item, "zone \(z) is listed twice")
                    continue
                }
                allow.append(z)
            }
        }
        let d = DDNSSettings(zone: .root, store: .sqlite(path: "/var/lib/proxima/ddns.sqlite3"))
        let listen = map.optional("listen").flatMap { endpoint($0) } ?? d.listen
        let tls = map.optional("tls").flatMap { decodeAdminTLS($0) }
        let store = map.optional("store").flatMap { ddnsStore($0) } ?? d.store
        let tokenEnv = map.optional("admin_token_env").flatMap { environmentName($0) } ?? DDNSSettings.defaultAdminTokenEnv
        let token = secret(inline: map.string("admin_token"), environmentName: tokenEnv)
        let tokenFile = map.optional("admin_token_file").flatMap { path($0) }
        let proxies = map.sequence("trusted_proxies").map { $0.compactMap { network($0) } } ?? []
        let maxRecords = map.int("max_records_per_silo", in: 1...10_000) ?? d.maxRecordsPerSilo
        let maxSilos = map.int("max_silos", in: 1...1_000_000) ?? d.maxSilos
        let maxUpdates = map.int("max_updates_per_minute", in: 1...100_000) ?? d.maxUpdatesPerMinute
        let ttl = map.int("default_ttl", in: 1...86_400).map { UInt32($0) } ?? d.defaultTTL
        let resync = map.duration("resync_interval", in: .seconds(1)...Duration.seconds(86_400)) ?? d.resyncInterval
        let maxConnections = map.int("max_connections", in: 1...1_000_000) ?? d.maxConnections
        let maxPerIP = map.int("max_connections_per_ip", in: 1...1_000_000) ?? d.maxConnectionsPerIP
        let requestTimeout = map.duration("request_timeout", in: .milliseconds(10)...Duration.seconds(3600)) ?? d.requestTimeout
        let idleTimeout = map.duration("idle_timeout", in: .milliseconds(10)...Duration.seconds(86_400)) ?? d.idleTimeout
        guard let zone else { return nil }
        var s = DDNSSettings(zone: zone, nameservers: nameservers, hostmaster: hostmaster, allowNamesIn: allow,
                             listen: listen, tls: tls, store: store, adminToken: token, trustedProxies: proxies,
                             maxRecordsPerSilo: maxRecords, maxSilos: maxSilos, maxUpdatesPerMinute: maxUpdates,
                             defaultTTL: ttl, resyncInterval: resync, maxConnections: maxConnections,
                             maxConnectionsPerIP: maxPerIP, requestTimeout: requestTimeout, idleTimeout: idleTimeout)
        s.adminTokenEnv = tokenEnv
        s.adminTokenFile = tokenFile
        return s
    }

    /// The cross-section rules of `ddns`: its zone is served (a zone file) or generated
    /// (`nameservers`), `allow_names_in` names served zones other than it, its listener is not a
    /// DNS or admin listener, and no routed name has the shape of a DDNS name (`host.silo.<zone>`
    /// or `silo.<zone>`), which it would shadow.
    func checkDDNS(_ s: DDNSSettings, section: YAMLValue, zones: [ZoneSettings], listen: [ListenEndpoint],
                   admin: AdminSettings?, routing: RoutingSettings) {
        let map = section.node.mapping
        func at(_ key: String) -> (line: Int?, path: KeyPath) {
            (map?[key]?.mark?.line ?? section.line, section.path.appending(key))
        }
        let served = Set(zones.compactMap { try? DomainName(parsing: $0.origin) })
        let hasFile = served.contains(s.zone)
        if hasFile && !s.nameservers.isEmpty {
            let (line, path) = at("nameservers")
            sink.add(.conflict, line: line, path: path,
                     "zone \(s.zone) has a zone file in zones:, which holds its SOA and NS; nameservers is only for a generated DDNS zone")
        } else if !hasFile && s.nameservers.isEmpty {
            let (line, path) = at("zone")
            sink.add(.invalidValue, line: line, path: path,
                     "\(s.zone) is not a zone in zones:; list it there with a zone file, or give ddns.nameservers so Proxima generates it")
        }
        if !hasFile, let inside = s.nameservers.first(where: { $0.isSubdomain(of: s.zone) }) {
            let (line, path) = at("nameservers")
            sink.add(.invalidValue, line: line, path: path,
                     "name server \(inside) is inside the generated zone \(s.zone), which would need its address (glue); use a name outside it, or give the zone a zone file")
        }
        if hasFile, s.hostmaster != nil {
            let (line, path) = at("hostmaster")
            sink.add(.conflict, line: line, path: path,
                     "zone \(s.zone) has a zone file, whose SOA names the hostmaster; hostmaster is only for a generated DDNS zone")
        }
        if let sequence = map?["allow_names_in"]?.sequence {
            let items = Array(sequence)
            for (i, item) in s.allowNamesIn.enumerated() {
                let line = i < items.count ? items[i].mark?.line : nil
                let path = section.path.appending("allow_names_in").appending(index: i)
                if item == s.zone {
                    sink.add(.conflict, line: line, path: path,
                             "\(item) is the DDNS zone itself; silos' names there are host.silo.\(s.zone)")
                } else if !served.contains(item) {
                    sink.add(.invalidValue, line: line, path: path, "\(item) is not a zone in zones:")
                }
            }
        }
        if s.listen.port != 0 {
            let (line, path) = at("listen")
            if listen.contains(s.listen) {
                sink.add(.conflict, line: line, path: path,
                         "\(s.listen) is also a DNS listen address (DNS serves TCP there); use another port")
            } else if let admin, admin.listen == s.listen {
                sink.add(.conflict, line: line, path: path, "\(s.listen) is also the admin listener (admin.listen); use another port")
            }
        }
        for routed in routing.names.values.sorted(by: { $0.name < $1.name }) {
            guard let name = try? DomainName(parsing: routed.name), name.isSubdomain(of: s.zone) else { continue }
            let below = name.labelCount - s.zone.labelCount
            guard below == 1 || below == 2 else { continue }
            let (line, _) = at("zone")
            sink.add(.conflict, line: line, path: section.path.appending("zone"),
                     "routed name \(routed.name) (routing.names) has the shape of a DDNS name in \(s.zone) (host.silo.zone or silo.zone); routed names cannot be DDNS names")
        }
    }

    /// `sqlite:///absolute/path`, `sqlite:relative/path` (relative to the config file), or
    /// `postgres://user[:password]@host[:port]/db` (also `postgresql://`).
    func ddnsStore(_ v: YAMLValue) -> DDNSStoreLocation? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            let rest = text.drop(while: { $0 != "/" }).dropFirst(2)
            guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex,
                  !rest[rest.index(after: slash)...].isEmpty else {
                sink.add(.invalidValue, at: v, "'\(text)' is not a PostgreSQL URL like postgres://proxima@db.example/proxima")
                return nil
            }
            return .postgres(url: text)
        }
        if text.hasPrefix("sqlite:") {
            let rest = String(text.dropFirst("sqlite:".count))
            let file: String
            if rest.hasPrefix("///") {
                file = String(rest.dropFirst(2))
            } else if rest.hasPrefix("//") {
                sink.add(.invalidValue, at: v,
                         "'\(text)' names a host; write sqlite:///absolute/path or sqlite:relative/path (relative to the config file)")
                return nil
            } else {
                file = rest
            }
            guard !file.isEmpty, !file.hasSuffix("/"), !file.unicodeScalars.contains(where: { $0.value == 0 }) else {
                sink.add(.invalidValue, at: v, "'\(text)' names no file; e.g. sqlite:data/ddns.sqlite3")
                return nil
            }
            return .sqlite(path: ConfigText.resolve(file, against: baseDirectory))
        }
        sink.add(.invalidValue, at: v,
                 "'\(text)' is not a store; write sqlite:///var/lib/proxima/ddns.sqlite3, sqlite:data/ddns.sqlite3 or postgres://user@host/db")
        return nil
    }

    /// A lowercased absolute domain name as a `DomainName`.
    func domainName(_ v: YAMLValue) -> DomainName? {
        guard let text = name(v) else { return nil }
        guard let n = try? DomainName(parsing: text) else {
            sink.add(.invalidValue, at: v, "'\(text)' is not a domain name")
            return nil
        }
        return n
    }
}
