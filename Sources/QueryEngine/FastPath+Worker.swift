import DNSWire
import DNSZone
import GeoRouting

/// What the fast path did with one packet.
public enum FastPathResult: Equatable {
    /// The response is at the start of the output buffer.
    case reply(length: Int)
    case drop
    /// Routing needs a remote lookup for this address; the shell waits (bounded) and then calls
    /// `QueryEngine.respond` with `QueryContext.remoteLocation` set.
    case needsRemote(IPAddress)
}

/// Per-thread answering state: the reference engine plus caches that make repeat questions cheap.
///
/// One instance belongs to exactly one thread (a UDP worker or a TCP event loop), so nothing here
/// is locked. Static answers (those that do not depend on the client) are replayed from bytes the
/// engine produced, with only the ID, RD/CD and the question's case patched; routed names are
/// answered by ranking the pool (or, for a `nearest` pick that no draw decided, by the answer
/// remembered for the client network until health, load or the snapshot change) and writing the
/// records directly. Positive synthesized answers (`synthesize:`) are written directly too, without
/// taking a cache slot (they are many and each asked rarely). Every other query,
/// and every cache miss, goes through `QueryEngine.respond`. A new snapshot clears all caches; a
/// new DDNS table (`install(ddns:)`) does not: only answers that depend on it are re-made.
public struct AnswerCache {
    /// The snapshot these caches were built from.
    public private(set) var snapshot: EngineSnapshot
    /// The dynamic DNS records (`ddns:`), published apart from the snapshot so that a DDNS change
    /// does not clear the caches: answers that depend on it are stamped (`Entry.ddnsResponse`).
    public private(set) var ddns: DDNSTable?
    /// The DDNS table governs a zone with `synthesize:` rules: the direct synthesized writer is
    /// skipped there (a DDNS name must win over a synthesized one, as in the engine).
    var ddnsShadowsSynthesis = false

    enum Entry {
        /// A complete response produced by the engine, with ID 0, and the zone the rate limiter
        /// classes it under when it was synthesized (wildcard or `synthesize:`), as on the miss.
        case response(key: [UInt8], bytes: [UInt8], wildcardZone: DomainName?)
        /// A directly routed name asked for A/AAAA; `hit.id` (never 0) names this entry in the
        /// location table's remembered answers; `hit.mapSlot` is its answer-map slot (-1: none).
        /// `hit` repeats what the answer-map and remembered-answer paths need of `route`, so they
        /// read it without copying the route (whose strings cost a retain per copy).
        /// `unplaced` is the zone's own answer an unplaced client gets (`hit.unplacedUsesZone`)
        /// when the fast path can write it; nil: the engine answers those clients.
        case routed(key: [UInt8], route: RouteSpec, hit: RoutedHit, unplaced: ZoneAddresses?)
        /// The engine must answer every time (e.g. a CNAME chain ending at a routed name).
        case engine(key: [UInt8])
        /// A response that depends on the DDNS table: replayed while the table's stamp for
        /// `dependency` still equals `stamp` (a DDNS change re-answers only these names).
        case ddnsResponse(key: [UInt8], bytes: [UInt8], wildcardZone: DomainName?, dependency: DDNSDependency,
                          stamp: UInt64)

        var key: [UInt8] {
            switch self {
            case .response(let k, _, _), .routed(let k, _, _, _), .engine(let k), .ddnsResponse(let k, _, _, _, _): return k
            }
        }

        /// The zone whose wildcard made a cached response (RRL's wildcard class).
        var wildcardZone: DomainName? {
            switch self {
            case .response(_, _, let z), .ddnsResponse(_, _, let z, _, _): return z
            case .routed, .engine: return nil
            }
        }
    }

    /// A routed name's own A or AAAA records in its zone, as the engine answers them: one TTL, in
    /// zone order (what an unplaced client of a `nearest` name gets).
    struct ZoneAddresses {
        var ttl: UInt32
        var addresses: [IPAddress]
    }

