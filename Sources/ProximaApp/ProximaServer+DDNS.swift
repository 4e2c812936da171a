import DDNS
import DNSWire
import DNSZone
import Foundation
import GeoRouting
import Logging
import ProximaConfig
import QueryEngine
import ServiceLifecycle
import Synchronization

/// Applies the store's committed changes to the DDNS table the query path reads (issue #9, "The
/// DNS path never waits on the store"). `apply` builds the next immutable table (copying only the
/// shards the change touches) and publishes it before returning, so the API's 2xx, which follows
/// `apply`, is answered by the next query on every thread.
public final class DDNSOverlayPublisher: DDNSPublisher {
    let store: SnapshotStore

    public init(store: SnapshotStore) {
        self.store = store
    }

    public func apply(_ changes: [DDNSChange], version: UInt64) {
        store.updateDDNS { current in
            // Without `ddns:` there is no table to change (the service does not run then).
            current?.applying(changes, version: version)
        }
    }
}

/// Which names a silo may use, from the data the server is serving now: inside the DDNS zone
/// only `host.silo.<zone>`; elsewhere only absolute names in an `allow_names_in` zone, not a
/// routed name (routed names cannot be DDNS names), not at or below a zone cut and not a CNAME
/// owner (whose A/AAAA could never be answered).
///
/// Every record of every update is checked, so the common case is decided once per snapshot:
/// when the DDNS zone is served, holds no zone cut, CNAME or DNAME (wildcards included), and no
/// routed name and no other served zone lies below it, every `host.silo.<zone>` name passes
/// (`PlainZone`), without the lookups `fullRefusal` makes.
public struct ServingDDNSNamePolicy: DDNSNamePolicy {
    let store: SnapshotStore
    private let plainZone = PlainZone()

    public init(store: SnapshotStore) {
        self.store = store
    }

    public func refusal(for name: DomainName) -> String? {
        guard let table = store.ddns else { return "the DDNS service is not configured" }
        let snapshot = store.snapshot
        let zone = table.settings.zone
        if name.labelCount == zone.labelCount + 2, name.isSubdomain(of: zone),
           plainZone.holds(for: snapshot, zone: zone) {
            return nil
        }
        return Self.fullRefusal(for: name, snapshot: snapshot, table: table)
    }

    /// The check itself, name by name.
    static func fullRefusal(for name: DomainName, snapshot: EngineSnapshot, table: DDNSTable) -> String? {
        let lower = name.lowercased()
        if snapshot.routes[lower] != nil {
            return "\(name) is a routed name (routing.names); routed names cannot be DDNS names"
        }
        guard let zone = snapshot.zones.zone(for: lower) else {
            return "\(name) is in no zone this server serves"
        }
        if zone.origin == table.settings.zone {
            guard lower.labelCount - zone.origin.labelCount == 2 else {
                return "names in the DDNS zone \(zone.origin) are hostname.silo.\(zone.origin) (give the hostname as one label)"
            }
        } else if !table.settings.allowNamesIn.contains(zone.origin) {
            return "\(name) is in zone \(zone.origin), which ddns.allow_names_in does not list"
        }
        if lower == zone.origin {
            return "\(name) is the apex of zone \(zone.origin)"
        }
        switch zone.lookup(lower, .a) {
        case .delegation:
            return "\(name) is at or below a zone cut in \(zone.origin) (delegated elsewhere)"
        case .alias:
            return "\(name) owns a CNAME in zone \(zone.origin)"
        default:
            return nil
        }
    }

    /// Whether the DDNS zone of a snapshot is plain (see the type's comment), remembered for the
    /// last snapshot (by its generation) and zone asked about.
    final class PlainZone: Sendable {
        private struct Known {
            var generation: UInt64
            var zone: DomainName
            var plain: Bool
        }

        private let known = Mutex<Known?>(nil)

        func holds(for snapshot: EngineSnapshot, zone: DomainName) -> Bool {
            if let known = known.withLock({ $0 }), known.generation == snapshot.generation, known.zone == zone {
                return known.plain
            }
            let plain = Self.isPlain(zone, in: snapshot)
            known.withLock { $0 = Known(generation: snapshot.generation, zone: zone, plain: plain) }
            return plain
        }

        static func isPlain(_ origin: DomainName, in snapshot: EngineSnapshot) -> Bool {
            guard let zone = snapshot.zones.zone(for: origin), zone.origin == origin else { return false }
            if snapshot.zones.zones.contains(where: { $0.origin != origin && $0.origin.isSubdomain(of: origin) }) {
                return false
            }
            if snapshot.routes.keys.contains(where: { $0.isSubdomain(of: origin) }) { return false }
            return !zone.allRecords().contains { record in
                record.type == .cname || record.type == .dname || (record.type == .ns && record.name != origin)
            }
        }
    }
}

extension ProximaServer {
    /// The table settings for the config's `ddns:` section.
    static func ddnsTableSettings(_ s: DDNSSettings) -> DDNSTableSettings {
        DDNSTableSettings(zone: s.zone, allowNamesIn: s.allowNamesIn, defaultTTL: s.defaultTTL)
    }

