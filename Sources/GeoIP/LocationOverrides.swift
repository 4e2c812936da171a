import DNSWire
import GeoRouting

/// Operator-configured places for client networks (`geoip.overrides`), checked before the
/// database: CIDR → coordinate and optional label, the longest matching prefix wins.
///
/// Stored as one hash table per distinct prefix length, probed from the longest prefix down, so a
/// lookup costs one masked hash probe per distinct prefix length in use (usually a handful) and
/// nothing at all when there are no overrides of the address's family.
public struct LocationOverrides: Sendable {
    /// One configured override (the same value the config loader produces).
    public typealias Entry = LocationOverride

    private struct Level: Sendable {
        var prefixLength: Int
        var entries: [IPAddress: Hit]
    }

    /// One override as stored: its location and the more specific overrides inside its network.
    private struct Hit: Sendable {
        var location: Location
        var nested: [IPNetwork]
    }

    /// The entries as given, in configuration order.
    public let entries: [Entry]
    private let v4Levels: [Level]
    private let v6Levels: [Level]

    /// No overrides.
    public init() {
        entries = []
        v4Levels = []
        v6Levels = []
    }

    /// Validates and indexes `entries`. Throws ``GeoIPError`` (`.invalidOverride`) for a
    /// coordinate out of range, a duplicate network, or an IPv4-mapped IPv6 network (write the
    /// IPv4 CIDR instead: mapped client addresses are matched as IPv4).
    public init(_ entries: [Entry]) throws {
        var byFamily: [UInt16: [Int: [IPAddress: Location]]] = [:]
        for (index, entry) in entries.enumerated() {
            guard entry.coordinate.isValid else {
                throw GeoIPError(.invalidOverride,
                                 "overrides[\(index)]: \(entry.network): coordinate \(entry.coordinate) out of range")
            }
            if entry.network.address.mappedIPv4 != nil && entry.network.prefixLength >= 96 {
                throw GeoIPError(.invalidOverride,
                                 "overrides[\(index)]: \(entry.network): IPv4-mapped network; write it as IPv4")
            }
            let location = Location(coordinate: entry.coordinate, source: .override,
                                    network: entry.network, label: entry.label)
            let family = entry.network.address.family
            if byFamily[family, default: [:]][entry.network.prefixLength, default: [:]][entry.network.address] != nil {
                throw GeoIPError(.invalidOverride, "overrides[\(index)]: \(entry.network): duplicate network")
            }
            byFamily[family, default: [:]][entry.network.prefixLength, default: [:]][entry.network.address] = location
        }
        func levels(_ family: UInt16) -> [Level] {
            let table = byFamily[family] ?? [:]
            var hits = table.mapValues { $0.mapValues { Hit(location: $0, nested: []) } }
            // Every override inside a shorter one is listed there (one probe per shorter level).
            for (length, networks) in table {
                for address in networks.keys {
                    for shorter in table.keys where shorter < length {
                        let outer = address.masked(to: shorter)
                        if hits[shorter]?[outer] != nil {
                            hits[shorter]![outer]!.nested.append(IPNetwork(address: address, prefixLength: length))
                        }
                    }
                }
            }
            return hits.map { Level(prefixLength: $0.key, entries: $0.value) }
                .sorted { $0.prefixLength > $1.prefixLength }
        }
        self.entries = entries
        v4Levels = levels(1)
        v6Levels = levels(2)
    }

    /// True when there are no overrides.
    public var isEmpty: Bool { entries.isEmpty }

    /// The override for `address` with the longest matching prefix, as a `.override` location.
    /// Its network is the largest block around `address` that the answer holds for: the override's
    /// CIDR, narrowed just enough to leave out more specific overrides inside it (so a resolver
    /// caching by ECS scope, or a cache keyed by network, never applies it to their clients).
    /// IPv4-mapped IPv6 addresses match IPv4 overrides.
    public func lookup(_ address: IPAddress) -> Location? {
        let ip = address.mappedIPv4 ?? address
        let levels: [Level]
        switch ip {
        case .v4: levels = v4Levels
        case .v6: levels = v6Levels
        }
        for level in levels {
            guard let hit = level.entries[ip.masked(to: level.prefixLength)] else { continue }
            guard !hit.nested.isEmpty else { return hit.location }
            var prefix = level.prefixLength
            for inner in hit.nested {
                // A block of `ip` excludes `inner` once it is longer than their common prefix.
                prefix = max(prefix, min(inner.prefixLength, LocationOverrides.commonPrefixLength(ip, inner.address) + 1))
            }
            var location = hit.location
            location.network = IPNetwork(address: ip.masked(to: prefix), prefixLength: prefix)
            return location
        }
        return nil
    }

    /// Leading bits `a` and `b` (same family) share.
    /// `network`, a database or ipstack network around `address` (which no override holds),
    /// narrowed to the block around `address` that holds no override: inside an override the
    /// override answers, so the other source's answer does not hold for all of `network`. The
    /// result bounds the ECS scope and is the block the fast path remembers a location for.
    /// Linear in the number of overrides; only location-cache misses and engine lookups pay it.
    public func excluding(from network: IPNetwork, around address: IPAddress) -> IPNetwork {
        guard !entries.isEmpty else { return network }
        let ip = address.mappedIPv4 ?? address
        var prefix = network.prefixLength
        for entry in entries {
            let inner = entry.network
            guard inner.prefixLength > network.prefixLength, inner.address.family == ip.family,
                  network.contains(inner.address) else { continue }
            // A block of `ip` excludes `inner` once it is longer than their common prefix.
            prefix = max(prefix, min(inner.prefixLength, LocationOverrides.commonPrefixLength(ip, inner.address) + 1))
        }
        return prefix == network.prefixLength ? network : IPNetwork(address: ip.masked(to: prefix), prefixLength: prefix)
    }

    static func commonPrefixLength(_ a: IPAddress, _ b: IPAddress) -> Int {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return (x ^ y).leadingZeroBitCount
        case (.v6(let xh, let xl), .v6(let yh, let yl)):
            return xh != yh ? (xh ^ yh).leadingZeroBitCount : 64 + (xl ^ yl).leadingZeroBitCount
        default: return 0
        }
    }
}
