import DNSWire
import DNSZone
import Foundation
import GeoIP
import GeoRouting
import ProximaConfig
import QueryEngine

/// One problem found while loading, rendered as `file:line: message` (zones) or
/// `file: key.path: message` (config and geo data) — the formats `proxima check` prints.
public struct LoadProblem: Error, Sendable, CustomStringConvertible, Hashable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
}

/// Every problem that stopped a load.
public struct LoadFailure: Error, Sendable, CustomStringConvertible {
    public var problems: [LoadProblem]
    /// Files read (or meant to be read) before the problems were found: a change to any of them
    /// may fix the load, so the server watches them until a load succeeds.
    public var watchedFiles: [String]
    public init(_ problems: [LoadProblem], watchedFiles: [String] = []) {
        self.problems = problems
        self.watchedFiles = watchedFiles
    }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Everything read from disk for one configuration, validated, ready to become a snapshot.
public struct LoadedRuntime: Sendable {
    public var configPath: String
    public var config: ProximaConfiguration
    public var zones: ZoneSet
    public var geoData: GeoData?
    public var routes: [DomainName: RouteSpec]
    public var database: MaxMindDatabase?
    public var overrides: LocationOverrides
    /// Files whose changes trigger a reload (config, zones, geo data, database).
    public var watchedFiles: [String]
    /// Non-fatal findings (zone warnings).
    public var warnings: [LoadProblem]
    /// The database file's identity when it was opened: a reload reuses the open database while
    /// the file's stamp is unchanged (no second mapping, no recomputed coordinates).
    var databaseStamp: FileStamp?
    /// True when this load opened the database (false: reused the previous load's, or none).
    public var openedDatabase = false
}

/// Reads and validates config, zones, geo data and database. All IO of loading lives here; the
/// parsing itself is done by the pure modules.
public enum RuntimeLoader {
    /// Loads everything the config names; returns every problem found, not only the first.
    /// `precomputeCoordinates` also decodes every database record's coordinates before returning
    /// (≈0.8 s for GeoLite2-City), for a one-shot command that builds answer maps (`proxima route
    /// --ecs`); the server leaves it to its answer-map builder, after the listeners are up.
    ///
    /// A config with problems is still followed as far as it can be read (bad values replaced by
    /// defaults), so a misspelt key does not hide a missing zone file. With `previous` (a reload),
    /// its database is reused when the same path's file stamp is unchanged.
    public static func load(configPath: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            precomputeCoordinates: Bool = false, previous: LoadedRuntime? = nil) -> Result<LoadedRuntime, LoadFailure> {
        let cwd = FileManager.default.currentDirectoryPath
        guard let text = readText(configPath) else {
            return .failure(LoadFailure([LoadProblem("\(configPath): cannot read config file")]))
        }
        let (decoded, configIssues) = ConfigLoader.loadAll(yaml: text, file: configPath, environment: environment,
                                                           workingDirectory: cwd)
        var problems: [LoadProblem] = configIssues.map { LoadProblem($0.description) }
        guard let config = decoded else { return .failure(LoadFailure(problems)) }
        let source = config.source
        func problem(_ keyPath: String, _ message: String) -> LoadProblem {
            LoadProblem(source.issue(at: keyPath, message).description)
        }
        var warnings: [LoadProblem] = []
        var watched = [absolute(configPath, cwd: cwd)]

        // Zones. `$INCLUDE` may read files below the config file's directory only.
        let includeAccess = zoneFileAccess(allowedRoot: ZonePath.directory(of: ZonePath.normalize(watched[0])))
        var zones: [Zone] = []
        for (i, z) in config.zones.enumerated() {
            watched.append(z.file)
            guard let zoneText = readText(z.file) else {
                problems.append(problem("zones[\(i)].file", "cannot read \(z.file)"))
                continue
            }
            guard let origin = try? DomainName(parsing: z.origin) else {
                problems.append(problem("zones[\(i)].origin", "invalid name \(z.origin)"))
                continue
            }
            do {
                let parsed = try ZoneParser.parse(text: zoneText, file: z.file, origin: origin, access: includeAccess)
                let zone = parsed.zone
                zones.append(zone)
                // A change to an included file changes the zone: watch it like the zone file.
                watched += parsed.includedFiles.filter { !watched.contains($0) }
                warnings += zone.warnings.map { LoadProblem($0.description) }
            } catch {
                problems += error.issues.map { LoadProblem($0.description) }
                watched += error.includedFiles.filter { !watched.contains($0) }
            }
        }
        // A DDNS zone without a zone file is generated from ddns.nameservers (issue #9).
        if let ddns = config.ddns, !ddns.nameservers.isEmpty, !zones.contains(where: { $0.origin == ddns.zone }) {
            do {
                zones.append(try generatedDDNSZone(ddns))
            } catch {
                problems += error.issues.map { problem("ddns.zone", $0.message) }
            }
        }
        var zoneSet = ZoneSet.empty
        do {
            zoneSet = try ZoneSet(zones)
        } catch {
            problems += error.issues.map { problem("zones", $0.message) }
        }

        // Synthesize rules the zone data hides entirely (zone data always wins): worth a warning,
        // since such a rule never answers.
        for (i, rule) in config.synthesize.enumerated() {
            guard case .forward = rule.kind, let zone = zoneSet.zone(for: rule.name.parent) else { continue }
            let keyPath = "synthesize[\(i)].name"
            if let cut = zone.enclosingDelegation(of: rule.name.parent) {
                warnings.append(problem(keyPath, "names under \(rule.name.parent) are below the zone cut \(cut) (they get the referral): this rule never answers"))
            } else if let probe = try? rule.name.parent.prepending(label: Array("proxima-probe-\u{7f}".utf8)),
                      zone.lookup(probe, .a) != .nameError {
                warnings.append(problem(keyPath, "a wildcard in zone \(zone.origin) answers every name under \(rule.name.parent) first: this rule never answers"))
            }
        }

        // Geo data.
        var geoData: GeoData?
        if let path = config.geoDataPath {
            watched.append(path)
            if let bytes = FileManager.default.contents(atPath: path) {
                do {
                    geoData = try GeoData.parse(json: [UInt8](bytes), file: path, defaults: healthDefaults(config.health))
                } catch {
                    // file:line: key.path: message, like zone and config problems.
                    problems += error.issues.map { issue in
                        LoadProblem("\(error.file)\(issue.line.map { ":\($0)" } ?? ""): \(issue.description)")
                    }
                }
            } else {
                problems.append(problem("geo_data", "cannot read \(path)"))
            }
        }

        // Routes: each routed name must exist in its zone (it needs a node for its other types) and
        // name a pool the geo data has.
        var routes: [DomainName: RouteSpec] = [:]
        for (key, routed) in config.routing.names.sorted(by: { $0.key < $1.key }) {
            let keyPath = "routing.names.\"\(key)\""
            guard let name = try? DomainName(parsing: routed.name) else {
                problems.append(problem(keyPath, "invalid name"))
                continue
            }
            let spec = routeSpec(routed.route)
            if let zone = zoneSet.zone(for: name) {
                if let cut = zone.enclosingDelegation(of: name) {
                    // Below a cut the data belongs to the child zone: we answer with a referral
                    // (RFC 1034 §4.3.2 step 3b), so a pool answer there would contradict it.
                    problems.append(problem(keyPath, "\(name) is at or below the zone cut \(cut) in zone \(zone.origin) (delegated elsewhere); a routed name must be authoritative data"))
                } else if !zone.records(at: name, type: .cname).isEmpty {
                    // A CNAME owner has no other data (RFC 1034 §3.6.2): it cannot also answer A/AAAA.
                    problems.append(problem(keyPath, "\(name) owns a CNAME in zone \(zone.origin); a routed name answers A/AAAA itself and cannot be an alias (RFC 1034 §3.6.2); route the CNAME's target instead"))
                } else if case .nameError = zone.lookup(name, .a) {
                    problems.append(problem(keyPath, "\(name) does not exist in zone \(zone.origin); add a last-resort A or AAAA record for it to the zone file"))
                }
            }
            if let geoData {
                if geoData.pool(named: spec.pool) == nil {
                    problems.append(problem(keyPath + ".pool", "no pool \"\(spec.pool)\" in \(config.geoDataPath ?? "geo data") (pools: \(geoData.pools.map(\.name).joined(separator: ", ")))"))
                }
                if case .fallback(let fb) = spec.allDown, geoData.pool(named: fb) == nil {
                    problems.append(problem(keyPath + ".fallback_pool", "no pool \"\(fb)\" in geo data"))
                }
            }
            routes[name] = spec
        }

        // GeoIP database and overrides.
        var database: MaxMindDatabase?
        var databaseStamp: FileStamp?
        var openedDatabase = false
        if let dbPath = config.geoip.databasePath {
            if config.geoip.watch { watched.append(dbPath) }
            databaseStamp = FileStamp(path: dbPath)
            if let previous, let reused = previous.database, let stamp = databaseStamp,
               previous.config.geoip.databasePath == dbPath, previous.databaseStamp == stamp {
                database = reused
            } else {
                do {
                    // The server builds the coordinate table the query path reads after start, off
                    // the startup and reload paths, on its answer-map builder's thread (#12.3).
                    database = try MaxMindDatabase(path: dbPath, precomputeCoordinates: precomputeCoordinates)
                    openedDatabase = true
                } catch {
                    problems.append(problem("geoip.database", "\(error)"))
                }
            }
        }
        var overrides = LocationOverrides()
        do {
            overrides = try LocationOverrides(config.geoip.overrides)
        } catch {
            problems.append(problem("geoip.overrides", "\(error)"))
        }

        if !problems.isEmpty { return .failure(LoadFailure(problems, watchedFiles: watched)) }
        return .success(LoadedRuntime(configPath: configPath, config: config, zones: zoneSet, geoData: geoData, routes: routes,
                                      database: database, overrides: overrides, watchedFiles: watched, warnings: warnings,
                                      databaseStamp: databaseStamp, openedDatabase: openedDatabase))
    }

