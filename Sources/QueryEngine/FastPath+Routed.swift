import DNSWire
import GeoRouting

/// Where the per-thread tables' memory comes from (the location table, the rate limiter's
/// buckets). The default is the standard allocator; the server's shell passes ones that map pages
/// from the kernel directly — zero-filled, so a table's untouched pages cost nothing (issue
/// #12.3), returned at once when released, and for large location tables backed by huge pages so
/// the table's random accesses do not also miss the TLB on every query (DESIGN §5: the pure core
/// makes no syscalls).
public struct TableMemory: Sendable {
    /// Returns at least `byteCount` bytes, 64-byte aligned, or nil when the memory cannot be had
    /// (the cache then answers without a location table: slower, same answers, no crash).
    public var allocate: @Sendable (_ byteCount: Int) -> UnsafeMutableRawPointer?
    /// Releases what `allocate` returned.
    public var deallocate: @Sendable (_ pointer: UnsafeMutableRawPointer, _ byteCount: Int) -> Void
    /// `allocate` returns zero-filled memory (fresh anonymous pages): the tables do not write
    /// their empty state over it, so pages nothing has used yet stay unbacked.
    public var zeroFilled: Bool

    public init(allocate: @escaping @Sendable (Int) -> UnsafeMutableRawPointer?,
                deallocate: @escaping @Sendable (UnsafeMutableRawPointer, Int) -> Void,
                zeroFilled: Bool = false) {
        self.allocate = allocate
        self.deallocate = deallocate
        self.zeroFilled = zeroFilled
    }

    /// The standard library's allocator.
    public static let standard = TableMemory(
        allocate: { UnsafeMutableRawPointer.allocate(byteCount: $0, alignment: 64) },
        deallocate: { pointer, _ in pointer.deallocate() })
}

/// One per-thread client network, one 64-byte cache line: where the network is, and the answer
/// last given to it for one routed question (remembered only when no draw chose it).
struct CachedLocation {
    /// `AnswerCache.locationKey` of the network, with the located network's prefix length in bits
    /// 52...59 and its `PlacementKind` in bits 48...50; 0 = empty.
    var tag: UInt64
    var latitude: Double
    var longitude: Double
    /// When the location stops being trusted.
    var expires: Double
    /// The remembered answer: valid while `memoRoute` is the asking entry's id, the backend states
    /// are still generation `memoGeneration` and `now <= memoExpires`.
    var memoExpires: Double
    var memoHi: UInt64
    var memoLo: UInt64
    var memoGeneration: UInt32
    var memoRoute: UInt32

    static let prefixShift: UInt64 = 52
    static let sourceShift: UInt64 = 48
    static let keyMask: UInt64 = ~((0xff << prefixShift) | (0x7 << sourceShift))

    var key: UInt64 { tag & CachedLocation.keyMask }
    var networkPrefix: Int { Int(truncatingIfNeeded: (tag >> CachedLocation.prefixShift) & 0xff) }
    var placement: PlacementKind { PlacementKind(rawValue: UInt8(truncatingIfNeeded: (tag >> CachedLocation.sourceShift) & 0x7)) ?? .none }
}

/// The per-thread location table: a power of two of entries (at most `AnswerCache.locationSlots`),
/// cache-line aligned, in two-way sets; every key has two candidate sets from two hashes ("two
/// choices"), so four slots in all, and a new key takes a free one. With two choices a set
/// overflows only when both of a key's sets are full, which keeps hundreds of thousands of
/// networks resident where one fixed set per key would keep evicting the same few percent of them
/// (a resolver cycling through its clients is the worst case for that). It starts small and the
/// cache doubles it when half full (`AnswerCache.cachedLocation`), so a thread holds the memory its
/// clients need, not the configured cap (issue #12.3). A class, so copies of an `AnswerCache`
/// share it: keep each cache on the one thread that owns it.
final class LocationTable {
    let base: UnsafeMutablePointer<CachedLocation>
    let mask: Int
    private let memory: TableMemory
    private let byteCount: Int
    /// Slots ever filled (tag not 0): the load that decides growth.
    private(set) var count = 0
    /// Number of slots.
    var slots: Int { mask + 1 }

