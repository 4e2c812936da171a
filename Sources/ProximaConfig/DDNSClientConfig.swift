import DNSZone
import Yams

/// Where `proxima ddns update` learns the address it reports (`--ip-from`, `ip_from:`).
public enum DDNSAddressSource: Sendable, Hashable, CustomStringConvertible {
    /// `GET {server}/ip`: the address the DDNS API sees the client come from (one family).
    case api
    /// The IPv4 and IPv6 addresses of a local network interface (`interface:eth0`).
    case interface(String)

    /// Parses `api` or `interface:NAME` (NAME: 1...15 octets, no `/`, whitespace or NUL, as Linux
    /// interface names are at most IFNAMSIZ-1 octets); nil for anything else.
    public init?(_ text: String) {
        if text == "api" {
            self = .api
            return
        }
        guard text.hasPrefix("interface:") else { return nil }
        let name = String(text.dropFirst("interface:".count))
        guard (1...15).contains(name.utf8.count),
              !name.unicodeScalars.contains(where: { $0 == "/" || $0.value <= 0x20 || $0.value == 0x7f || !$0.isASCII }) else {
            return nil
        }
        self = .interface(name)
    }

    public var description: String {
        switch self {
        case .api: return "api"
        case .interface(let name): return "interface:\(name)"
        }
    }
}

/// Value rules the DDNS clients check both on the command line and in their config file, so both
/// say the same thing about the same mistake. Each returns the normalized value or a message.
public enum DDNSClientRules {
    /// The shortest and longest `--interval` of the looping clients.
    public static let intervalRange: ClosedRange<Duration> = .seconds(1)...Duration.seconds(86_400)
    /// Bounds of `--attempts` (tries per request, the first one included).
    public static let attemptsRange: ClosedRange<Int> = 1...10
    /// Bounds of `--timeout` (one HTTP request).
    public static let timeoutRange: ClosedRange<Duration> = .milliseconds(100)...Duration.seconds(300)

    /// The API's base URL without a trailing `/`: `http://` or `https://`, a host, optionally a
    /// port and a path prefix; no query, fragment or credentials.
    public static func serverURL(_ text: String) -> Result<String, ConfigRuleProblem> {
        let lower = text.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return .failure(.init("'\(text)' is not an http:// or https:// URL"))
        }
        let rest = text.drop(while: { $0 != ":" }).dropFirst(3)
        let authority = rest.prefix(while: { $0 != "/" })
        guard !authority.isEmpty else { return .failure(.init("'\(text)' names no host")) }
        guard !text.contains("?"), !text.contains("#"), !authority.contains("@") else {
            return .failure(.init("'\(text)' must not carry a query, fragment or credentials (the token comes from a file)"))
        }
        guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) else {
            return .failure(.init("'\(text)' contains whitespace or control characters"))
        }
        var base = text
        while base.hasSuffix("/") { base.removeLast() }
        return .success(base)
    }

    /// A silo id: one DNS label of letters, digits and `-` (1...63 octets), lowercased.
    public static func siloID(_ text: String) -> Result<String, ConfigRuleProblem> {
        guard isLDHLabel(text, underscore: false) else {
            return .failure(.init("silo id '\(text)' must be one DNS label: 1...63 letters, digits or '-', not starting or ending with '-'"))
        }
        return .success(text.lowercased())
    }

    /// A record hostname: one DNS label (served under the silo in the DDNS zone) or an absolute
    /// name ending in `.` (which the server allows only inside `ddns.allow_names_in`). Lowercased.
    public static func hostname(_ text: String) -> Result<String, ConfigRuleProblem> {
        if text.hasSuffix(".") {
            switch ConfigText.absoluteName(text) {
            case .success(let name) where name != ".": return .success(name)
            case .success: return .failure(.init("hostname '.' is the root, not a host"))
            case .failure(let problem): return .failure(.init("hostname \(problem.message)"))
            }
        }
        guard isLDHLabel(text, underscore: true) else {
            return .failure(.init("hostname '\(text)' must be one DNS label (1...63 letters, digits, '-' or '_') or an absolute name ending in '.'"))
        }
        return .success(text.lowercased())
    }

    /// The DDNS zone the hosts client names records under (`dyn.example.test`, with or without the
    /// final dot); returned without the final dot, lowercased.
    public static func zone(_ text: String) -> Result<String, ConfigRuleProblem> {
        let absolute = text.hasSuffix(".") ? text : text + "."
        switch ConfigText.absoluteName(absolute) {
        case .success(let name) where name != ".": return .success(String(name.dropLast()))
        case .success: return .failure(.init("zone must not be the root"))
        case .failure(let problem): return .failure(.init("zone \(problem.message)"))
        }
    }

    static func isLDHLabel(_ text: String, underscore: Bool) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x2d
                || (underscore && b == 0x5f)
        }
    }
}

/// Why a client value is not acceptable.
public struct ConfigRuleProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the value.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The settings a DDNS client config file (`proxima ddns update|hosts --config client.yaml`) can
/// carry. Every key is optional; options given on the command line win over the file. Keys that
/// one client does not use (`hosts_file` for `update`) are accepted and ignored by it, so both
/// clients of one machine can share a file. Relative paths are relative to the file's directory.
public struct DDNSClientFileSettings: Sendable, Hashable {
    /// `server`: the API's base URL, normalized (no trailing `/`).
    public var server: String?
    /// `silo`: the silo id, lowercased.
    public var silo: String?
    /// `token_file`: absolute path of the silo token's file.
    public var tokenFile: String?
    /// `hostnames` (update): the names to point at this host, lowercased; empty when absent.
    public var hostnames: [String]
    /// `ip_from` (update): where the address comes from.
    public var ipFrom: DDNSAddressSource?
    /// `include_local` (update): report loopback and link-local interface addresses too.
    public var includeLocal: Bool?
    /// `interval`: run every interval until stopped.
    public var interval: Duration?
    /// `once`: run once and exit.
    public var once: Bool?
    /// `state_file` (update): absolute path of the state file.
    public var stateFile: String?
    /// `hosts_file` (hosts): absolute path of the hosts file to manage.
    public var hostsFile: String?
    /// `zone` (hosts): the server's DDNS zone without the final dot, for full names.
    public var zone: String?
    /// `attempts`: tries per request.
    public var attempts: Int?
    /// `timeout`: one HTTP request.
    public var timeout: Duration?