    static func healthDefaults(_ h: HealthSettings) -> HealthCheckDefaults {
        HealthCheckDefaults(interval: h.interval.configSeconds, timeout: h.timeout.configSeconds, rise: h.rise, fall: h.fall)
    }

    /// The route of a routed name: the config's settings are GeoRouting's own types.
    static func routeSpec(_ r: RouteSettings) -> RouteSpec {
        RouteSpec(pool: r.pool, policy: r.policy, answers: r.answers, ttl: r.ttl, tieBand: r.tieBand, allDown: r.allDown)
    }

    /// What `$INCLUDE` may read: regular files below `allowedRoot` (symbolic links resolved on both
    /// sides, so a link cannot lead out of it).
    static func zoneFileAccess(allowedRoot: String) -> ZoneFileAccess {
        let realRoot = ZonePath.normalize(URL(fileURLWithPath: allowedRoot).resolvingSymlinksInPath().path)
        return ZoneFileAccess(allowedRoot: allowedRoot, allowedRealRoot: realRoot) { path in
            let real = ZonePath.normalize(URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
            // Never open what a link points to outside the root (a device, say): the parser
            // refuses it by its real path.
            guard ZonePath.isInside(real, root: realRoot) else { return ZoneFileText(text: "", realPath: real) }
            guard (try? FileManager.default.attributesOfItem(atPath: real))?[.type] as? FileAttributeType == .typeRegular,
                  let text = readText(real) else { return nil }
            return ZoneFileText(text: text, realPath: real)
        }
    }

    static func readText(_ path: String) -> String? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: d, as: UTF8.self)
    }

    static func absolute(_ path: String, cwd: String) -> String {
        path.hasPrefix("/") ? path : cwd + "/" + path
    }
}