    /// Nil when `memory` cannot provide the table.
    init?(slots: Int, memory: TableMemory = .standard) {
        precondition(slots >= 4 && slots & (slots - 1) == 0, "slots must be a power of two")
        byteCount = slots * MemoryLayout<CachedLocation>.stride
        self.memory = memory
        guard let raw = memory.allocate(byteCount) else { return nil }
        if !memory.zeroFilled { raw.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        base = raw.bindMemory(to: CachedLocation.self, capacity: slots)
        mask = slots - 1
    }

    deinit { memory.deallocate(UnsafeMutableRawPointer(base), byteCount) }

    /// The first slot of `key`'s first and second set.
    @inline(__always)
    func sets(of key: UInt64) -> (Int, Int) {
        let a = Int(truncatingIfNeeded: (key &* 0x9e37_79b9_7f4a_7c15) >> 40) & mask & ~1
        let b = Int(truncatingIfNeeded: (key &* 0xff51_afd7_ed55_8ccd) >> 24) & mask & ~1
        return (a, b)
    }

    @inline(__always)
    func holds(_ s: Int, _ key: UInt64, now: Double) -> Bool {
        base[s].key == key && base[s].expires > now  // keys are never 0, the empty tag
    }

    /// The slot holding `key`, still trusted at `now`.
    @inline(__always)
    func find(_ key: UInt64, now: Double) -> Int? {
        let (a, b) = sets(of: key)
        if holds(a, key, now: now) { return a }
        if holds(a + 1, key, now: now) { return a + 1 }
        if holds(b, key, now: now) { return b }
        if holds(b + 1, key, now: now) { return b + 1 }
        return nil
    }

    /// Stores a location for `key` (no remembered answer) and returns its slot: where the key
    /// already is (stale); else a free or stale slot of the emptier of its two sets; else a slot of
    /// its first set whose resident can move to its own other set; else one of its four slots chosen
    /// by the key's bits (a pseudo-random eviction: no pattern of clients keeps evicting itself).
    func insert(_ key: UInt64, coordinate: Coordinate, networkPrefix: Int, expires: Double, now: Double,
                placement: PlacementKind = .none) -> Int {
        insert(CachedLocation.entry(key, coordinate, networkPrefix, expires, placement), now: now)
    }

    /// Stores `entry` (its remembered answer too) as `insert(_:coordinate:...)` does.
    func insert(_ entry: CachedLocation, now: Double) -> Int {
        let key = entry.key
        let (a, b) = sets(of: key)
        func place(_ s: Int) -> Int {
            if base[s].tag == 0 { count += 1 }
            base[s] = entry
            return s
        }
        if base[a].key == key { return place(a) }
        if base[a + 1].key == key { return place(a + 1) }
        if base[b].key == key { return place(b) }
        if base[b + 1].key == key { return place(b + 1) }
        // Into the set with more free (or stale) slots: the "power of two choices" that keeps sets
        // evenly filled, so both of a key's sets are rarely full.
        func free(_ s: Int) -> Bool { base[s].tag == 0 || base[s].expires <= now }
        let freeA = (free(a) ? 1 : 0) + (free(a + 1) ? 1 : 0)
        let freeB = (free(b) ? 1 : 0) + (free(b + 1) ? 1 : 0)
        if freeA > 0 || freeB > 0 {
            let s = freeA >= freeB ? a : b
            return place(free(s) ? s : s + 1)
        }
        // Both full: move a resident of set a whose other set has room there, then take its slot
        // (one cuckoo step).
        for s in a...(a + 1) {
            let (oa, ob) = sets(of: base[s].key)
            let other = oa == a ? ob : oa
            if other != a, free(other) || free(other + 1) {
                let to = free(other) ? other : other + 1
                if base[to].tag == 0 { count += 1 }
                base[to] = base[s]
                return place(s)
            }
        }
        switch (key &* 0xc2b2_ae3d_27d4_eb4f) >> 62 {
        case 0: return place(a)
        case 1: return place(a + 1)
        case 2: return place(b)
        default: return place(b + 1)
        }
    }

    /// A table of `slots` entries holding this one's entries still trusted at `now` (remembered
    /// answers included); nil when the memory cannot be had.
    func resized(to slots: Int, now: Double) -> LocationTable? {
        guard let bigger = LocationTable(slots: slots, memory: memory) else { return nil }
        for s in 0...mask where base[s].tag != 0 && base[s].expires > now {
            _ = bigger.insert(base[s], now: now)
        }
        return bigger
    }
}

extension CachedLocation {
    static func entry(_ key: UInt64, _ c: Coordinate, _ prefix: Int, _ expires: Double,
                      _ placement: PlacementKind = .none) -> CachedLocation {
        CachedLocation(tag: key | (UInt64(UInt8(clamping: prefix)) << prefixShift)
                           | (UInt64(placement.rawValue & 0x7) << sourceShift), latitude: c.latitude,
                       longitude: c.longitude, expires: expires, memoExpires: -.infinity, memoHi: 0, memoLo: 0,
                       memoGeneration: 0, memoRoute: 0)
    }
}

extension AnswerCache {
    /// The per-thread location cache key: the client address widened to /24 (IPv4) or /48 (IPv6),
    /// the granularity resolvers send ECS at, as a tagged integer (never 0, below bit 52 apart from
    /// the tag bits 62/63). Only locations whose network covers the whole key network are cached.
    @inline(__always)
    static func locationKey(_ a: IPAddress) -> (key: UInt64, width: Int) {
        switch a {
        case .v4(let v): return (UInt64(v >> 8) | (1 << 62), 24)
        case .v6(let hi, _): return ((hi >> 16) | (1 << 63), 48)
        }
    }

