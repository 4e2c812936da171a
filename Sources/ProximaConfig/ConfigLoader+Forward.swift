import DNSWire

/// Decoding of the `forward` section (the opt-in fallback resolver, issue #10).
extension DecodeContext {
    static let forwardKeys = ["allow", "upstreams", "resolv_conf", "timeout", "max_pending", "cache"]
    static let forwardCacheKeys = ["max_entries", "max_ttl", "negative_ttl"]

    func decodeForward(_ v: YAMLValue) -> ForwardSettings? {
        guard let map = MappingReader(v, allowed: Self.forwardKeys, sink: sink) else { return nil }
        defer { map.finish() }
        let d = ForwardSettings(allow: [], upstreams: [])
        let allow = map.required("allow", what: "the client networks that may use the resolver").map { networks($0) } ?? []
        if let a = map.optional("allow"), allow.isEmpty, a.node.sequence?.isEmpty == true {
            sink.add(.invalidValue, at: a, "must list at least one network (omit forward: to turn forwarding off)")
        }
        var upstreams: [ForwardUpstream] = []
        if let u = map.required("upstreams", what: "resolvers to ask, or [from-resolv-conf]"),
           let items = ValueDecoder.sequence(u, sink: sink) {
            if items.isEmpty { sink.add(.invalidValue, at: u, "must list at least one upstream") }
            for item in items {
                guard let text = ValueDecoder.string(item, sink: sink) else { continue }
                let upstream: ForwardUpstream
                if text == "from-resolv-conf" {
                    upstream = .fromResolvConf
                } else if let e = ListenEndpoint(text), e.port != 0 {
                    upstream = .address(e)
                } else if let a = IPAddress(text) {
                    upstream = .address(ListenEndpoint(address: a, port: 53))
                } else {
                    sink.add(.invalidValue, at: item,
                             "'\(text)' is not an upstream; write from-resolv-conf, 192.0.2.53, 192.0.2.53:5300 or \"[2001:db8::53]:53\"")
                    continue
                }
                if upstreams.contains(upstream) {
                    sink.add(.conflict, at: item, "upstream \(upstream) is listed twice")
                    continue
                }
                upstreams.append(upstream)
            }
        }
        let resolvConf = map.optional("resolv_conf").flatMap { path($0) } ?? d.resolvConf
        let timeout = map.duration("timeout", in: .milliseconds(10)...Duration.seconds(30)) ?? d.timeout
        let maxPending = map.int("max_pending", in: 1...100_000) ?? d.maxPending
        var cache = ForwardCacheSettings()
        if let c = map.optional("cache"), let cm = MappingReader(c, allowed: Self.forwardCacheKeys, sink: sink) {
            cache.maxEntries = cm.int("max_entries", in: 1...10_000_000) ?? cache.maxEntries
            cache.maxTTL = cm.duration("max_ttl", in: .seconds(1)...Duration.seconds(7 * 86_400)) ?? cache.maxTTL
            cache.negativeTTL = cm.duration("negative_ttl", in: .seconds(0)...Duration.seconds(86_400)) ?? cache.negativeTTL
            cm.finish()
        }
        guard !allow.isEmpty, !upstreams.isEmpty else { return nil }
        return ForwardSettings(allow: allow, upstreams: upstreams, resolvConf: resolvConf, timeout: timeout,
                               maxPending: maxPending, cache: cache)
    }
}
