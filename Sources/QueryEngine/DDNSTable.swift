import DNSWire

/// Which served zones the dynamic DNS records live in (`ddns.zone`, `ddns.allow_names_in`) and the
/// TTL of records that name none. Changes only with a reload.
public struct DDNSTableSettings: Sendable, Hashable {
    /// The DDNS zone: `host` in silo `s1` is answered at `host.s1.<zone>`.
    public var zone: DomainName
    /// Zones in which a record may name an absolute hostname (overriding the zone file's A/AAAA).
    public var allowNamesIn: Set<DomainName>
    /// TTL of records that carry none (`ddns.default_ttl`).
    public var defaultTTL: UInt32

    public init(zone: DomainName, allowNamesIn: [DomainName] = [], defaultTTL: UInt32 = 60) {
        self.zone = zone.lowercased()
        self.allowNamesIn = Set(allowNamesIn.map { $0.lowercased() })
        self.defaultTTL = defaultTTL
    }
}

/// The in-memory DDNS records the query path reads (issue #9, "The DNS path never waits on the
/// store"): immutable, replaced as a whole on every committed change, published separately from
/// `EngineSnapshot` so a DDNS change never clears the per-thread static and geo answer caches.
///
/// Lookups are hash probes. The maps are split into `shardCount` shards so that applying one
/// silo's change copies one shard (about silos/64 entries), not the whole table: an update costs
/// O(silos / 64 + records of the silo), independent of query load.
public final class DDNSTable: Sendable {
    /// Addresses at one name with their TTL (nil: the default).
    struct Addresses: Sendable {
        var v4: [(IPAddress, UInt32?)] = []
        var v6: [(IPAddress, UInt32?)] = []
        var isEmpty: Bool { v4.isEmpty && v6.isEmpty }
    }

    /// One silo as the table keeps it: its records as stored, the addresses of its relative
    /// hostnames by lowercased label, and its absolute names. A class, so that copying a shard
    /// (every update copies the one it changes) retains one reference per silo.
    final class SiloNode: Sendable {
        let silo: Silo
        let hosts: [LabelKey: Addresses]
        let absolute: [DomainName: Addresses]

        init(silo: Silo, hosts: [LabelKey: Addresses], absolute: [DomainName: Addresses]) {
            self.silo = silo
            self.hosts = hosts
            self.absolute = absolute
        }
    }

    /// An absolute name: the addresses each silo gives it, and how many (silo, name) pairs lie
    /// below it (an empty non-terminal while > 0, RFC 8020).
    struct AbsoluteNode: Sendable {
        var owners: [String: Addresses] = [:]
        var descendants = 0
    }

    static let shardCount = 64

    /// Where silos' names are answered from, and the default TTL.
    public let settings: DDNSTableSettings
    /// The store's version after the last applied change: the DDNS zone's SOA serial is the zone
    /// file's serial plus this (RFC 1982 arithmetic, so it wraps).
    public let version: UInt64
    /// Changes whenever an absolute name's answer may have changed: answers in `allow_names_in`
    /// zones cached by the fast path are valid while it is unchanged (silo-relative updates, the
    /// common case, leave it alone).
    public let absoluteStamp: UInt64
    /// Changes with every table built from this one (answers in the DDNS zone cached by the fast
    /// path are valid while it is unchanged: its SOA serial follows every change).
    public let stamp: UInt64
    /// Silos by lowercased id.
    let silos: [[LabelKey: SiloNode]]
    /// Absolute names (lowercased) and their ancestors up to their zone.
    let absolute: [[DomainName: AbsoluteNode]]
    /// Silos holding at least one record.
    public let siloCount: Int

    /// An empty table.
    public convenience init(settings: DDNSTableSettings) {
        self.init(settings: settings, version: 0, absoluteStamp: 0, stamp: 0,
                  silos: Array(repeating: [:], count: Self.shardCount),
                  absolute: Array(repeating: [:], count: Self.shardCount), siloCount: 0)
    }

    init(settings: DDNSTableSettings, version: UInt64, absoluteStamp: UInt64, stamp: UInt64, silos: [[LabelKey: SiloNode]],
         absolute: [[DomainName: AbsoluteNode]], siloCount: Int) {
        self.settings = settings
        self.version = version
        self.absoluteStamp = absoluteStamp
        self.stamp = stamp
        self.silos = silos
        self.absolute = absolute
        self.siloCount = siloCount
    }