    /// The key of one exact IPv4 address (tag bit 61), for locations narrower than /24: an ECS
    /// /24 always carries the same address (the host bits are zero), so such networks are still
    /// remembered per address instead of walking the database on every query.
    @inline(__always)
    static func exactKey(_ a: IPAddress) -> UInt64? {
        if case .v4(let v) = a { return UInt64(v) | (1 << 61) }
        return nil
    }

    /// The trusted table slot for `address`: its /24 (/48) entry, else its exact-address entry.
    @inline(__always)
    static func findLocation(_ table: LocationTable, _ address: IPAddress, now: Double) -> Int? {
        if let s = table.find(locationKey(address).key, now: now) { return s }
        if let exact = exactKey(address) { return table.find(exact, now: now) }
        return nil
    }

    /// Where the location-table sets a query would read live, so a batch's entries can be
    /// prefetched before the batch is answered (nil before the first routed query). Reads the
    /// client address from a Client Subnet option at the end of the packet, the form resolvers
    /// send; anything else uses `source`. A wrong guess costs a useless prefetch, never an answer.
    // `mutating` only so callers reach it in place (a non-mutating call on a class-held struct copies it).
    public mutating func locationPrefetchAddresses(query p: UnsafeRawBufferPointer,
                                                   source: IPAddress) -> (UnsafeRawPointer, UnsafeRawPointer)? {
        guard let ref = locationsRef else { return nil }
        let client = AnswerCache.trailingClientSubnetAddress(p) ?? source
        return ref._withUnsafeGuaranteedRef { table in
            let (a, b) = table.sets(of: AnswerCache.locationKey(client).key)
            return (UnsafeRawPointer(table.base + a), UnsafeRawPointer(table.base + b))
        }
    }

    /// The address of a Client Subnet option (source prefix > 0) that ends the packet, if any.
    static func trailingClientSubnetAddress(_ p: UnsafeRawBufferPointer) -> IPAddress? {
        let n = p.count
        guard n >= 12 + 11 + 8, p[11] == 1 else { return nil }
        // OPTION-CODE 8 and OPTION-LENGTH 4 + k, then k address octets end the packet.
        for k in 1...16 {
            let h = n - k - 8
            guard h >= 12 else { return nil }
            guard p[h] == 0, p[h + 1] == 8, p[h + 2] == 0, Int(p[h + 3]) == 4 + k else { continue }
            return try? ClientSubnet(optionBytes: UnsafeRawBufferPointer(rebasing: p[(h + 4)..<n])).address
        }
        return nil
    }