    /// A routed entry's trivial part: what the answer-map and remembered-answer paths need, so
    /// that they copy nothing that holds a reference (a copied entry costs a retain and a release
    /// per array or string in it, on every query).
    struct RoutedHit {
        var id: UInt32
        var mapSlot: Int
        var ttl: UInt32
        /// The policy's answer depends on the client's location (`nearest`, `least-load`): the
        /// reply carries an ECS scope.
        var scoped: Bool
        /// A client no locator places gets the zone's own records of the type (`nearest`, and the
        /// zone has some for the name): the engine answers those clients.
        var unplacedUsesZone: Bool
    }

    /// What `readSlot` found.
    enum SlotRead {
        /// No entry for this question.
        case miss
        /// A cached response was written to the output; `wildcard`: it came from a wildcard.
        case replayed(length: Int, wildcard: Bool)
        case routed(RoutedHit)
        /// An entry the caller handles with a copy (engine, DDNS, a response it cannot replay).
        case other
    }

    /// Reads the entry for question `q` in place (borrowed from the table, no copy): replays a
    /// cached response into `output` when it may be sent as is, or returns a routed entry's
    /// trivial part.
    @inline(__always)
    func readSlot(_ slot: Int, _ q: SimpleQuery, query: UnsafeRawBufferPointer, transport: QueryTransport,
                  output: UnsafeMutableRawBufferPointer) -> SlotRead {
        let limit = q.sizeLimit(transport: transport, settings: snapshot.settings)
        return entries.withUnsafeBufferPointer { table -> SlotRead in
            switch table[slot] {
            case .none:
                return .miss
            case .some(.response(let key, let bytes, let wildcardZone)):
                guard q.keyMatches(key, query) else { return .miss }
                guard q.clientSubnet == nil, bytes.count <= limit, bytes.count <= output.count else { return .other }
                return .replayed(length: replay(bytes, query: query, nameLength: q.nameLength, output: output),
                                 wildcard: wildcardZone != nil)
            case .some(.routed(let key, _, let hit, _)):
                return q.keyMatches(key, query) ? .routed(hit) : .miss
            case .some(let e):
                return q.keyMatches(e.key, query) ? .other : .miss
            }
        }
    }

    static let answerSlots = 4096
    /// The most client networks remembered per thread: 2^19 entries of 64 bytes (32 MiB), the
    /// size a table may grow to (it starts at `initialLocationSlots`). Resolvers send ECS for
    /// hundreds of thousands of /24s; when the per-query path places them all (no answer maps),
    /// a table much smaller than that set misses on almost every query. The shell caps each
    /// thread's table from a process-wide budget (`fast_path.memory`, issue #8.7).
    public static let maxLocationTableBytes = (1 << 19) * MemoryLayout<CachedLocation>.stride
    /// Below this a table is not worth having (a thread answers without one).
    public static let minLocationTableBytes = 64 << 10
    /// Entries a thread's location table starts with (256 KiB); it doubles when half full, up to
    /// `locationSlots` (issue #12.3: since the answer maps answer located clients, the table holds
    /// only the per-query path's networks, usually far fewer than the cap).
    static let initialLocationSlots = 1 << 12

    /// Entries of a location table that fits in `bytes`: the largest power of two whose table
    /// fits, at most `maxLocationTableBytes`; 0 when under `minLocationTableBytes`.
    public static func locationSlots(forBytes bytes: Int) -> Int {
        let stride = MemoryLayout<CachedLocation>.stride
        let capped = min(bytes, maxLocationTableBytes)
        guard capped >= minLocationTableBytes else { return 0 }
        var slots = 1
        while slots * 2 * stride <= capped { slots *= 2 }
        return slots
    }
    /// How long a per-thread location entry from the locator's full path (ipstack results) is
    /// trusted; the locator's own caches hold their TTLs. Locations from `quickLocate` (overrides,
    /// database) are fixed for the snapshot's life and are kept until it is replaced.
    static let locationLifetime = 30.0

