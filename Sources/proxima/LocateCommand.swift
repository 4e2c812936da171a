import ArgumentParser
import AsyncHTTPClient
import DNSWire
import Foundation
import GeoIP
import GeoRouting
import NIOPosix
import Yams

/// `proxima locate IP`: where the locator chain (overrides → database → ipstack) places a client.
struct Locate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locate",
        abstract: "Show where Proxima places a client address (overrides, GeoIP database, ipstack).",
        discussion: """
            Runs the same locator chain the server uses for routed names: the config's \
            geoip.overrides (longest prefix wins), then the MaxMind-format database, then — only \
            with --config and geoip.ipstack.enabled — one ipstack request (never for private or \
            other special-purpose addresses).

            Prints latitude, longitude, accuracy radius, country, continent and city when known, \
            the network (CIDR) the answer holds for — the ECS scope resolvers may cache it for — \
            the source (override, database, ipstack), and the database type and build date.

            Exit status: 0 located, 1 unknown, 2 the database or config could not be used, \
            64 usage error.

            Examples:
              proxima locate 81.2.69.142 --database data/geoip/GeoLite2-City.mmdb
              proxima locate 2a02:c7f::1 --config config/proxima.yaml --json
              proxima locate ::ffff:10.1.2.3 --config config/proxima.yaml   (located as 10.1.2.3)
            """)

    @Argument(help: "The IPv4 or IPv6 client address (IPv4-mapped IPv6 is located as IPv4).")
    var address: String

    @Option(name: .long, help: ArgumentHelp(
        "Proxima config file: uses its geoip section (database, overrides, ipstack).",
        valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("A .mmdb database to use on its own (no config).",
                                            valueName: "file"))
    var database: String?

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard IPAddress(address) != nil else {
            throw ValidationError("'\(address)' is not an IPv4 or IPv6 address (e.g. 81.2.69.142 or 2001:db8::1)")
        }
        switch (config, database) {
        case (nil, nil): throw ValidationError("give --config FILE or --database FILE")
        case (.some, .some): throw ValidationError("give either --config or --database, not both")
        default: break
        }
    }

    func run() async throws {
        guard let ip = IPAddress(address) else { throw ValidationError("bad address") }
        let settings: LocateSettings
        do {
            if let config {
                settings = try LocateSettings.load(configPath: config)
            } else {
                settings = LocateSettings(databasePath: database)
            }
        } catch {
            FileHandle.standardError.write(Data("proxima locate: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var db: MaxMindDatabase?
        if let path = settings.databasePath {
            do {
                db = try MaxMindDatabase(path: path)
            } catch {
                FileHandle.standardError.write(Data("proxima locate: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }

        var http: HTTPClient?
        var ipstack: IPStackClient?
        if let ipstackConfig = settings.ipstack {
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
            http = client
            do {
                ipstack = try IPStackClient(httpClient: client, configuration: ipstackConfig)
            } catch {
                try? await client.shutdown()
                FileHandle.standardError.write(Data("proxima locate: ipstack: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let locator = GeoLocator(overrides: settings.overrides, database: db, ipstack: ipstack)
        var report = LocateReport(address: ip.mappedIPv4 ?? ip, database: db)
        switch locator.locate(ip, now: .now) {
        case .located(let location):
            report.location = location
        case .unknown(let network):
            report.network = network
        case .needsRemote:
            do {
                report.location = try await ipstack?.fetch(ip)
                if report.location == nil {
                    report.note = "ipstack has no coordinates for this address"
                    report.network = ipstack?.cacheNetwork(for: ip)
                }
            } catch {
                report.note = "ipstack lookup failed: \(error)"
            }
        }
        try? await http?.shutdown()
        print(json ? report.json() : report.text())
        if report.location == nil { throw ExitCode(1) }
    }
}

/// The part of the config `proxima locate` needs, read directly with Yams.
///
/// Stop-gap until ProximaConfig lands: the lead will switch `--config` to the validated config.
struct LocateSettings {
    var databasePath: String?
    var overrides = LocationOverrides()
    var ipstack: IPStackConfiguration?

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func load(configPath: String) throws -> LocateSettings {
        let text: String
        do {
            text = try String(contentsOfFile: configPath, encoding: .utf8)
        } catch {
            throw Problem(description: "\(configPath): cannot read: \(error.localizedDescription)")
        }
        guard let root = try Yams.compose(yaml: text) else { return LocateSettings() }
        guard let geoip = root["geoip"] else { return LocateSettings() }
        let directory = URL(fileURLWithPath: configPath).deletingLastPathComponent()
        func fail(_ node: Node?, _ key: String, _ message: String) -> Problem {
            let line = node.map { ":\($0.mark?.line ?? 0)" } ?? ""
            return Problem(description: "\(configPath)\(line): \(key): \(message)")
        }
        var settings = LocateSettings()
        if let db = geoip["database"] {
            guard let path = db.string, !path.isEmpty else { throw fail(db, "geoip.database", "expected a path") }
            settings.databasePath = path.hasPrefix("/") ? path : directory.appendingPathComponent(path).standardized.path
        }
        if let list = geoip["overrides"] {
            guard let items = list.sequence else { throw fail(list, "geoip.overrides", "expected a list") }
            var entries: [LocationOverrides.Entry] = []
            for (i, item) in items.enumerated() {
                let key = "geoip.overrides[\(i)]"
                guard let cidr = item["network"]?.string, let network = IPNetwork(cidr) else {
                    throw fail(item, "\(key).network", "expected a CIDR such as 10.0.0.0/8")
                }
                guard let lat = item["latitude"]?.float, let lon = item["longitude"]?.float else {
                    throw fail(item, key, "latitude and longitude are required numbers")
                }
                entries.append(.init(network: network, coordinate: Coordinate(latitude: lat, longitude: lon),
                                     label: item["label"]?.string))
            }
            do {
                settings.overrides = try LocationOverrides(entries)
            } catch let error as GeoIPError {
                throw fail(list, "geoip.overrides", error.message)
            }
        }
        if let node = geoip["ipstack"], node["enabled"]?.bool == true {
            let envName = node["access_key_env"]?.string ?? "IPSTACK_ACCESS_KEY"
            var key = node["access_key"]?.string ?? ""
            if key.isEmpty { key = ProcessInfo.processInfo.environment[envName] ?? "" }
            var c = IPStackConfiguration(accessKey: key)
            if let v = node["base_url"]?.string { c.baseURL = v }
            func duration(_ name: String) throws -> Duration? {
                guard let n = node[name] else { return nil }
                guard let text = n.string, let d = parseDuration(text) else {
                    throw fail(n, "geoip.ipstack.\(name)", "expected a duration such as 250ms, 2s, 5m, 1h")
                }
                return d
            }
            func integer(_ name: String) throws -> Int? {
                guard let n = node[name] else { return nil }
                guard let v = n.int else { throw fail(n, "geoip.ipstack.\(name)", "expected an integer") }
                return v
            }
            c.timeout = try duration("timeout") ?? c.timeout
            c.budget = try duration("budget") ?? c.budget
            c.cacheTTL = try duration("cache_ttl") ?? c.cacheTTL
            c.negativeCacheTTL = try duration("negative_cache_ttl") ?? c.negativeCacheTTL
            c.breakerCooldown = try duration("breaker_cooldown") ?? c.breakerCooldown
            c.maxConcurrent = try integer("max_concurrent") ?? c.maxConcurrent
            c.cachePrefixV4 = try integer("cache_prefix_v4") ?? c.cachePrefixV4
            c.cachePrefixV6 = try integer("cache_prefix_v6") ?? c.cachePrefixV6
            c.breakerFailures = try integer("breaker_failures") ?? c.breakerFailures
            if key.isEmpty {
                throw fail(node, "geoip.ipstack.access_key", "empty, and $\(envName) is not set")
            }
            settings.ipstack = c
        }
        return settings
    }

    /// `250ms`, `2s`, `5m`, `1h`, or a bare number of seconds (config schema).
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v >= 0, v.isFinite else { return nil }
            return .nanoseconds(Int64(v * scale * 1e9))
        }
        guard let v = Double(text), v >= 0, v.isFinite else { return nil }
        return .nanoseconds(Int64(v * 1e9))
    }
}

/// What `proxima locate` prints.
struct LocateReport {
    var address: IPAddress
    var database: MaxMindDatabase?
    var location: Location?
    var network: IPNetwork?
    var note: String?

    func text() -> String {
        var lines: [(String, String)] = [("address", "\(address)")]
        if let l = location {
            lines.append(("source", l.source.rawValue))
            lines.append(("latitude", "\(l.coordinate.latitude)"))
            lines.append(("longitude", "\(l.coordinate.longitude)"))
            if let r = l.accuracyRadiusKm { lines.append(("accuracy radius", "\(r) km")) }
            if let c = l.countryCode { lines.append(("country", c)) }
            if let c = l.continentCode { lines.append(("continent", c)) }
            if let c = l.city { lines.append(("city", c)) }
            if let c = l.label { lines.append(("label", c)) }
            lines.append(("network", "\(l.network)"))
        } else {
            lines.append(("location", "unknown" + (note.map { " (\($0))" } ?? "")))
            if let n = network { lines.append(("network", "\(n)")) }
        }
        if let db = database {
            lines.append(("database", "\(db.metadata.databaseType), built \(db.metadata.buildDate) (\(db.path))"))
        } else {
            lines.append(("database", "none"))
        }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 }
            .joined(separator: "\n")
    }

    func json() -> String {
        var object: [String: Any] = ["address": "\(address)", "found": location != nil]
        if let l = location {
            object["source"] = l.source.rawValue
            object["latitude"] = l.coordinate.latitude
            object["longitude"] = l.coordinate.longitude
            object["network"] = "\(l.network)"
            if let v = l.accuracyRadiusKm { object["accuracy_radius_km"] = v }
            if let v = l.countryCode { object["country"] = v }
            if let v = l.continentCode { object["continent"] = v }
            if let v = l.city { object["city"] = v }
            if let v = l.label { object["label"] = v }
        } else {
            if let n = network { object["network"] = "\(n)" }
            if let n = note { object["note"] = n }
        }
        if let db = database {
            object["database"] = ["type": db.metadata.databaseType, "build_date": db.metadata.buildDate,
                                  "build_epoch": db.metadata.buildEpoch, "path": db.path] as [String: Any]
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
