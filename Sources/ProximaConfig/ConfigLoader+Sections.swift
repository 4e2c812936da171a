import DNSWire
import GeoRouting
import Yams

/// Decoding of the `geoip`, `routing`, `health` and `admin` sections.
extension DecodeContext {
    // MARK: geoip

    func decodeGeoIP(_ v: YAMLValue) -> GeoIPSettings {
        let defaults = GeoIPSettings()
        guard let map = MappingReader(v, allowed: ["database", "watch", "overrides", "ipstack"], sink: sink) else {
            return defaults
        }
        defer { map.finish() }
        return GeoIPSettings(databasePath: map.optional("database").flatMap { path($0) },
                             watch: map.bool("watch") ?? defaults.watch,
                             overrides: map.optional("overrides").map { decodeOverrides($0) } ?? [],
                             ipstack: map.optional("ipstack").map { decodeIPStack($0) } ?? defaults.ipstack)
    }

    func decodeOverrides(_ v: YAMLValue) -> [LocationOverride] {
        guard let items = ValueDecoder.sequence(v, sink: sink) else { return [] }
        var out: [LocationOverride] = []
        var seen: [IPNetwork: KeyPath] = [:]
        for item in items {
            guard let map = MappingReader(item, allowed: ["network", "latitude", "longitude", "label"], sink: sink) else {
                continue
            }
            defer { map.finish() }
            let networkValue = map.required("network", what: "a CIDR network such as 10.0.0.0/8")
            let network = networkValue.flatMap { self.network($0) }
            let latitude = map.required("latitude", what: "degrees north, -90...90")
                .flatMap { ValueDecoder.double($0, in: -90...90, sink: sink) }
            let longitude = map.required("longitude", what: "degrees east, -180...180")
                .flatMap { ValueDecoder.double($0, in: -180...180, sink: sink) }
            let label = map.string("label")
            guard let network, let latitude, let longitude, let networkValue else { continue }
            if let first = seen[network] {
                sink.add(.conflict, at: networkValue, "network \(network) is already overridden at \(first)")
                continue
            }
            seen[network] = item.path
            out.append(LocationOverride(network: network, coordinate: Coordinate(latitude: latitude, longitude: longitude),
                                        label: label))
        }
        return out
    }