    /// At start: an empty table (the service fills it from the store before its API listens).
    static func installDDNSTable(_ settings: DDNSSettings?, store: SnapshotStore) {
        guard let settings else { return }
        store.updateDDNS { _ in DDNSTable(settings: ddnsTableSettings(settings)) }
    }

    /// On reload: the records stay (they live in the store, not the files); the zones they are
    /// answered in and the default TTL follow the new `ddns:` section. Turning `ddns:` on or off,
    /// or moving its store or listener, takes a restart (the service is not restarted in place).
    func reloadDDNS(old: DDNSSettings?, new: DDNSSettings?, reason: String) {
        switch (old, new) {
        case (nil, nil):
            return
        case (let o?, let n?):
            if o.store != n.store || o.listen != n.listen || o.tls != n.tls {
                logger.warning("reload (\(reason)): ddns.store, ddns.listen and ddns.tls changes take effect after a restart")
            }
            let settings = ProximaServer.ddnsTableSettings(n)
            store.updateDDNS { t in
                guard let t, t.settings != settings else { return t }
                return t.reconfigured(settings)
            }
        default:
            logger.warning("reload (\(reason)): turning ddns: on or off takes effect after a restart")
        }
    }

    /// The DDNS admin token: `admin_token` (or its variable), else the first line of
    /// `admin_token_file`, else the admin listener's token (its value, variable or file).
    static func ddnsAdminToken(_ s: DDNSSettings, admin: AdminSettings?) throws -> String? {
        if let t = s.adminToken { return t }
        if let f = s.adminTokenFile {
            do {
                return try readTokenFile(f)
            } catch {
                throw StartupError(problems: [LoadProblem("ddns.admin_token_file: \(error)")])
            }
        }
        if let t = admin?.token { return t }
        if let f = admin?.tokenFile { return try? readTokenFile(f) }
        return nil
    }

    /// The DDNS service (store, change feed, REST and dyndns2 API) for `ddns:`, publishing into
    /// `store`'s DDNS table; nil when `ddns:` is absent.
    static func makeDDNSService(_ config: ProximaConfiguration, configPath: String, store: SnapshotStore,
                                logger: Logger) throws -> (any Service)? {
        guard var settings = config.ddns else { return nil }
        settings.adminToken = try ddnsAdminToken(settings, admin: config.admin)
        if settings.adminToken == nil {
            logger.warning("ddns: no admin token (admin_token, $\(settings.adminTokenEnv), admin_token_file and the admin listener's token are unset): the admin calls of the DDNS API answer 401")
        }
        let publisher = DDNSOverlayPublisher(store: store)
        let policy = ServingDDNSNamePolicy(store: store)
        let configDirectory = URL(fileURLWithPath: configPath).deletingLastPathComponent().path
        return try DDNSService(settings: settings, configDirectory: configDirectory, publisher: publisher,
                               namePolicy: policy, logger: logger.with(label: "proxima.ddns"))
    }
}

extension ProximaServer {
    /// `GET /explain` (admin API): what answers `name`/`type` now, live DDNS records included.
    static func explainNameJSON(store: SnapshotStore, name: String, type: String) -> (status: Int, json: String) {
        guard let qname = try? DomainName(parsing: name.hasSuffix(".") ? name : name + ".") else {
            return (400, jsonObject(["error": "'\(name)' is not a domain name"]))
        }
        guard let qtype = RecordType(mnemonic: type.uppercased()) else {
            return (400, jsonObject(["error": "'\(type)' is not a record type"]))
        }
        let cur = store.current()
        let explanation = QueryEngine.explain(name: qname, type: qtype, snapshot: cur.snapshot, states: cur.states,
                                              ddns: store.ddns)
        return (200, explanation.json())
    }

    /// A one-line account of what the DDNS table holds at `name` (for `proxima route` and
    /// `/route`, which explain routed names only), or nil when the name is not a DDNS name.
    static func ddnsDescription(_ table: DDNSTable?, snapshot: EngineSnapshot, name: DomainName) -> String? {
        guard let table, let zone = snapshot.zones.zone(for: name), table.governs(zone: zone.origin) else { return nil }
        let steps = QueryEngine.explain(name: name, type: .a, snapshot: snapshot, states: BackendStates(), ddns: table)
        let aaaa = QueryEngine.explain(name: name, type: .aaaa, snapshot: snapshot, states: BackendStates(), ddns: table)
        for step in steps.steps where step.name == name {
            guard case .ddns(_, let silo, let hostname, _) = step.source else { continue }
            let addresses = (steps.answers + aaaa.answers).compactMap { rr -> String? in
                switch rr.rdata {
                case .a(let a), .aaaa(let a): return a.description
                default: return nil
                }
            }
            return "it is a DDNS name, DDNS silo \(silo) record \(hostname): \(addresses.isEmpty ? "no addresses" : addresses.joined(separator: ", "))"
        }
        return nil
    }

    static func jsonObject(_ fields: [String: String]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
