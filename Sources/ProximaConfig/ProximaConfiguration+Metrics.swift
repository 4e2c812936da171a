import Yams

/// `metrics:` — the Prometheus endpoint and the query path's counters (issue #11).
public struct MetricsSettings: Hashable, Sendable {
    /// Count queries per thread and serve `GET /metrics` on the admin listener. Off: the query
    /// path skips the counting step (one branch) and `/metrics` answers 404 (for benchmarks).
    public var enabled: Bool

    public init(enabled: Bool = true) {
        self.enabled = enabled
    }
}

/// `query_log:` — one JSON line per answered query, written off the query path (issue #11).
public struct QueryLogSettings: Hashable, Sendable {
    /// Where lines go.
    public enum Target: Hashable, Sendable {
        case stdout
        /// A file, appended to and reopened on SIGUSR1 (resolved against the config's directory).
        case file(String)
    }

    public var target: Target
    /// Log every Nth answered query of each query thread (1: every query).
    public var sample: Int
    /// Lines each query thread may buffer before new ones are dropped (and counted).
    public var buffer: Int

    public static let defaultBuffer = 1024

    public init(target: Target, sample: Int = 1, buffer: Int = QueryLogSettings.defaultBuffer) {
        self.target = target
        self.sample = sample
        self.buffer = buffer
    }
}

extension DecodeContext {
    func decodeMetrics(_ v: YAMLValue) -> MetricsSettings {
        guard let map = MappingReader(v, allowed: ["enabled"], sink: sink) else { return MetricsSettings() }
        defer { map.finish() }
        return MetricsSettings(enabled: map.bool("enabled") ?? true)
    }

    func decodeQueryLog(_ v: YAMLValue) -> QueryLogSettings? {
        guard let map = MappingReader(v, allowed: ["path", "sample", "buffer"], sink: sink) else { return nil }
        defer { map.finish() }
        guard let pathValue = map.required("path", what: "a file path, or stdout") else { return nil }
        let target: QueryLogSettings.Target
        if pathValue.kind == .string, pathValue.node.string == "stdout" {
            target = .stdout
        } else if let p = path(pathValue) {
            target = .file(p)
        } else {
            return nil
        }
        return QueryLogSettings(target: target, sample: map.int("sample", in: 1...1_000_000) ?? 1,
                                buffer: map.int("buffer", in: 16...1_048_576) ?? QueryLogSettings.defaultBuffer)
    }
}