    var entries: [Entry?]
    var locations: LocationTable? {
        didSet { locationsRef = locations.map { Unmanaged.passUnretained($0) } }
    }
    /// `locations` unretained, for the per-query reads (kept alive by `locations`).
    var locationsRef: Unmanaged<LocationTable>?
    var rng: UInt64
    /// The next `Entry.routed` id (ids are never reused within one snapshot's caches).
    var nextRouteID: UInt32 = 1
    /// The backend states answers are ranked with and the caller's generation that identifies
    /// them (`install(states:generation:)`; nil: resolved again by every query that ranks). Held
    /// here rather than passed with each query: a `BackendStates` argument read from the caller's
    /// memory is a retain and a release of its dictionary storage, which every thread shares.
    public private(set) var states = BackendStates()
    public private(set) var statesGeneration: UInt64?
    /// Backend states resolved against the snapshot's pools (no per-member hashing when ranking),
    /// rebuilt when the installed states generation changes.
    var resolved: ResolvedBackendStates?
    var resolvedGeneration: UInt64?
    /// The answer maps of the snapshot at the states the caller passes (`install(answerMaps:)`):
    /// located clients are answered and scoped by one trie walk (issue #12.1).
    public private(set) var answerMaps: AnswerMapSet? {
        didSet { answerMapsRef = answerMaps.map { Unmanaged.passUnretained($0) } }
    }
    /// `answerMaps` unretained, for the per-query reads (kept alive by `answerMaps`): a retain
    /// of an object every UDP thread shares is an atomic write to one cache line.
    var answerMapsRef: Unmanaged<AnswerMapSet>?

    /// Where the location table's memory comes from.
    let tableMemory: TableMemory
    /// Where the rate limiter's buckets come from.
    let rateLimitMemory: TableMemory
    /// Response rate limiting of UDP answers, made on the first UDP response when the snapshot's
    /// settings ask for it; kept across snapshots with the same settings.
    var rateLimiter: ResponseRateLimiter?
    /// Whether `rateLimiter` reflects the snapshot's settings yet (so a disabled limiter costs one
    /// branch per UDP reply, not a settings read).
    var rateLimiterResolved = false
    /// Set by the engine path when the last answer came from a wildcard (RRL's wildcard class).
    var engineWildcardZone: DomainName?
    /// Set by the synthesized fast path: the index in `snapshot.synthesis.fastRules` of the rule
    /// that answered (its zone is RRL's wildcard class), -1 otherwise. An index, not the zone's
    /// name: storing a `DomainName` per answer costs a retain and a release.
    var lastSynthesizedRule = -1
    /// The zone whose wildcard or `synthesize:` rule made the last answer (RRL's wildcard class),
    /// whichever path answered; setting it (the engine path does) clears the fast path's rule.
    var lastWildcardZone: DomainName? {
        get {
            guard lastSynthesizedRule >= 0 else { return engineWildcardZone }
            let synthesis = snapshot.synthesis
            return synthesis.fast[synthesis.fastRules[lastSynthesizedRule].rule]?.zone
        }
        set {
            engineWildcardZone = newValue
            lastSynthesizedRule = -1
        }
    }
    /// What the last `answer` did beyond its bytes (routed name, placement, rate limiting), for
    /// the worker's metrics and query-log step; reset by every `answer`.
    public var facts = AnswerFacts()
    /// Whether anyone reads `facts`' routed name and placement (metrics or the query log): when
    /// not, the routed path skips hashing the name.
    public var collectsFacts = true
    /// `ecs.trusted_resolvers` is unset (the default): no per-query trust check.
    var trustsEveryClientSubnet: Bool
    /// Entries of the location table (a power of two), 0 for none.
    public let locationSlots: Int
    /// The location table could not be allocated for the current snapshot; answers are computed
    /// without it (tried again after the next snapshot change).
    public internal(set) var locationTableUnavailable = false
    /// Doubling the location table failed (no memory): it keeps its size until the next snapshot.
    var locationTableGrowthFailed = false
    /// Entries of the location table as it is now (0: none allocated), for tests and reports.
    public var locationTableSlots: Int { locations?.slots ?? 0 }