    /// A CIDR network whose host bits are zero.
    func network(_ v: YAMLValue) -> IPNetwork? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        if let network = IPNetwork(text) { return network }
        // Say why: IPNetwork rejects host bits set beyond the prefix, which is usually a typo.
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let address = IPAddress(parts[0]), let prefix = Int(parts[1]),
           prefix >= 0, prefix <= address.bitWidth, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) {
            let intended = IPNetwork(address: address, prefixLength: prefix)
            sink.add(.invalidValue, at: v,
                     "'\(text)' has host bits set beyond the /\(prefix) prefix; did you mean \(intended)?")
        } else {
            sink.add(.invalidValue, at: v, "'\(text)' is not a CIDR network (e.g. 10.0.0.0/8 or 2001:db8::/32)")
        }
        return nil
    }

    static let ipstackKeys = ["enabled", "base_url", "access_key", "access_key_env", "timeout", "budget",
                              "max_concurrent", "cache_ttl", "negative_cache_ttl", "cache_prefix_v4",
                              "cache_prefix_v6", "breaker_failures", "breaker_cooldown"] + ipstackLimitKeys

    func decodeIPStack(_ v: YAMLValue) -> IPStackSettings {
        let d = IPStackSettings()
        guard let map = MappingReader(v, allowed: Self.ipstackKeys, sink: sink) else { return d }
        defer { map.finish() }
        // Writing the section turns ipstack on unless it says `enabled: false`.
        let enabled = map.bool("enabled") ?? true
        let baseURL = map.optional("base_url").flatMap { self.baseURL($0) } ?? d.baseURL
        let inlineKey = map.string("access_key")
        let keyEnv = map.optional("access_key_env").flatMap { environmentName($0) } ?? d.accessKeyEnv
        let accessKey = secret(inline: inlineKey, environmentName: keyEnv)
        if enabled && accessKey == nil {
            sink.add(.missingKey, line: map.optional("access_key")?.line ?? v.line, path: v.path.appending("access_key"),
                     "ipstack is enabled but has no access key: set access_key, or the environment variable \(keyEnv), or enabled: false")
        }
        return IPStackSettings(
            enabled: enabled,
            baseURL: baseURL,
            accessKey: accessKey,
            accessKeyEnv: keyEnv,
            timeout: map.duration("timeout", in: Self.positive ... .seconds(60)) ?? d.timeout,
            budget: map.duration("budget", in: .zero ... .seconds(10)) ?? d.budget,
            maxConcurrent: map.int("max_concurrent", in: 1...1024) ?? d.maxConcurrent,
            cacheTTL: map.duration("cache_ttl", in: .seconds(1) ... .seconds(7 * 86_400)) ?? d.cacheTTL,
            negativeCacheTTL: map.duration("negative_cache_ttl", in: .seconds(1) ... .seconds(7 * 86_400)) ?? d.negativeCacheTTL,
            cachePrefixV4: map.int("cache_prefix_v4", in: 1...32) ?? d.cachePrefixV4,
            cachePrefixV6: map.int("cache_prefix_v6", in: 1...128) ?? d.cachePrefixV6,
            breakerFailures: map.int("breaker_failures", in: 1...1000) ?? d.breakerFailures,
            breakerCooldown: map.duration("breaker_cooldown", in: Self.positive ... .seconds(3600)) ?? d.breakerCooldown)
            .withLimits(decodeIPStackLimits(map))
    }

    /// An `http://` or `https://` URL with a host and no query or fragment, without trailing `/`.
    func baseURL(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        let lower = text.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("http://") {
            schemeLength = 7
        } else if lower.hasPrefix("https://") {
            schemeLength = 8
        } else {
            sink.add(.invalidValue, at: v, "'\(text)' is not an http:// or https:// URL")
            return nil
        }
        let rest = text.dropFirst(schemeLength)
        let authority = rest.prefix { $0 != "/" }
        let valid = !authority.isEmpty && !authority.hasPrefix(":") && !authority.contains("@")
            && !text.contains("?") && !text.contains("#") && !text.contains(where: { $0.isWhitespace })
        guard valid else {
            sink.add(.invalidValue, at: v, "'\(text)' needs a host and no credentials, query or fragment (e.g. http://api.ipstack.com)")
            return nil
        }
        var out = text
        while out.hasSuffix("/") { out.removeLast() }
        return out
    }

    // MARK: routing

    static let routeKeys = ["policy", "answers", "ttl", "tie_band", "all_down", "fallback_pool"]

    /// Route keys as written in one mapping; nil members were not set there.
    struct PartialRoute {
        var pool: String?
        var policy: RoutePolicy?
        var answers: Int?
        var ttl: UInt32?
        var tieBand: Double?
        /// `fail-open`, `servfail` or `fallback`, with the value's location.
        var allDown: (keyword: String, at: YAMLValue)?
        var fallbackPool: (name: String, at: YAMLValue)?
    }

    func decodePartialRoute(_ map: MappingReader) -> PartialRoute {
        var route = PartialRoute()
        if let v = map.optional("policy"), let text = ValueDecoder.string(v, sink: sink) {
            if let policy = RoutePolicy(rawValue: text) {
                route.policy = policy
            } else {
                sink.add(.invalidValue, at: v, "unknown policy '\(text)'; expected one of: "
                         + RoutePolicy.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        route.answers = map.int("answers", in: 1...8)
        route.ttl = map.int("ttl", in: 0...2_147_483_647).map { UInt32($0) }
        route.tieBand = map.double("tie_band", in: 0...1)
        if let v = map.optional("all_down"), let text = ValueDecoder.string(v, sink: sink) {
            if ["fail-open", "servfail", "fallback"].contains(text) {
                route.allDown = (text, v)
            } else {
                sink.add(.invalidValue, at: v, "unknown all_down '\(text)'; expected one of: fail-open, servfail, fallback")
            }
        }
        if let v = map.optional("fallback_pool"), let pool = poolName(v) {
            route.fallbackPool = (pool, v)
        }
        return route
    }

    /// A pool name: non-empty, no whitespace or control characters.
    func poolName(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        guard !text.isEmpty, !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) else {
            sink.add(.invalidValue, at: v, "'\(text)' is not a pool name (non-empty, no spaces)")
            return nil
        }
        return text
    }

    func decodeRouting(_ v: YAMLValue, zones: [ZoneSettings]) -> RoutingSettings {
        guard let map = MappingReader(v, allowed: ["defaults", "names"], sink: sink) else { return RoutingSettings() }
        defer { map.finish() }
        var defaultsPartial = PartialRoute()
        if let dv = map.optional("defaults"), let dmap = MappingReader(dv, allowed: Self.routeKeys, sink: sink) {
            defaultsPartial = decodePartialRoute(dmap)
            dmap.finish()
            if let allDown = defaultsPartial.allDown, allDown.keyword == "fallback", defaultsPartial.fallbackPool == nil {
                sink.add(.conflict, at: allDown.at, "all_down: fallback needs fallback_pool (the pool to answer from)")
            }
        }
        let defaults = resolve(defaultsPartial, over: defaultsPartial, reportConflicts: false)
        var names: [String: RoutedName] = [:]
        if let nv = map.optional("names"),
           let nmap = MappingReader(nv, allowed: [], sink: sink) {
            for (key, keyLine) in nmap.keys {
                let keyValue = YAMLValue(node: Node(key), path: nv.path.appending(key), line: keyLine)
                var partial = PartialRoute()
                let routeValue = nmap.optional(key)
                sink.record(keyValue)  // the name's own line, not its first setting's
                if let routeValue,
                   let rmap = MappingReader(routeValue, allowed: ["pool"] + Self.routeKeys, sink: sink) {
                    partial = decodePartialRoute(rmap)
                    partial.pool = rmap.optional("pool").flatMap { poolName($0) }
                    rmap.finish()
                }
                // A name with no settings (`www.example.test.:`) takes the defaults and pool `default`.
                let route = resolve(partial, over: defaultsPartial, reportConflicts: true, at: routeValue ?? keyValue)
                if let owner = routedName(key, at: keyValue, zones: zones, existing: names) {
                    names[owner.name] = RoutedName(name: owner.name, zoneOrigin: owner.zone, route: route,
                                                   keyPath: keyValue.path.description)
                }
            }
            nmap.finish()
        }
        return RoutingSettings(defaults: defaults, names: names)
    }

    /// Validates a routed owner name: absolute, unique (case-insensitively), inside a zone.
    func routedName(_ key: String, at v: YAMLValue, zones: [ZoneSettings],
                    existing: [String: RoutedName]) -> (name: String, zone: String)? {
        let name: String
        switch ConfigText.absoluteName(key) {
        case .success(let n): name = n
        case .failure(let problem):
            sink.add(.invalidValue, at: v, problem.message)
            return nil
        }
        if existing[name] != nil {
            sink.add(.duplicateKey, at: v, "'\(name)' is routed twice (names are case-insensitive)")
            return nil
        }
        // Longest-suffix match, as the server picks the zone for a query.
        let zone = zones.filter { ConfigText.name(name, isInside: $0.origin) }
            .max { $0.origin.utf8.count < $1.origin.utf8.count }
        guard let zone else {
            if !zones.isEmpty {
                sink.add(.invalidValue, at: v, "'\(name)' is not inside any configured zone ("
                         + zones.map(\.origin).joined(separator: ", ") + ")")
            }
            return nil
        }
        return (name, zone.origin)
    }

    /// Merges a name's keys over the defaults, checking the all_down/fallback_pool pairing.
    func resolve(_ partial: PartialRoute, over defaults: PartialRoute, reportConflicts: Bool,
                 at value: YAMLValue? = nil) -> RouteSettings {
        let base = RouteSettings()
        let pool = partial.pool ?? base.pool
        let keyword = partial.allDown?.keyword ?? defaults.allDown?.keyword ?? "fail-open"
        let fallback = partial.fallbackPool ?? defaults.fallbackPool
        var allDown = AllDownBehavior.failOpen
        switch keyword {
        case "servfail":
            allDown = .servfail
        case "fallback":
            if let fallback {
                allDown = .fallback(pool: fallback.name)
                if reportConflicts, fallback.name == pool {
                    sink.add(.conflict, at: partial.fallbackPool?.at ?? partial.allDown?.at ?? value ?? fallback.at,
                             "fallback_pool '\(fallback.name)' is the route's own pool; name a different pool")
                }
            } else if reportConflicts, let own = partial.allDown {
                sink.add(.conflict, at: own.at, "all_down: fallback needs fallback_pool (the pool to answer from)")
            }
        default:
            allDown = .failOpen
        }
        if reportConflicts, let own = partial.fallbackPool, keyword != "fallback" {
            sink.add(.conflict, at: own.at, "fallback_pool is set but all_down is '\(keyword)', so it would never be used; "
                     + "set all_down: fallback or remove it")
        }
        return RouteSettings(pool: pool,
                             policy: partial.policy ?? defaults.policy ?? base.policy,
                             answers: partial.answers ?? defaults.answers ?? base.answers,
                             ttl: partial.ttl ?? defaults.ttl ?? base.ttl,
                             tieBand: partial.tieBand ?? defaults.tieBand ?? base.tieBand,
                             allDown: allDown)
    }

    // MARK: health, admin

    func decodeHealth(_ v: YAMLValue) -> HealthSettings {
        let d = HealthSettings()
        guard let map = MappingReader(v, allowed: ["interval", "timeout", "rise", "fall", "load_max_age"], sink: sink) else {
            return d
        }
        defer { map.finish() }
        let interval = map.duration("interval", in: .milliseconds(10) ... .seconds(86_400))
        let timeout = map.duration("timeout", in: Self.positive ... .seconds(300))
        let settings = HealthSettings(interval: interval ?? d.interval, timeout: timeout ?? d.timeout,
                                      rise: map.int("rise", in: 1...100) ?? d.rise,
                                      fall: map.int("fall", in: 1...100) ?? d.fall,
                                      loadMaxAge: map.duration("load_max_age", in: Self.positive ... .seconds(86_400)) ?? d.loadMaxAge)
        if (interval != nil || timeout != nil), settings.timeout > settings.interval {
            sink.add(.conflict, at: map.optional("timeout") ?? map.optional("interval") ?? v,
                     "timeout (\(settings.timeout.configText)) exceeds interval (\(settings.interval.configText)); "
                     + "probes would overlap")
        }
        return settings
    }

    func decodeAdmin(_ v: YAMLValue) -> AdminSettings {
        decodeAdminSection(v)  // ConfigLoader+Admin.swift
    }
}
