import DNSZone
import DNSWire
import GeoRouting
import Yams

/// Turns the text of a Proxima YAML config into a validated `ProximaConfiguration`, or a
/// `ConfigError` listing every problem found (file, line, key path, message).
///
/// Pure: it reads no files and no environment. The caller passes the text, the file's path (used
/// in messages and to resolve relative paths), the environment (for `access_key_env` and
/// `token_env`), and, when `file` is relative, the working directory to make paths absolute.
/// Whether the referenced files exist is the caller's check.
public enum ConfigLoader {
    /// Parses and validates a config.
    ///
    /// - Parameters:
    ///   - yaml: The file's contents.
    ///   - file: The file's path as the user gave it; shown in every issue. Relative paths in the
    ///     config are resolved against its directory.
    ///   - environment: Environment variables; only the ones named by `*_env` keys are read.
    ///   - workingDirectory: Absolute directory that a relative `file` is relative to; without it,
    ///     a relative `file` yields relative (but normalized) paths.
    /// - Returns: The configuration, or every issue found.
    public static func load(yaml: String, file: String, environment: [String: String],
                            workingDirectory: String? = nil) -> Result<ProximaConfiguration, ConfigError> {
        let (configuration, issues) = loadAll(yaml: yaml, file: file, environment: environment,
                                              workingDirectory: workingDirectory)
        if let configuration, issues.isEmpty { return .success(configuration) }
        return .failure(ConfigError(issues: issues))
    }

    /// Like `load`, but also returns the configuration decoded around the issues (each bad value
    /// replaced by its default) when the document could be read at all, so a caller such as
    /// `proxima check` can go on to check the files it names and report every problem in one run.
    /// Never serve a configuration that came with issues.
    public static func loadAll(yaml: String, file: String, environment: [String: String],
                               workingDirectory: String? = nil) -> (configuration: ProximaConfiguration?, issues: [ConfigIssue]) {
        let sink = IssueSink(file: file)
        var absoluteFile = file
        if !file.hasPrefix("/"), let workingDirectory {
            absoluteFile = ConfigText.resolve(file, against: workingDirectory)
        } else {
            absoluteFile = ZonePath.normalize(file)
        }
        let context = DecodeContext(sink: sink, baseDirectory: ConfigText.directory(of: absoluteFile),
                                    environment: environment)
        guard let root = compose(yaml, sink: sink) else {
            return (nil, sorted(sink.issues))
        }
        let configuration = context.decodeRoot(YAMLValue(node: root ?? Node([(Node, Node)]()), path: .root))
        return (configuration, sorted(sink.issues))
    }

    /// Like `load`, but throws the `ConfigError`.
    public static func loadOrThrow(yaml: String, file: String, environment: [String: String],
                                   workingDirectory: String? = nil) throws(ConfigError) -> ProximaConfiguration {
        try load(yaml: yaml, file: file, environment: environment, workingDirectory: workingDirectory).get()
    }