    /// Creates the caches for `snapshot`; `seed` starts the per-query entropy, `tableMemory`
    /// provides the location table (allocated on the first routed query, small, doubled as it
    /// fills) of at most `locationTableBytes` (see `locationSlots(forBytes:)`; 0: no table), and
    /// `rateLimitMemory` the rate limiter's buckets (made on the first UDP reply).
    public init(snapshot: EngineSnapshot, seed: UInt64, tableMemory: TableMemory = .standard,
                locationTableBytes: Int = AnswerCache.maxLocationTableBytes, rateLimitMemory: TableMemory = .standard) {
        self.snapshot = snapshot
        self.tableMemory = tableMemory
        self.rateLimitMemory = rateLimitMemory
        self.locationSlots = AnswerCache.locationSlots(forBytes: locationTableBytes)
        self.entries = Array(repeating: nil, count: AnswerCache.answerSlots)
        self.locations = nil
        self.rng = seed | 1
        self.trustsEveryClientSubnet = snapshot.settings.ecsTrustedResolvers == nil
    }

    /// Switches to a new snapshot, dropping everything cached from the old one.
    public mutating func replace(snapshot: EngineSnapshot) {
        self.snapshot = snapshot
        updateSynthesisShadow()
        for i in entries.indices { entries[i] = nil }
        locations = nil
        locationTableUnavailable = false
        locationTableGrowthFailed = false
        nextRouteID = 1
        resolved = nil
        resolvedGeneration = nil
        answerMaps = nil
        trustsEveryClientSubnet = snapshot.settings.ecsTrustedResolvers == nil
        if rateLimiter?.settings != snapshot.settings.rateLimit {
            rateLimiter = nil
            rateLimiterResolved = false
        }
    }

    /// Installs the answer maps built for this cache's snapshot and for the states the caller will
    /// pass with the next queries (the caller keeps the two in step: the store publishes them
    /// together). Maps of another snapshot are not installed.
    ///
    /// When maps arrive where there were none, the location table is let go: it was filled by
    /// the per-query path that answered every client until now, and from here on holds only the
    /// clients the maps leave to it (draws, unplaced networks), so it starts small again instead
    /// of keeping every network seen before (issue #12.3). Answers do not change: the table is a
    /// cache of what the locator says.
    public mutating func install(answerMaps maps: AnswerMapSet?) {
        let had = answerMaps != nil
        answerMaps = maps.flatMap { $0.snapshotGeneration == snapshot.generation ? $0 : nil }
        if !had, answerMaps != nil, let table = locations, table.slots > AnswerCache.initialLocationSlots {
            locations = nil
        }
    }

    /// Installs a new DDNS table. Cached answers stay: those that depend on the table carry its
    /// stamp. Only when the zones it governs change (a reload of `ddns:`) is everything dropped.
    public mutating func install(ddns table: DDNSTable?) {
        let sameZones = table?.settings.zone == ddns?.settings.zone
            && table?.settings.allowNamesIn == ddns?.settings.allowNamesIn
        ddns = table
        if !sameZones {
            updateSynthesisShadow()
            for i in entries.indices { entries[i] = nil }
        }
    }

    mutating func updateSynthesisShadow() {
        guard let t = ddns else { ddnsShadowsSynthesis = false; return }
        ddnsShadowsSynthesis = snapshot.synthesis.rules.contains { rule in
            snapshot.zones.zone(for: rule.name.parent).map { t.governs(zone: $0.origin) } ?? false
        }
    }

    /// Installs the backend states the next answers are ranked with; `generation` identifies them
    /// (the shell's store generation): with it, they are resolved for ranking once per change
    /// instead of once per query, and remembered answers are tied to it.
    public mutating func install(states: BackendStates, generation: UInt64?) {
        self.states = states
        statesGeneration = generation
    }

