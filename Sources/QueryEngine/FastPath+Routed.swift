import DNSWire
import GeoRouting

extension AnswerCache {
    /// The per-thread location cache key: the client address widened to /24 (IPv4) or /48 (IPv6),
    /// the granularity resolvers send ECS at, as a tagged integer (never 0). Only locations whose
    /// network covers the whole key network are cached this way.
    @inline(__always)
    static func locationKey(_ a: IPAddress) -> (key: UInt64, width: Int) {
        switch a {
        case .v4(let v): return (UInt64(v >> 8) | (1 << 62), 24)
        case .v6(let hi, _): return ((hi >> 16) | (1 << 63), 48)
        }
    }

    @inline(__always)
    static func slot(of key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9e37_79b9_7f4a_7c15) >> 40) & (AnswerCache.locationSlots - 1)
    }

    /// Locates `address` through the per-thread cache, then the snapshot's locator. Returns nil
    /// when the location is unknown or needs a remote lookup (the engine handles those cases).
    mutating func cachedLocation(_ address: IPAddress, now: Double) -> (Coordinate, networkPrefix: Int)? {
        let (key, width) = AnswerCache.locationKey(address)
        let s = AnswerCache.slot(of: key)
        if locations.isEmpty { locations = Array(repeating: .empty, count: AnswerCache.locationSlots) }
        let c = locations[s]
        if c.key == key, c.expires > now {
            return (Coordinate(latitude: c.latitude, longitude: c.longitude), Int(c.networkPrefix))
        }
        let found: (Coordinate, Int)
        if address.mappedIPv4 == nil, let q = snapshot.locator.quickLocate(address) {
            found = (q.coordinate, q.networkPrefix)
        } else {
            guard case .located(let l) = snapshot.locator.locate(address),
                  l.network.address.family == address.family else { return nil }
            found = (l.coordinate, l.network.prefixLength)
        }
        if found.1 <= width {
            locations[s] = CachedLocation(key: key, latitude: found.0.latitude, longitude: found.0.longitude,
                                          expires: now + AnswerCache.locationLifetime, networkPrefix: UInt8(found.1))
        }
        return found
    }

    /// Answers a directly routed A/AAAA question, writing the records straight into `output`.
    /// Returns nil for every case the engine must handle (unknown location, SERVFAIL, zone
    /// fallback, too large), so the answer is always the engine's answer.
    mutating func routed(_ q: SimpleQuery, route: RouteSpec, query p: UnsafeRawBufferPointer, source: IPAddress,
                         transport: QueryTransport, now: Double, states: BackendStates, statesGeneration: UInt64?,
                         output: UnsafeMutableRawBufferPointer) -> Int? {
        guard let geo = snapshot.geoData, let resolvedStates = resolvedStates(states, generation: statesGeneration) else {
            return nil
        }
        let ecs = q.clientSubnet
        let usedECS = (ecs?.sourcePrefixLength ?? 0) > 0
        let client = usedECS ? ecs!.address : source
        guard let (coordinate, networkPrefix) = cachedLocation(client, now: now) else { return nil }
        let isAAAA = q.qtype == RecordType.aaaa.rawValue
        let decision = Router.decide(route: route, pools: geo, client: coordinate, family: isAAAA ? .v6 : .v4,
                                     states: resolvedStates, now: now, loadMaxAge: snapshot.settings.loadMaxAge,
                                     entropy: nextEntropy(), explain: false)
        guard case .answer(let addrs) = decision.outcome, !addrs.isEmpty else { return nil }

        let rdlen = isAAAA ? 16 : 4
        var optLen = 0
        if q.hasEDNS {
            optLen = 11
            if let ecs { optLen += 8 + (Int(ecs.sourcePrefixLength) + 7) / 8 }
        }
        let total = 12 + q.nameLength + 4 + addrs.count * (12 + rdlen) + optLen
        guard total <= q.sizeLimit(transport: transport, settings: snapshot.settings), total <= output.count else {
            return nil
        }
        let o = output
        o[0] = p[0]; o[1] = p[1]
        o[2] = 0x84 | (p[2] & 0x01)           // QR, AA, RD copied
        o[3] = p[3] & 0x10                    // CD copied, RA never, RCODE 0
        o[4] = 0; o[5] = 1
        o[6] = 0; o[7] = UInt8(addrs.count)
        o[8] = 0; o[9] = 0
        o[10] = 0; o[11] = q.hasEDNS ? 1 : 0
        var i = 12
        for j in 0..<(q.nameLength + 4) { o[i + j] = p[12 + j] }
        i += q.nameLength + 4
        let ttl = route.ttl
        for a in addrs {
            o[i] = 0xc0; o[i + 1] = 0x0c       // owner: pointer to the question name
            o[i + 2] = 0; o[i + 3] = isAAAA ? 28 : 1
            o[i + 4] = 0; o[i + 5] = 1
            o[i + 6] = UInt8(ttl >> 24); o[i + 7] = UInt8((ttl >> 16) & 0xff)
            o[i + 8] = UInt8((ttl >> 8) & 0xff); o[i + 9] = UInt8(ttl & 0xff)
            o[i + 10] = 0; o[i + 11] = UInt8(rdlen)
            i += 12
            switch a {
            case .v4(let v):
                o[i] = UInt8(v >> 24); o[i + 1] = UInt8((v >> 16) & 0xff)
                o[i + 2] = UInt8((v >> 8) & 0xff); o[i + 3] = UInt8(v & 0xff)
            case .v6(let hi, let lo):
                for k in 0..<8 {
                    o[i + k] = UInt8((hi >> UInt64(56 - 8 * k)) & 0xff)
                    o[i + 8 + k] = UInt8((lo >> UInt64(56 - 8 * k)) & 0xff)
                }
            }
            i += rdlen
        }
        if q.hasEDNS {
            let payload = snapshot.settings.maxUDPPayload
            o[i] = 0; o[i + 1] = 0; o[i + 2] = 41
            o[i + 3] = UInt8(payload >> 8); o[i + 4] = UInt8(payload & 0xff)
            o[i + 5] = 0; o[i + 6] = 0; o[i + 7] = q.dnssecOK ? 0x80 : 0; o[i + 8] = 0
            let rd = optLen - 11
            o[i + 9] = UInt8(rd >> 8); o[i + 10] = UInt8(rd & 0xff)
            i += 11
            if let ecs {
                // RFC 7871 §7.2.1: echo family, source prefix and address; scope from the location.
                let scope: UInt8 = usedECS && (route.policy == .nearest || route.policy == .leastLoad)
                    ? UInt8(min(Int(ecs.sourcePrefixLength), networkPrefix)) : 0
                let octets = (Int(ecs.sourcePrefixLength) + 7) / 8
                o[i] = 0; o[i + 1] = 8
                o[i + 2] = 0; o[i + 3] = UInt8(4 + octets)
                o[i + 4] = 0; o[i + 5] = UInt8(ecs.address.family)
                o[i + 6] = ecs.sourcePrefixLength; o[i + 7] = scope
                i += 8
                switch ecs.address {
                case .v4(let v):
                    for k in 0..<octets { o[i + k] = UInt8((v >> UInt32(24 - 8 * k)) & 0xff) }
                case .v6(let hi, let lo):
                    for k in 0..<octets {
                        o[i + k] = k < 8 ? UInt8((hi >> UInt64(56 - 8 * k)) & 0xff) : UInt8((lo >> UInt64(56 - 8 * (k - 8))) & 0xff)
                    }
                }
                i += octets
            }
        }
        return i
    }
}