    /// Locates `address` through the per-thread table, then the snapshot's locator. A client the
    /// locator does not place is remembered too, with placement `.unplaced` (no coordinate: NaN)
    /// and as network what `locate` reported (the ECS scope the engine gives it; the address's own
    /// width when none) — remembered only when the locator says that stays true
    /// (`unplacedIsFinal`). Returns nil when the location needs a remote lookup or is of another
    /// family (the engine handles those); `slot` is where the location is remembered (nil for an
    /// IPv6 network narrower than /48 or an unplaced network not remembered).
    mutating func cachedLocation(_ address: IPAddress, now: Double)
        -> (coordinate: Coordinate, networkPrefix: Int, slot: Int?, placement: PlacementKind)? {
        let (key, width) = AnswerCache.locationKey(address)
        if locations == nil, locationSlots > 0, !locationTableUnavailable {
            locations = LocationTable(slots: min(locationSlots, AnswerCache.initialLocationSlots), memory: tableMemory)
            locationTableUnavailable = locations == nil
        }
        if let table = locations, let s = AnswerCache.findLocation(table, address, now: now) {
            let c = table.base[s]
            return (Coordinate(latitude: c.latitude, longitude: c.longitude), c.networkPrefix, s, c.placement)
        }
        let found: (Coordinate, Int)
        let expires: Double
        let placement: PlacementKind
        if address.mappedIPv4 == nil, let q = snapshot.locator.quickLocate(address) {
            // Overrides and the database belong to the snapshot: true until it is replaced.
            found = (q.coordinate, q.networkPrefix)
            expires = .infinity
            placement = PlacementKind(q.source)
        } else {
            switch snapshot.locator.locate(address) {
            case .located(let l) where l.network.address.family == address.family:
                found = (l.coordinate, l.network.prefixLength)
                placement = PlacementKind(l.source)
            case .unknown(let network) where address.mappedIPv4 == nil:
                let width = address.family == 1 ? 32 : 128
                let prefix = network.flatMap { $0.address.family == address.family ? $0.prefixLength : nil } ?? width
                found = (Coordinate(latitude: .nan, longitude: .nan), prefix)
                placement = .unplaced
                guard snapshot.locator.unplacedIsFinal else { return (found.0, found.1, nil, placement) }
            default:
                return nil
            }
            expires = now + AnswerCache.locationLifetime
        }
        guard var table = locations else { return (found.0, found.1, nil, placement) }
        if table.count * 2 >= table.slots, table.slots < locationSlots, !locationTableGrowthFailed {
            // Half full: double it (up to the cap), so hits stay one set probe and new networks
            // rarely evict. A rehash of at most half the cap's entries, once per doubling; when
            // the memory cannot be had the table stays at its size (not retried per query).
            if let bigger = table.resized(to: table.slots * 2, now: now) {
                locations = bigger
                table = bigger
            } else {
                locationTableGrowthFailed = true
            }
        }
        let storeKey: UInt64
        if found.1 <= width {
            storeKey = key
        } else if let exact = AnswerCache.exactKey(address) {
            storeKey = exact
        } else {
            return (found.0, found.1, nil, placement)
        }
        let s = table.insert(storeKey, coordinate: found.0, networkPrefix: found.1, expires: expires, now: now,
                             placement: placement)
        return (found.0, found.1, s, placement)
    }