    /// The installed states resolved for ranking; cached per generation (nil: resolve every time).
    mutating func resolvedStates() -> ResolvedBackendStates? {
        guard let geo = snapshot.geoData else { return nil }
        let generation = statesGeneration
        if let generation, generation == resolvedGeneration, let r = resolved { return r }
        let r = ResolvedBackendStates(states, for: geo)
        if let generation { resolved = r; resolvedGeneration = generation }
        return r
    }

    /// Next per-query entropy (xorshift64*).
    public mutating func nextEntropy() -> UInt64 {
        rng ^= rng >> 12
        rng ^= rng << 25
        rng ^= rng >> 27
        return rng &* 0x2545_f491_4f6c_dd1d
    }

    /// Answers the packet in `query` with the installed backend states (`install(states:generation:)`),
    /// writing into `output` (which must hold at least the transport's maximum message size).
    ///
    /// UDP answers then pass the response rate limiter (`EngineSettings.rateLimit`): the one
    /// per-thread step between answering and sending, at the batch clock `now`. TCP is never
    /// limited (a TCP client cannot spoof its address).
    public mutating func answer(query: UnsafeRawBufferPointer, source: IPAddress, transport: QueryTransport,
                                now: Double, output: UnsafeMutableRawBufferPointer) -> FastPathResult {
        // Cleared only when set: storing nil over nil still calls swift_release (of nil) per query.
        if engineWildcardZone != nil || lastSynthesizedRule >= 0 { lastWildcardZone = nil }
        facts = AnswerFacts()
        let result = answerUnlimited(query: query, source: source, transport: transport, now: now, output: output)
        guard transport == .udp, case .reply(let length) = result else { return result }
        return rateLimit(length: length, source: source, now: now, output: output)
    }

    /// `answer` after installing `states` (tests and one-off callers; a query thread installs its
    /// states once per change instead).
    public mutating func answer(query: UnsafeRawBufferPointer, source: IPAddress, transport: QueryTransport,
                                now: Double, states: BackendStates, statesGeneration: UInt64? = nil,
                                output: UnsafeMutableRawBufferPointer) -> FastPathResult {
        install(states: states, generation: statesGeneration)
        return answer(query: query, source: source, transport: transport, now: now, output: output)
    }

    /// Passes a UDP reply of `length` bytes in `output` through this thread's response rate
    /// limiter: the reply as is, cut to a slip (TC=1), or dropped. `answer` calls it for its own
    /// replies; the shell for a reply it made itself on this thread (an ipstack lookup not queued).
    public mutating func rateLimit(length: Int, source: IPAddress, now: Double,
                                   output: UnsafeMutableRawBufferPointer) -> FastPathResult {
        let result = FastPathResult.reply(length: length)
        if !rateLimiterResolved {
            // The table is made on the first UDP reply: TCP-only caches never allocate one.
            rateLimiterResolved = true
            rateLimiter = snapshot.settings.rateLimit.map { ResponseRateLimiter(settings: $0, memory: rateLimitMemory) }
        }
        guard rateLimiter != nil else { return result }
        let wildcardHash = lastSynthesizedRule >= 0 ? snapshot.synthesis.fastRules[lastSynthesizedRule].zoneHash
            : engineWildcardZone.map(ResponseRateLimiter.wildcardHash)
        switch rateLimiter!.decide(response: UnsafeRawBufferPointer(rebasing: output[0..<length]), source: source, now: now,
                                   wildcardHash: wildcardHash) {
        case .send: return result
        case .drop:
            facts.rateLimit = .drop
            return .drop
        case .truncate:
            facts.rateLimit = .slip
            return .reply(length: ResponseRateLimiter.truncate(output, length: length))
        }
    }

