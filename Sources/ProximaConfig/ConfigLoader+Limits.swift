/// Decoding of the resource-limit and transport sections: `tcp`, `fast_path` (issue #8) and `udp`
/// (issue #12).
extension DecodeContext {
    static let tcpKeys = ["idle_timeout", "max_connections", "query_timeout", "max_connections_per_ip", "max_pipelined"]

    func decodeTCP(_ v: YAMLValue) -> TCPSettings {
        let d = TCPSettings()
        guard let map = MappingReader(v, allowed: Self.tcpKeys, sink: sink) else { return d }
        defer { map.finish() }
        return TCPSettings(
            idleTimeout: map.duration("idle_timeout", in: Self.positive ... .seconds(3600)) ?? d.idleTimeout,
            maxConnections: map.int("max_connections", in: 1...1_000_000) ?? d.maxConnections,
            queryTimeout: map.duration("query_timeout", in: .milliseconds(10) ... .seconds(600)) ?? d.queryTimeout,
            maxConnectionsPerIP: map.int("max_connections_per_ip", in: 1...1_000_000) ?? d.maxConnectionsPerIP,
            maxPipelined: map.int("max_pipelined", in: 1...65535) ?? d.maxPipelined)
    }

    func decodeFastPath(_ v: YAMLValue) -> FastPathSettings {
        let d = FastPathSettings()
        guard let map = MappingReader(v, allowed: ["memory"], sink: sink) else { return d }
        defer { map.finish() }
        return FastPathSettings(memory: map.byteSize("memory", in: 0...(64 << 30)) ?? d.memory)
    }

    /// `udp: {io: auto|uring|mmsg, batch: 1...256, gso: true|false}`.
    func decodeUDP(_ v: YAMLValue) -> UDPSettings {
        var settings = UDPSettings()
        guard let map = MappingReader(v, allowed: ["io", "batch", "gso"], sink: sink) else { return settings }
        defer { map.finish() }
        if let node = map.optional("io"), let text = ValueDecoder.string(node, sink: sink) {
            if let io = UDPIO(rawValue: text) {
                settings.io = io
            } else {
                sink.add(.invalidValue, at: node,
                         "unknown UDP IO '\(text)'; expected one of: \(UDPIO.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        settings.batch = map.int("batch", in: UDPSettings.batchRange) ?? settings.batch
        settings.gso = map.bool("gso") ?? settings.gso
        return settings
    }
}