    /// Answers a directly routed A/AAAA question, writing the records straight into `output`.
    /// Returns nil for every case the engine must handle (a remote lookup, SERVFAIL, a zone
    /// fallback it cannot write, no member of the family, too large), so the answer is always the
    /// engine's answer. An unplaced client is answered here by the engine's rule (see below).
    ///
    /// A `nearest` one-answer pick that no draw decided is remembered in the client network's
    /// location entry, keyed by the routed entry `id` and the states generation, until a load report
    /// that matters goes stale (`Router.nearestPick`); the next query from that network then
    /// skips the ranking. It still takes the query's entropy, so the draw sequence is unchanged.
    mutating func routed(_ q: SimpleQuery, hit: RoutedHit, slot entrySlot: Int,
                         query p: UnsafeRawBufferPointer, source: IPAddress, transport: QueryTransport, now: Double,
                         output: UnsafeMutableRawBufferPointer) -> Int? {
        let id = hit.id, mapSlot = hit.mapSlot, ttl = hit.ttl, scoped = hit.scoped
        let maxPayload = snapshot.settings.maxUDPPayload
        let ecs = q.clientSubnet
        let usedECS = (ecs?.sourcePrefixLength ?? 0) > 0
        let client = usedECS ? ecs!.address : source
        let isAAAA = q.qtype == RecordType.aaaa.rawValue
        let generation = statesGeneration.map { UInt32(truncatingIfNeeded: $0) }

        // The answer map: one trie walk gives the block's answer and its exact scope. Read
        // through unretained references (the maps are kept alive by `answerMaps`).
        var mapScope: Int?
        if mapSlot >= 0, let ref = answerMapsRef, client.mappedIPv4 == nil {
            let outcome: MapOutcome = ref._withUnsafeGuaranteedRef { maps in
                guard now <= maps.validUntil else { return .unanswered }
                return maps.withMap(slot: mapSlot, answer: isAAAA ? .v6 : .v4, client: AddressFamily(of: client)) { map in
                    let (cls, prefix) = map.lookup(client)
                    guard map.isPlaced(cls) else { return .unanswered }
                    // A draw decides the answer: ranked below, scoped by the map.
                    guard let fixed = map.fixedRange(cls) else { return .scoped(prefix) }
                    let base = fixed.lowerBound
                    let n = AnswerCache.write(q, ttl: ttl, scoped: scoped, maxUDPPayload: maxPayload, query: p,
                                              transport: transport, count: fixed.count, usedECS: usedECS,
                                              networkPrefix: prefix, exactScope: true,
                                              output: output) { map.answer(at: base + $0) }
                    return .written(n, placement: map.placedByOverride(cls) ? .override : .database)
                } ?? .unanswered
            }
            switch outcome {
            case .unanswered:
                break
            case .scoped(let prefix):
                mapScope = prefix
            case .written(let n, let placement):
                // The fixed answer takes the query's entropy too, so the draw sequence is the same.
                _ = nextEntropy()
                if n != nil { noteRouted(query: p, nameLength: q.nameLength, placement: placement) }
                return n
            }
        }

        // Remembered answer for this network?
        if let generation, let table = locations {
            if let s = AnswerCache.findLocation(table, client, now: now) {
                let c = table.base[s]
                if c.memoRoute == id && c.memoGeneration == generation && now <= c.memoExpires {
                    _ = nextEntropy()
                    let address: IPAddress = isAAAA ? .v6(c.memoHi, c.memoLo) : .v4(UInt32(truncatingIfNeeded: c.memoLo))
                    let n = AnswerCache.write(q, ttl: ttl, scoped: scoped, maxUDPPayload: maxPayload, query: p,
                                              transport: transport, count: 1, usedECS: usedECS,
                                              networkPrefix: mapScope ?? c.networkPrefix, exactScope: mapScope != nil,
                                              output: output) { _ in address }
                    if n != nil { noteRouted(query: p, nameLength: q.nameLength, placement: c.placement) }
                    return n
                }
            }
        }

        // The ranking needs the whole route (pool, tie band, all-down behaviour): copied from the
        // entry only here.
        guard case .routed(_, let route, _, let zoneAddresses)? = entries[entrySlot], let geo = snapshot.geoData,
              let resolvedStates = resolvedStates() else {
            return nil
        }
        guard let (located, networkPrefix, slot, placement) = cachedLocation(client, now: now) else { return nil }
        // An unplaced client: ranked with no coordinate (every healthy member of the best tier in
        // the band), as the engine does, unless the zone's own records answer it.
        let coordinate: Coordinate? = placement == .unplaced ? nil : located
        if coordinate == nil && hit.unplacedUsesZone {
            // The zone's own records, scoped as the engine scopes an unplaced client.
            guard let zoneAddresses else { return nil }
            _ = nextEntropy()
            let addresses = zoneAddresses.addresses
            let n = AnswerCache.write(q, ttl: zoneAddresses.ttl, scoped: scoped, maxUDPPayload: maxPayload, query: p,
                                      transport: transport, count: addresses.count, usedECS: usedECS,
                                      networkPrefix: networkPrefix, output: output) { addresses[$0] }
            if n != nil, collectsFacts { facts.placement = .unplaced }
            return n
        }
        let family: AddressFamily = isAAAA ? .v6 : .v4
        let entropy = nextEntropy()
        let loadMaxAge = snapshot.settings.loadMaxAge
        if let pick = Router.nearestPick(route: route, pools: geo, client: coordinate, family: family,
                                         states: resolvedStates, now: now, loadMaxAge: loadMaxAge, entropy: entropy) {
            if !pick.drawn, let generation, let slot, let table = locations {
                let memoHi: UInt64, memoLo: UInt64
                switch pick.address {
                case .v4(let v): (memoHi, memoLo) = (0, UInt64(v))
                case .v6(let hi, let lo): (memoHi, memoLo) = (hi, lo)
                }
                table.base[slot].memoExpires = pick.validUntil
                table.base[slot].memoHi = memoHi
                table.base[slot].memoLo = memoLo
                table.base[slot].memoGeneration = generation
                table.base[slot].memoRoute = id
            }
            let address = pick.address
            let n = AnswerCache.write(q, ttl: ttl, scoped: scoped, maxUDPPayload: maxPayload, query: p,
                                      transport: transport, count: 1, usedECS: usedECS,
                                      networkPrefix: mapScope ?? networkPrefix, exactScope: mapScope != nil,
                                      output: output) { _ in address }
            if n != nil { noteRouted(query: p, nameLength: q.nameLength, placement: placement) }
            return n
        }
        let decision = Router.decide(route: route, pools: geo, client: coordinate, family: family,
                                     states: resolvedStates, now: now, loadMaxAge: loadMaxAge,
                                     entropy: entropy, explain: false)
        guard case .answer(let addrs) = decision.outcome, !addrs.isEmpty else { return nil }
        let n = AnswerCache.write(q, ttl: ttl, scoped: scoped, maxUDPPayload: maxPayload, query: p,
                                  transport: transport, count: addrs.count, usedECS: usedECS,
                                  networkPrefix: mapScope ?? networkPrefix, exactScope: mapScope != nil,
                                  output: output) { addrs[$0] }
        if n != nil { noteRouted(query: p, nameLength: q.nameLength, placement: placement) }
        return n
    }