    /// Composes the YAML into a node tree; `.some(nil)` for an empty document, nil (with an issue)
    /// on a syntax error. Duplicate keys are marked for `MappingReader` (see `DuplicateKeys`).
    static func compose(_ yaml: String, sink: IssueSink) -> Node?? {
        var text = yaml
        var round = 0
        while true {
            do {
                return .some(try Yams.compose(yaml: text))
            } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
                if round < DuplicateKeys.maxRounds, context.mark.line > 0,
                   let marked = DuplicateKeys.markKey(in: text, line: context.mark.line,
                                                      column: context.mark.column, round: round) {
                    text = marked
                    round += 1
                    continue
                }
                sink.add(.duplicateKey, line: context.mark.line > 0 ? context.mark.line : nil, path: .root,
                         "duplicate key(s) \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping")
                return nil
            } catch let error as YamlError {
                let (line, message) = describe(error)
                sink.add(.syntax, line: line, path: .root, "YAML syntax error: \(message)")
                return nil
            } catch {
                sink.add(.syntax, line: nil, path: .root, "YAML syntax error: \(error)")
                return nil
            }
        }
    }

    /// The line and a one-line message of a Yams error (no source snippet: the line says where).
    private static func describe(_ error: YamlError) -> (Int?, String) {
        func withContext(_ context: YamlError.Context?, _ problem: String) -> String {
            guard let context else { return problem }
            return "\(problem) (\(context.text) at line \(context.mark.line))"
        }
        switch error {
        case .composer(_, let problem, let mark, _) where problem.contains("another document"):
            return (mark.line, "a config file holds one YAML document, but a second one starts here")
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return (mark.line, withContext(context, problem))
        case .reader(let problem, let offset, _, let yaml):
            guard let offset else { return (nil, problem) }
            let prefix = yaml.utf8.prefix(offset)
            return (prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1, problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (context.mark.line, "duplicate keys \(duplicates.joined(separator: ", "))")
        default:
            return (nil, error.description)
        }
    }

    /// Issues by line (issues without a line last), keeping discovery order within a line.
    static func sorted(_ issues: [ConfigIssue]) -> [ConfigIssue] {
        issues.enumerated().sorted { a, b in
            let la = a.element.line ?? Int.max, lb = b.element.line ?? Int.max
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
    }
}

/// Shared state of one decode: where issues go, the directory paths resolve against, the
/// environment for `*_env` keys.
struct DecodeContext {
    let sink: IssueSink
    let baseDirectory: String
    let environment: [String: String]

    /// Limits that keep values "sane": long enough to be meaningful, short enough to be a typo
    /// if exceeded.
    static let positive = Duration.nanoseconds(1)

    static let rootKeys = ["listen", "udp_threads", "udp", "max_udp_payload", "log_level", "tcp", "zones",
                           "geoip", "geo_data", "routing", "health", "admin", "rrl", "ecs", "fast_path", "synthesize", "forward", "ddns",
                           "metrics", "query_log"]
        + operationsKeys

    /// Decodes the whole document; nil only when the root is not a mapping.
    func decodeRoot(_ root: YAMLValue) -> ProximaConfiguration? {
        guard let map = MappingReader(root, allowed: Self.rootKeys, sink: sink) else { return nil }
        let listen = map.optional("listen").flatMap { decodeListen($0) } ?? [ListenEndpoint.defaultDNS]
        let udpThreads = map.int("udp_threads", in: 0...1024) ?? 0
        let maxUDPPayload = map.int("max_udp_payload", in: 512...65535) ?? 1232
        var logLevel = LogLevel.info
        if let v = map.optional("log_level"), let text = ValueDecoder.string(v, sink: sink) {
            if let level = LogLevel(rawValue: text) {
                logLevel = level
            } else {
                sink.add(.invalidValue, at: v,
                         "unknown log level '\(text)'; expected one of: \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let tcp = map.optional("tcp").map { decodeTCP($0) } ?? TCPSettings()
        let zones = decodeZones(map)
        let geoip = map.optional("geoip").map { decodeGeoIP($0) } ?? GeoIPSettings()
        let geoDataPath = map.optional("geo_data").flatMap { path($0) }
        let routing = map.optional("routing").map { decodeRouting($0, zones: zones) } ?? RoutingSettings()
        if !routing.names.isEmpty, map.optional("geo_data") == nil {
            let namesLine = map.optional("routing")?.node.mapping?["names"]?.mark?.line
            sink.add(.missingKey, line: namesLine ?? root.line, path: KeyPath.root.appending("geo_data"),
                     "routing.names routes names to backends, so geo_data (the backends file) is required")
        }
        let health = map.optional("health").map { decodeHealth($0) } ?? HealthSettings()
        let admin = map.optional("admin").map { decodeAdmin($0) }
        // DNS also listens on TCP at every listen address, so the admin HTTP server cannot share one.
        if let admin, admin.listen.port != 0, listen.contains(admin.listen) {
            let at = map.optional("admin")?.node.mapping?["listen"]?.mark?.line
            sink.add(.conflict, line: at, path: KeyPath.root.appending("admin").appending("listen"),
                     "\(admin.listen) is also a DNS listen address (DNS serves TCP there); use another port")
        }
        let rrl = map.optional("rrl").map { decodeRRL($0) } ?? RRLSettings()
        let ecs = map.optional("ecs").map { decodeECS($0) } ?? ECSSettings()
        let fastPath = map.optional("fast_path").map { decodeFastPath($0) } ?? FastPathSettings()
        let udp = map.optional("udp").map { decodeUDP($0) } ?? UDPSettings()
        let synthesize = map.optional("synthesize").map { decodeSynthesize($0, zones: zones) } ?? []
        let forward = map.optional("forward").flatMap { decodeForward($0) }
        let operations = decodeOperations(map)
        let ddnsSection = map.optional("ddns")
        let ddns = ddnsSection.flatMap { decodeDDNS($0) }
        if let ddns, let ddnsSection {
            checkDDNS(ddns, section: ddnsSection, zones: zones, listen: listen, admin: admin, routing: routing)
        }
        let metrics = map.optional("metrics").map { decodeMetrics($0) } ?? MetricsSettings()
        let queryLog = map.optional("query_log").flatMap { decodeQueryLog($0) }
        map.finish()
        var configuration = ProximaConfiguration(listen: listen, udpThreads: udpThreads, maxUDPPayload: maxUDPPayload,
                                                 logLevel: logLevel, tcp: tcp, zones: zones, geoip: geoip,
                                                 geoDataPath: geoDataPath, routing: routing, health: health, admin: admin,
                                                 source: ConfigSourceMap(file: sink.file, lines: sink.lines),
                                                 fastPath: fastPath)
        configuration.rrl = rrl
        configuration.udp = udp
        configuration.ecs = ecs
        configuration.synthesize = synthesize
        configuration.forward = forward
        configuration.log = operations.log
        configuration.process = operations.process
        configuration.identity = operations.identity
        configuration.ddns = ddns
        configuration.metrics = metrics
        configuration.queryLog = queryLog
        return configuration
    }

    // MARK: listen, tcp, zones

    func endpoint(_ v: YAMLValue) -> ListenEndpoint? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        guard let endpoint = ListenEndpoint(text) else {
            sink.add(.invalidValue, at: v,
                     "'\(text)' is not an address:port; write IPv4 as 127.0.0.1:5353 and IPv6 as \"[::1]:5353\" (port 0...65535)")
            return nil
        }
        return endpoint
    }

    func decodeListen(_ v: YAMLValue) -> [ListenEndpoint]? {
        guard let items = ValueDecoder.sequence(v, sink: sink) else { return nil }
        guard !items.isEmpty else {
            sink.add(.invalidValue, at: v, "must list at least one address (the default is 127.0.0.1:5353)")
            return nil
        }
        var seen: [ListenEndpoint: KeyPath] = [:]
        var out: [ListenEndpoint] = []
        for item in items {
            guard let endpoint = endpoint(item) else { continue }
            if let first = seen[endpoint] {
                sink.add(.conflict, at: item, "\(endpoint) is listed twice (also \(first))")
                continue
            }
            seen[endpoint] = item.path
            out.append(endpoint)
        }
        return out
    }

    func decodeZones(_ root: MappingReader) -> [ZoneSettings] {
        guard let v = root.required("zones", what: "a list of zones, each with origin and file") else { return [] }
        guard let items = ValueDecoder.sequence(v, sink: sink) else { return [] }
        if items.isEmpty {
            sink.add(.invalidValue, at: v, "at least one zone is required")
        }
        var zones: [ZoneSettings] = []
        var seen: [String: KeyPath] = [:]
        for item in items {
            guard let map = MappingReader(item, allowed: ["origin", "file"], sink: sink) else { continue }
            defer { map.finish() }
            let origin = map.required("origin", what: "the zone's absolute name, e.g. example.test.")
                .flatMap { name($0) }
            let file = map.required("file", what: "path of the zone's master file").flatMap { path($0) }
            guard let origin, let file else { continue }
            if let first = seen[origin] {
                sink.add(.conflict, at: map.optional("origin") ?? item, "zone '\(origin)' is already configured at \(first)")
                continue
            }
            seen[origin] = item.path
            zones.append(ZoneSettings(origin: origin, file: file))
        }
        return zones
    }

    // MARK: Shared value rules

    /// A lowercased absolute domain name.
    func name(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        switch ConfigText.absoluteName(text) {
        case .success(let name): return name
        case .failure(let problem):
            sink.add(.invalidValue, at: v, problem.message)
            return nil
        }
    }

    /// A file path resolved against the config file's directory.
    func path(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        guard !text.isEmpty else {
            sink.add(.invalidValue, at: v, "a path must not be empty")
            return nil
        }
        guard !text.hasPrefix("~") else {
            sink.add(.invalidValue, at: v, "'~' is not expanded; use an absolute path or one relative to the config file")
            return nil
        }
        guard !text.unicodeScalars.contains(where: { $0.value == 0 }) else {
            sink.add(.invalidValue, at: v, "a path must not contain NUL")
            return nil
        }
        return ConfigText.resolve(text, against: baseDirectory)
    }

    /// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
    func environmentName(_ v: YAMLValue) -> String? {
        guard let text = ValueDecoder.string(v, sink: sink) else { return nil }
        let valid = !text.isEmpty && text.unicodeScalars.enumerated().allSatisfy { i, c in
            (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c == "_" || (i > 0 && c >= "0" && c <= "9")
        }
        guard valid else {
            sink.add(.invalidValue, at: v, "'\(text)' is not an environment variable name (letters, digits, '_'; not starting with a digit)")
            return nil
        }
        return text
    }

    /// A secret from its inline value when non-empty, else from the named environment variable
    /// when set and non-empty.
    func secret(inline: String?, environmentName: String) -> String? {
        if let inline, !inline.isEmpty { return inline }
        if let value = environment[environmentName], !value.isEmpty { return value }
        return nil
    }
}
