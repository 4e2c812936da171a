import DNSWire

/// Decoding of the `rrl` (response rate limiting) and `ecs` sections: the "safe on the open
/// internet" settings of issue #8.
extension DecodeContext {
    static let rrlKeys = ["enabled", "rate", "slip", "ipv4_prefix", "ipv6_prefix", "table_size", "exempt"]

    func decodeRRL(_ v: YAMLValue) -> RRLSettings {
        let d = RRLSettings().limits
        guard let map = MappingReader(v, allowed: Self.rrlKeys, sink: sink) else { return RRLSettings() }
        defer { map.finish() }
        return RRLSettings(enabled: map.bool("enabled") ?? true,
                           rate: map.int("rate", in: 1...1_000_000) ?? d.rate,
                           slip: map.int("slip", in: 0...100) ?? d.slip,
                           ipv4Prefix: map.int("ipv4_prefix", in: 8...32) ?? d.ipv4Prefix,
                           ipv6Prefix: map.int("ipv6_prefix", in: 16...128) ?? d.ipv6Prefix,
                           tableSize: map.int("table_size", in: 1024...(1 << 24)) ?? d.tableSize,
                           exempt: map.optional("exempt").map { networks($0) } ?? d.exempt)
    }

    func decodeECS(_ v: YAMLValue) -> ECSSettings {
        guard let map = MappingReader(v, allowed: ["trusted_resolvers"], sink: sink) else { return ECSSettings() }
        defer { map.finish() }
        return ECSSettings(trustedResolvers: map.optional("trusted_resolvers").map { networks($0) })
    }

    /// A list of CIDR networks, duplicates rejected.
    func networks(_ v: YAMLValue) -> [IPNetwork] {
        guard let items = ValueDecoder.sequence(v, sink: sink) else { return [] }
        var out: [IPNetwork] = []
        var seen: [IPNetwork: KeyPath] = [:]
        for item in items {
            guard let n = network(item) else { continue }
            if let first = seen[n] {
                sink.add(.conflict, at: item, "network \(n) is already listed at \(first)")
                continue
            }
            seen[n] = item.path
            out.append(n)
        }
        return out
    }
}