    /// Answers without rate limiting (the reference engine or a cache).
    mutating func answerUnlimited(query: UnsafeRawBufferPointer, source: IPAddress, transport: QueryTransport,
                                  now: Double, output: UnsafeMutableRawBufferPointer) -> FastPathResult {
        // ANY is answered differently over UDP and TCP (RFC 8482), and transfers are refused:
        // both always go to the engine, never to the transport-blind caches.
        if var q = SimpleQuery.parse(query), q.qtype != RecordType.axfr.rawValue, q.qtype != RecordType.ixfr.rawValue,
           q.qtype != RecordType.any.rawValue {
            // ECS from an untrusted source is ignored as the engine ignores it: answered by the
            // source address, not echoed.
            if q.clientSubnet != nil && !trustsEveryClientSubnet && !snapshot.settings.trustsClientSubnet(from: source) {
                q.clientSubnet = nil
            }
            let slot = Int(truncatingIfNeeded: q.hash) & (AnswerCache.answerSlots - 1)
            switch readSlot(slot, q, query: query, transport: transport, output: output) {
            case .miss:
                break
            case .replayed(let length, let wildcard):
                if wildcard { lastWildcardZone = entries[slot]?.wildcardZone }
                return .reply(length: length)
            case .routed(let hit):
                if let n = routed(q, hit: hit, slot: slot, query: query, source: source, transport: transport,
                                  now: now, output: output) {
                    return .reply(length: n)
                }
                return engine(query: query, source: source, transport: transport, now: now,
                              output: output, learn: nil)
            case .other:
                // The entry matched but cannot be replayed in place: a DDNS response (checked
                // against the table's stamp), an engine entry, or a response this query cannot
                // take as cached (ECS, a smaller size limit).
                if case .ddnsResponse(_, let bytes, let wildcardZone, let dependency, let stamp)? = entries[slot] {
                    if let t = ddns, stamp == (dependency == .zone ? t.stamp : t.absoluteStamp) {
                        if q.clientSubnet == nil, bytes.count <= q.sizeLimit(transport: transport, settings: snapshot.settings),
                           bytes.count <= output.count {
                            lastWildcardZone = wildcardZone
                            return .reply(length: replay(bytes, query: query, nameLength: q.nameLength, output: output))
                        }
                    } else {
                        // The table changed since: answer afresh and remember the new answer.
                        return engine(query: query, source: source, transport: transport, now: now,
                                      output: output, learn: (q, slot))
                    }
                }
                return engine(query: query, source: source, transport: transport, now: now,
                              output: output, learn: nil)
            }
            // Synthesized names are many and each asked rarely: written directly, not cached.
            if !snapshot.synthesis.fastRules.isEmpty, !ddnsShadowsSynthesis,
               let n = synthesized(q, query: query, transport: transport, output: output) {
                return .reply(length: n)
            }
            if !snapshot.synthesis.fastReverse.isEmpty,
               let n = synthesizedPTR(q, query: query, transport: transport, output: output) {
                return .reply(length: n)
            }
            return engine(query: query, source: source, transport: transport, now: now,
                          output: output, learn: (q, slot))
        }
        return engine(query: query, source: source, transport: transport, now: now,
                      output: output, learn: nil)
    }

