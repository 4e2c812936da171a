/// Decoding of the resource-limit sections: `tcp` and `fast_path` (issue #8).
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
}
