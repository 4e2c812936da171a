import ArgumentParser
import AsyncHTTPClient
import DNSWire
import Foundation
import GeoIP
import GeoRouting
import NIOPosix
import ProximaApp
import ProximaConfig

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

/// The part of the config `proxima locate` needs: the validated `geoip` section.
struct LocateSettings {
    var databasePath: String?
    var overrides = LocationOverrides()
    var ipstack: IPStackConfiguration?

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func load(configPath: String) throws -> LocateSettings {
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
            throw Problem(description: "\(configPath): cannot read config file")
        }
        let config: ProximaConfiguration
        switch ConfigLoader.load(yaml: text, file: configPath, environment: ProcessInfo.processInfo.environment,
                                 workingDirectory: FileManager.default.currentDirectoryPath) {
        case .success(let c): config = c
        case .failure(let e): throw Problem(description: e.description)
        }
        var settings = LocateSettings(databasePath: config.geoip.databasePath)
        do {
            settings.overrides = try LocationOverrides(config.geoip.overrides)
        } catch {
            throw Problem(description: "\(configPath): geoip.overrides: \(error)")
        }
        let ipstack = config.geoip.ipstack
        if ipstack.enabled, let key = ipstack.accessKey, !key.isEmpty {
            settings.ipstack = ProximaServer.ipstackConfiguration(ipstack, key: key)
        }
        return settings
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