    /// Copies a cached response and patches what differs per query.
    func replay(_ bytes: [UInt8], query: UnsafeRawBufferPointer, nameLength: Int,
                output: UnsafeMutableRawBufferPointer) -> Int {
        bytes.withUnsafeBytes { src in
            output.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count)
        }
        output[0] = query[0]
        output[1] = query[1]
        output[2] = (output[2] & ~0x01) | (query[2] & 0x01)   // RD copied (RFC 1035 §4.1.1)
        output[3] = (output[3] & ~0x10) | (query[3] & 0x10)   // CD copied (RFC 4035 §3.2.2)
        // The question is echoed exactly as asked (case included); later names point at it.
        for j in 0..<nameLength { output[12 + j] = query[12 + j] }
        return bytes.count
    }

    /// The reference path; learns a cache entry when `learn` is given and the answer allows it.
    mutating func engine(query: UnsafeRawBufferPointer, source: IPAddress, transport: QueryTransport, now: Double,
                         output: UnsafeMutableRawBufferPointer, learn: (SimpleQuery, Int)?) -> FastPathResult {
        let bytes = Array(query)
        let states = states
        let ctx = QueryContext(source: source, transport: transport, now: now, entropy: nextEntropy(),
                               answerMaps: answerMaps)
        var clientDependent = false
        var dependency = DDNSDependency.none
        var report: RouteReport?
        let result = QueryEngine.respond(to: bytes, context: ctx, snapshot: snapshot, states: states, ddns: ddns,
                                         routed: &clientDependent, wildcardZone: &lastWildcardZone,
                                         ddnsDependency: &dependency, report: &report)
        if collectsFacts, let report {
            facts.placement = PlacementKind(report.location)
            if report.outcome == .pool, !report.answers.isEmpty { facts.routeNameHash = AnswerFacts.nameHash(report.name) }
        }
        if let (q, slot) = learn {
            if !clientDependent, q.clientSubnet == nil, case .response = result {
                // Learn the unlimited-size form so a later client with a bigger limit is not cut.
                var full = bytes
                full[0] = 0; full[1] = 0; full[2] &= ~0x01; full[3] &= ~0x10
                let tcpCtx = QueryContext(source: source, transport: .tcp, now: now, entropy: 0)
                if case .response(let r) = QueryEngine.respond(to: full, context: tcpCtx, snapshot: snapshot, states: states,
                                                               ddns: ddns) {
                    if let t = ddns, dependency != .none {
                        entries[slot] = .ddnsResponse(key: q.key(query), bytes: r, wildcardZone: lastWildcardZone,
                                                      dependency: dependency,
                                                      stamp: dependency == .zone ? t.stamp : t.absoluteStamp)
                    } else {
                        entries[slot] = .response(key: q.key(query), bytes: r, wildcardZone: lastWildcardZone)
                    }
                }
            } else if clientDependent {
                let name = try? DomainName(wire: Array(query[12..<(12 + q.nameLength)]))
                if let name, q.qtype == RecordType.a.rawValue || q.qtype == RecordType.aaaa.rawValue,
                   let route = snapshot.routes[name.lowercased()] {
                    // The engine's rule for an unplaced client (`QueryEngine.routedAnswer`), fixed
                    // for the snapshot: decided once here, not per query.
                    let type = RecordType(rawValue: q.qtype)
                    let zone = snapshot.zones.zone(for: name)
                    let own = zone?.addresses(of: name).filter { $0.type == type } ?? []
                    // Written on the fast path when they are plain addresses with one TTL and no
                    // DDNS records can stand beside them; else the engine answers those clients.
                    var unplaced: ZoneAddresses?
                    if let zone, !own.isEmpty, own.count <= 16, ddns.map({ !$0.governs(zone: zone.origin) }) ?? true,
                       own.allSatisfy({ $0.ttl == own[0].ttl }) {
                        let addresses = own.compactMap { rr -> IPAddress? in
                            switch rr.rdata {
                            case .a(let a), .aaaa(let a): return a
                            default: return nil
                            }
                        }
                        if addresses.count == own.count { unplaced = ZoneAddresses(ttl: own[0].ttl, addresses: addresses) }
                    }
                    entries[slot] = .routed(key: q.key(query), route: route,
                                            hit: RoutedHit(id: nextRouteID, mapSlot: snapshot.answerMapSlot(for: route),
                                                           ttl: route.ttl, scoped: route.policy.isLocationDependent,
                                                           unplacedUsesZone: route.policy == .nearest && !own.isEmpty),
                                            unplaced: unplaced)
                    if nextRouteID == .max {
                        // Ids are about to repeat: forget every remembered answer first.
                        locations = nil
                        nextRouteID = 1
                    } else {
                        nextRouteID += 1
                    }
                } else {
                    entries[slot] = .engine(key: q.key(query))
                }
            }
        }
        switch result {
        case .drop:
            return .drop
        case .needsRemoteLocation(let a):
            return .needsRemote(a)
        case .response(let r):
            guard !r.isEmpty, r.count <= output.count else { return .drop }
            r.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return .reply(length: r.count)
        }
    }
}