    public init(server: String? = nil, silo: String? = nil, tokenFile: String? = nil, hostnames: [String] = [],
                ipFrom: DDNSAddressSource? = nil, includeLocal: Bool? = nil, interval: Duration? = nil, once: Bool? = nil,
                stateFile: String? = nil, hostsFile: String? = nil, zone: String? = nil, attempts: Int? = nil,
                timeout: Duration? = nil) {
        self.server = server
        self.silo = silo
        self.tokenFile = tokenFile
        self.hostnames = hostnames
        self.ipFrom = ipFrom
        self.includeLocal = includeLocal
        self.interval = interval
        self.once = once
        self.stateFile = stateFile
        self.hostsFile = hostsFile
        self.zone = zone
        self.attempts = attempts
        self.timeout = timeout
    }
}

/// Decodes a DDNS client config file, strictly (unknown keys and bad values are errors naming
/// file, line and key), like the server's `ConfigLoader`. Pure: the caller reads the file.
public enum DDNSClientConfigLoader {
    static let keys = ["server", "silo", "token_file", "hostnames", "ip_from", "include_local", "interval", "once",
                       "state_file", "hosts_file", "zone", "attempts", "timeout"]

    /// Parses `yaml` (the contents of `file`); relative paths resolve against `file`'s directory
    /// (made absolute with `workingDirectory` when `file` is relative).
    public static func load(yaml: String, file: String, workingDirectory: String? = nil) -> Result<DDNSClientFileSettings, ConfigError> {
        let sink = IssueSink(file: file)
        let absoluteFile: String
        if !file.hasPrefix("/"), let workingDirectory {
            absoluteFile = ConfigText.resolve(file, against: workingDirectory)
        } else {
            absoluteFile = ZonePath.normalize(file)
        }
        let context = DecodeContext(sink: sink, baseDirectory: ConfigText.directory(of: absoluteFile), environment: [:])
        guard let composed = ConfigLoader.compose(yaml, sink: sink) else {
            return .failure(ConfigError(issues: ConfigLoader.sorted(sink.issues)))
        }
        let root = YAMLValue(node: composed ?? Node([(Node, Node)]()), path: .root)
        var settings = DDNSClientFileSettings()
        if let map = MappingReader(root, allowed: keys, sink: sink) {
            decode(map, context: context, into: &settings)
            map.finish()
        }
        let issues = ConfigLoader.sorted(sink.issues)
        return issues.isEmpty ? .success(settings) : .failure(ConfigError(issues: issues))
    }

    private static func decode(_ map: MappingReader, context: DecodeContext, into s: inout DDNSClientFileSettings) {
        let sink = context.sink
        func rule(_ key: String, _ check: (String) -> Result<String, ConfigRuleProblem>) -> String? {
            guard let v = map.optional(key), let text = ValueDecoder.string(v, sink: sink) else { return nil }
            switch check(text) {
            case .success(let value): return value
            case .failure(let problem):
                sink.add(.invalidValue, at: v, problem.message)
                return nil
            }
        }
        s.server = rule("server", DDNSClientRules.serverURL)
        s.silo = rule("silo", DDNSClientRules.siloID)
        s.zone = rule("zone", DDNSClientRules.zone)
        s.tokenFile = map.optional("token_file").flatMap { context.path($0) }
        s.stateFile = map.optional("state_file").flatMap { context.path($0) }
        s.hostsFile = map.optional("hosts_file").flatMap { context.path($0) }
        if let v = map.optional("hostnames") {
            // One name may be written as a plain string.
            let items = v.kind == .sequence ? (ValueDecoder.sequence(v, sink: sink) ?? []) : [v]
            for item in items {
                guard let text = ValueDecoder.string(item, sink: sink) else { continue }
                switch DDNSClientRules.hostname(text) {
                case .success(let name):
                    if s.hostnames.contains(name) {
                        sink.add(.conflict, at: item, "hostname '\(name)' is listed twice")
                    } else {
                        s.hostnames.append(name)
                    }
                case .failure(let problem):
                    sink.add(.invalidValue, at: item, problem.message)
                }
            }
        }
        if let v = map.optional("ip_from"), let text = ValueDecoder.string(v, sink: sink) {
            if let source = DDNSAddressSource(text) {
                s.ipFrom = source
            } else {
                sink.add(.invalidValue, at: v, "'\(text)' is not an address source; write api or interface:NAME (e.g. interface:eth0)")
            }
        }
        s.includeLocal = map.bool("include_local")
        s.interval = map.duration("interval", in: DDNSClientRules.intervalRange)
        s.once = map.bool("once")
        s.attempts = map.int("attempts", in: DDNSClientRules.attemptsRange)
        s.timeout = map.duration("timeout", in: DDNSClientRules.timeoutRange)
        if s.once == true, let v = map.optional("interval"), s.interval != nil {
            sink.add(.conflict, at: v, "interval and once: true exclude each other")
        }
    }
}