    /// What the answer map did for a routed query.
    enum MapOutcome {
        /// No map, or it does not place the client: the per-query path answers.
        case unanswered
        /// A draw decides the answer; the map gives the scope.
        case scoped(Int)
        /// The map's fixed answer was written (nil: it did not fit; the engine answers).
        case written(Int?, placement: PlacementKind)
    }

    /// Records that the pool answered the question's (routed) name, for the worker's metrics step.
    @inline(__always)
    mutating func noteRouted(query p: UnsafeRawBufferPointer, nameLength: Int, placement: PlacementKind) {
        guard collectsFacts else { return }
        facts.routeNameHash = AnswerFacts.nameHash(p, from: 12, count: nameLength)
        facts.placement = placement
    }

    /// Writes the routed answer: header, question, `count` A/AAAA records (`address(i)`), and the
    /// OPT record with the ECS echo when the query had EDNS. Nil when it would not fit.
    /// The scope is `networkPrefix` itself with `exactScope` (an answer-map block), else no longer
    /// than the source prefix.
    @inline(__always)
    static func write(_ q: SimpleQuery, ttl: UInt32, scoped: Bool, maxUDPPayload: Int, query p: UnsafeRawBufferPointer,
                      transport: QueryTransport, count: Int, usedECS: Bool, networkPrefix: Int, exactScope: Bool = false,
                      output: UnsafeMutableRawBufferPointer, address: (Int) -> IPAddress) -> Int? {
        let ecs = q.clientSubnet
        let isAAAA = q.qtype == RecordType.aaaa.rawValue
        let rdlen = isAAAA ? 16 : 4
        var optLen = 0
        if q.hasEDNS {
            optLen = 11
            if let ecs { optLen += 8 + (Int(ecs.sourcePrefixLength) + 7) / 8 }
        }
        let total = 12 + q.nameLength + 4 + count * (12 + rdlen) + optLen
        guard total <= q.sizeLimit(transport: transport, maxUDPPayload: maxUDPPayload), total <= output.count else {
            return nil
        }
        let o = output
        var i = DirectAnswer.header(q, query: p, answers: count, output: o)
        for n in 0..<count {
            i = DirectAnswer.addressRecord(address(n), ttl: ttl, into: o, at: i)
        }
        if q.hasEDNS {
            i = DirectAnswer.opt(q, payload: maxUDPPayload, optionsLength: optLen - 11, into: o, at: i)
            if let ecs {
                // RFC 7871 §7.2.1: echo family, source prefix and address; scope from the location.
                let scope: UInt8 = usedECS && scoped
                    ? UInt8(clamping: exactScope ? networkPrefix : min(Int(ecs.sourcePrefixLength), networkPrefix)) : 0
                let octets = (Int(ecs.sourcePrefixLength) + 7) / 8
                o[i] = 0; o[i + 1] = 8
                o[i + 2] = 0; o[i + 3] = UInt8(truncatingIfNeeded: 4 + octets)
                o[i + 4] = 0; o[i + 5] = UInt8(truncatingIfNeeded: ecs.address.family)
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