    /// The same records under other settings (a reload changed `ddns:`).
    public func reconfigured(_ settings: DDNSTableSettings) -> DDNSTable {
        DDNSTable(settings: settings, version: version, absoluteStamp: absoluteStamp &+ 1, stamp: stamp &+ 1, silos: silos,
                  absolute: absolute, siloCount: siloCount)
    }

    /// Every silo, sorted by id.
    public var allSilos: [Silo] {
        silos.flatMap { $0.values.map(\.silo) }.sorted { $0.id < $1.id }
    }

    /// A new table with `changes` applied in order; `version` is the store's version after them.
    /// The table keeps the larger of its version and `version`: a shared store's feed can deliver
    /// a node's own change after the API applied it, and the SOA serial must never go back.
    public func applying(_ changes: [DDNSChange], version: UInt64) -> DDNSTable {
        var b = Builder(self)
        for change in changes {
            switch change {
            case .replaceAll(let all):
                b.silos = Array(repeating: [:], count: Self.shardCount)
                b.absolute = Array(repeating: [:], count: Self.shardCount)
                b.siloCount = 0
                b.absoluteChanged = true
                for s in all { b.upsert(s) }
            case .upsert(let s):
                b.upsert(s)
            case .delete(let id):
                b.remove(id: Self.key(id))
            }
        }
        return DDNSTable(settings: settings, version: max(version, self.version),
                         absoluteStamp: b.absoluteChanged ? absoluteStamp &+ 1 : absoluteStamp, stamp: stamp &+ 1,
                         silos: b.silos, absolute: b.absolute, siloCount: b.siloCount)
    }

    static func key(_ label: String) -> LabelKey { LabelKey(label.utf8.map(asciiLower)) }

    static func shard(_ name: DomainName) -> Int { name.hashValue & (shardCount - 1) }

    /// A lowercased label or silo id as a key: hashed as one block of bytes (an array of bytes
    /// hashes element by element, a call each), and sharded by FNV-1a of its bytes rather than
    /// a second full hash.
    struct LabelKey: Hashable, Sendable {
        let bytes: [UInt8]

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }

        var shard: Int {
            var h: UInt32 = 2_166_136_261
            for byte in bytes { h = (h ^ UInt32(byte)) &* 16_777_619 }
            return Int(h) & (DDNSTable.shardCount - 1)
        }
    }

    /// Mutable copies of the shard arrays; only the shards touched are copied (copy-on-write).
    struct Builder {
        var silos: [[LabelKey: SiloNode]]
        var absolute: [[DomainName: AbsoluteNode]]
        var siloCount: Int
        var absoluteChanged = false

        init(_ t: DDNSTable) {
            silos = t.silos
            absolute = t.absolute
            siloCount = t.siloCount
        }

        mutating func upsert(_ silo: Silo) {
            let k = DDNSTable.key(silo.id)
            remove(id: k)
            guard !silo.records.isEmpty else { return }
            var hosts: [LabelKey: Addresses] = [:]
            var absoluteNames: [DomainName: Addresses] = [:]
            for r in silo.records {
                if r.hostname.hasSuffix(".") {
                    guard let name = try? DomainName(parsing: r.hostname) else { continue }
                    absoluteNames[name.lowercased(), default: Addresses()].add(r)
                } else {
                    guard !r.hostname.isEmpty, !r.hostname.utf8.contains(UInt8(ascii: ".")) else { continue }
                    hosts[DDNSTable.key(r.hostname), default: Addresses()].add(r)
                }
            }
            let node = SiloNode(silo: silo, hosts: hosts, absolute: absoluteNames)
            for (name, addresses) in node.absolute {
                absoluteChanged = true
                absolute[DDNSTable.shard(name)][name, default: AbsoluteNode()].owners[silo.id] = addresses
                var ancestor = name.parent
                while let a = ancestor, !a.isRoot {
                    absolute[DDNSTable.shard(a)][a, default: AbsoluteNode()].descendants += 1
                    ancestor = a.parent
                }
            }
            silos[k.shard][k] = node
            siloCount += 1
        }

        mutating func remove(id k: LabelKey) {
            let s = k.shard
            guard let old = silos[s].removeValue(forKey: k) else { return }
            siloCount -= 1
            for name in old.absolute.keys {
                absoluteChanged = true
                let ns = DDNSTable.shard(name)
                absolute[ns][name]?.owners[old.silo.id] = nil
                if let n = absolute[ns][name], n.owners.isEmpty, n.descendants == 0 { absolute[ns][name] = nil }
                var ancestor = name.parent
                while let a = ancestor, !a.isRoot {
                    let sa = DDNSTable.shard(a)
                    absolute[sa][a]?.descendants -= 1
                    if let n = absolute[sa][a], n.owners.isEmpty, n.descendants <= 0 { absolute[sa][a] = nil }
                    ancestor = a.parent
                }
            }
        }
    }

    /// Whether answers in the zone with this origin may come from this table.
    @inline(__always)
    public func governs(zone origin: DomainName) -> Bool {
        origin == settings.zone || (!settings.allowNamesIn.isEmpty && settings.allowNamesIn.contains(origin))
    }

    /// What the table says about `name` in the zone `origin` (which it governs).
    func lookup(_ name: DomainName, zone origin: DomainName) -> DDNSLookup {
        if origin == settings.zone {
            let relative = name.labelCount - origin.labelCount
            guard relative == 1 || relative == 2 else { return .none }
            let labels = name.labels
            let siloKey = LabelKey(labels[relative - 1].map(asciiLower))
            guard let node = silos[siloKey.shard][siloKey] else { return .none }
            if relative == 1 { return .emptyNonTerminal }
            let hostKey = LabelKey(labels[0].map(asciiLower))
            guard let a = node.hosts[hostKey] else { return .none }
            let hostname = node.silo.records.first { Self.key($0.hostname) == hostKey }?.hostname
            return .records(a, silo: node.silo.id, hostname: hostname ?? String(decoding: labels[0], as: UTF8.self))
        }
        guard let n = absolute[Self.shard(name)][name] else { return .none }
        guard !n.owners.isEmpty else { return n.descendants > 0 ? .emptyNonTerminal : .none }
        var merged = Addresses()
        for id in n.owners.keys.sorted() {
            let a = n.owners[id]!
            for x in a.v4 where !merged.v4.contains(where: { $0.0 == x.0 }) { merged.v4.append(x) }
            for x in a.v6 where !merged.v6.contains(where: { $0.0 == x.0 }) { merged.v6.append(x) }
        }
        return .records(merged, silo: n.owners.keys.sorted().joined(separator: ","), hostname: name.description)
    }

    /// The A or AAAA records at `owner` (written with the owner as asked, so compression points
    /// at the question and the answer keeps its case).
    func records(_ a: Addresses, type: RecordType, owner: DomainName) -> [ResourceRecord] {
        let list = type == .a ? a.v4 : type == .aaaa ? a.v6 : []
        return list.map { address, ttl in
            ResourceRecord(name: owner, ttl: ttl ?? settings.defaultTTL,
                           rdata: type == .a ? .a(address) : .aaaa(address))
        }
    }

    /// The DDNS zone's SOA serial derived from the zone file's: `serial + version` modulo 2^32
    /// (RFC 1982 serial number arithmetic), so it increases with every committed change.
    public func serial(base: UInt32) -> UInt32 {
        base &+ UInt32(truncatingIfNeeded: version)
    }
}

extension DDNSTable.Addresses {
    mutating func add(_ r: DDNSRecord) {
        if r.address.family == 1 {
            if !v4.contains(where: { $0.0 == r.address }) { v4.append((r.address, r.ttl)) }
        } else {
            if !v6.contains(where: { $0.0 == r.address }) { v6.append((r.address, r.ttl)) }
        }
    }
}

/// What the DDNS table holds at one name.
enum DDNSLookup {
    /// Nothing: the zone's own data answers.
    case none
    /// Names below it exist in the table (a silo's name, or an ancestor of an absolute name):
    /// the zone answers, but a name error becomes NODATA (RFC 8020).
    case emptyNonTerminal
    /// Records of one name (silo: the owning silo id(s); hostname as written).
    case records(DDNSTable.Addresses, silo: String, hostname: String)
}

/// How a cached answer depends on the DDNS table (the fast path stamps it accordingly).
public enum DDNSDependency: UInt8, Sendable, Comparable {
    /// Not at all: cached until the snapshot changes.
    case none
    /// Answers in `allow_names_in` zones: valid while `absoluteStamp` is unchanged.
    case absolute
    /// Answers in the DDNS zone (its SOA serial follows every change): valid while `stamp` is.
    case zone

    public static func < (a: DDNSDependency, b: DDNSDependency) -> Bool { a.rawValue < b.rawValue }
}
