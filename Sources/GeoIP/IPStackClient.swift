#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
import CoreMetrics
import DNSWire
import GeoRouting
import Logging
import NIOCore

/// What the ipstack cache knows about an address right now, without any IO.
public enum IPStackCacheState: Sendable, Hashable {
    /// A fresh cached location for the address's network.
    case hit(Location)
    /// A fresh "no location" answer (null coordinates or a failed lookup), or an address that is
    /// never looked up (special-purpose).
    case negative
    /// Nothing fresh is cached.
    case miss
}

/// Counters for metrics and tests.
public struct IPStackStatistics: Sendable, Hashable {
    /// HTTP requests started.
    public var requests = 0
    /// Requests that produced a usable answer (with or without coordinates).
    public var successes = 0
    /// Requests that failed (transport, timeout, HTTP status, API error, bad JSON).
    public var failures = 0
    /// Lookups refused because `maxConcurrent` requests were already in flight.
    public var droppedOverCapacity = 0
    /// Lookups refused because the circuit breaker was open.
    public var droppedBreakerOpen = 0
    /// Lookups that joined a request already in flight for the same network.
    public var joined = 0
    /// Cached networks.
    public var cacheEntries = 0
    /// True while the breaker refuses lookups.
    public var breakerOpen = false
    /// Lookups not sent because `maxPerMinute` requests were sent in the last minute.
    public var droppedRateLimited = 0
    /// Lookups not sent because the month's quota is used up.
    public var droppedQuotaExhausted = 0
    /// Requests counted in the current month (including those of earlier runs, from the usage file).
    public var monthRequests = 0
    /// Hot-path cache probes (`cached`) by result: a location, a fresh "no location", nothing.
    public var cacheHits = 0
    public var cacheNegative = 0
    public var cacheMisses = 0
}

/// The ipstack HTTP API fallback (`GET {base_url}/{ip}?access_key=KEY`), with a per-network
/// cache, a strict timeout, a concurrency cap, a circuit breaker and request de-duplication.
///
/// - Results are cached for the client's `/cachePrefixV4` or `/cachePrefixV6` network; a
///   returned location's `network` is that network.
/// - Concurrent lookups of one network share one request.
/// - Beyond `maxConcurrent` requests in flight, a lookup is a miss (nothing queues).
/// - At most `maxPerMinute` requests in any minute and `monthlyQuota` per calendar month (the
///   count survives restarts in `usageFile`); beyond them a lookup is a miss, not cached.
/// - After `breakerFailures` consecutive failures no request is made for `breakerCooldown`;
///   then one trial request decides whether the breaker closes or stays open.
/// - Special-purpose addresses (``IPAddress/isSpecialPurpose``) are never sent.
/// - The access key never appears in logs or errors.
public final class IPStackClient: Sendable {
    /// The configuration in force.
    public let configuration: IPStackConfiguration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let wallClock: @Sendable () -> Date
    private let state: LockedBox<State>
    /// Serializes usage-file syncs. `synced`: this process's in-memory count of `month` right
    /// after its last sync (requests counted since are the ones it adds to the file's count).
    private let usageWriter: LockedBox<(synced: Int, month: Int, failed: Bool)>

    private struct CacheEntry {
        var location: Location?
        var expires: ContinuousClock.Instant
    }

    private struct Flight {
        var waiters: [UInt64: CheckedContinuation<Location?, Never>] = [:]
    }

    private enum Breaker {
        case closed
        case open(until: ContinuousClock.Instant)
        case trial
    }

    private struct State {
        var cache: [IPNetwork: CacheEntry] = [:]
        var flights: [IPNetwork: Flight] = [:]
        var nextWaiter: UInt64 = 0
        var consecutiveFailures = 0
        var breaker = Breaker.closed
        var statistics = IPStackStatistics()
        var usage: IPStackUsage
    }

    /// The counters as swift-metrics handlers (`/metrics`), when a factory was given.
    private let metrics: IPStackMetrics?

    /// Creates a client using `httpClient` (owned by the caller, who shuts it down).
    /// `clock` is injectable so tests can step cache TTLs and the breaker cooldown. With
    /// `metrics`, every counted event is also recorded there as it happens (`IPStackMetrics`).
    public init(httpClient: HTTPClient, configuration: IPStackConfiguration,
                logger: Logger = Logger(label: "proxima.geoip.ipstack"),
                clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                wallClock: @escaping @Sendable () -> Date = { Date() },
                metrics: (any MetricsFactory)? = nil) throws {
        try configuration.validate()
        self.metrics = metrics.map { IPStackMetrics(factory: $0) }
        self.httpClient = httpClient
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.wallClock = wallClock
        let month = IPStackUsage.month(of: wallClock())
        var counted = 0
        if let path = configuration.usageFile, let stored = IPStackUsageFile.read(path), stored.month == month {
            counted = stored.requests
        }
        usageWriter = LockedBox((counted, month, false))
        state = LockedBox(State(usage: IPStackUsage(maxPerMinute: configuration.maxPerMinute,
                                                    monthlyQuota: configuration.monthlyQuota,
                                                    month: month, monthCount: counted)))
    }

    /// The network results for `ip` are cached under (IPv4-mapped addresses count as IPv4).
    public func cacheNetwork(for ip: IPAddress) -> IPNetwork {
        let address = ip.mappedIPv4 ?? ip
        switch address {
        case .v4: return IPNetwork(address: address, prefixLength: configuration.cachePrefixV4)
        case .v6: return IPNetwork(address: address, prefixLength: configuration.cachePrefixV6)
        }
    }

    /// Cheap, synchronous cache probe for the DNS hot path.
    public func cached(_ ip: IPAddress, now: ContinuousClock.Instant) -> IPStackCacheState {
        let address = ip.mappedIPv4 ?? ip
        if address.isSpecialPurpose { return .negative }
        let key = cacheNetwork(for: address)
        return state.withLock { state in
            guard let entry = state.cache[key], entry.expires > now else {
                state.statistics.cacheMisses += 1
                metrics?.cacheMisses.increment()
                return .miss
            }
            guard let location = entry.location else {
                state.statistics.cacheNegative += 1
                metrics?.cacheNegative.increment()
                return .negative
            }
            state.statistics.cacheHits += 1
            metrics?.cacheHits.increment()
            return .hit(location)
        }
    }

    /// False while the breaker refuses lookups (open and still cooling down, or a trial request
    /// in flight): a caller on the hot path can then skip the asynchronous hop.
    public func acceptsLookups(now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            switch state.breaker {
            case .closed: return true
            case .open(let until): return now >= until
            case .trial: return false
            }
        }
    }

    /// A snapshot of the counters.
    public var statistics: IPStackStatistics {
        state.withLock { state in
            var s = state.statistics
            s.cacheEntries = state.cache.count
            s.monthRequests = state.usage.monthCount
            if case .closed = state.breaker { s.breakerOpen = false } else { s.breakerOpen = true }
            return s
        }
    }

    /// Returns the cached answer, or starts (or joins) the lookup of `ip`'s network and waits at
    /// most `budget` for it. Nil on timeout, failure, no coordinates, special-purpose address,
    /// open breaker or full concurrency cap. A request still running when the budget expires
    /// carries on and fills the cache. A zero budget starts the request without waiting.
    public func lookup(_ ip: IPAddress, budget: Duration) async -> Location? {
        let address = ip.mappedIPv4 ?? ip
        if address.isSpecialPurpose { return nil }
        let key = cacheNetwork(for: address)
        let now = clock()
        let month = IPStackUsage.month(of: wallClock())

        enum Plan {
            case answer(Location?)
            case start(wait: Bool)
            case join
        }
        // Decide under the lock whether to answer from cache, join a flight, or start one.
        func plan(_ state: inout State) -> Plan {
            if let entry = state.cache[key], entry.expires > now { return .answer(entry.location) }
            if state.flights[key] != nil {
                state.statistics.joined += 1
                metrics?.joined.increment()
                return budget > .zero ? .join : .answer(nil)
            }
            switch state.breaker {
            case .closed:
                break
            case .open(let until):
                guard now >= until else {
                    state.statistics.droppedBreakerOpen += 1
                    metrics?.droppedBreakerOpen.increment()
                    return .answer(nil)
                }
                state.breaker = .trial
            case .trial:
                state.statistics.droppedBreakerOpen += 1
                metrics?.droppedBreakerOpen.increment()
                return .answer(nil)
            }
            guard state.flights.count < configuration.maxConcurrent else {
                state.statistics.droppedOverCapacity += 1
                metrics?.droppedOverCapacity.increment()
                if case .trial = state.breaker { state.breaker = .open(until: now) }
                return .answer(nil)
            }
            // The paid budget: refused lookups are misses, not cached, so they are tried again
            // once the window or the month allows.
            switch state.usage.admit(now: now, month: month) {
            case .allowed:
                break
            case .rateLimited:
                state.statistics.droppedRateLimited += 1
                metrics?.droppedRateLimited.increment()
                if case .trial = state.breaker { state.breaker = .open(until: now) }
                return .answer(nil)
            case .quotaExhausted:
                state.statistics.droppedQuotaExhausted += 1
                metrics?.droppedQuotaExhausted.increment()
                if case .trial = state.breaker { state.breaker = .open(until: now) }
                return .answer(nil)
            }
            state.flights[key] = Flight()
            state.statistics.requests += 1
            return .start(wait: budget > .zero)
        }

        if budget <= .zero {
            switch state.withLock(plan) {
            case .answer(let location): return location
            case .start:
                persistUsage()
                startFlight(key: key, address: address)
            case .join: break
            }
            return nil
        }

        return await withCheckedContinuation { (continuation: CheckedContinuation<Location?, Never>) in
            let decision: (Plan, UInt64) = state.withLock { state in
                let p = plan(&state)
                switch p {
                case .answer: return (p, 0)
                case .start, .join:
                    state.nextWaiter += 1
                    let id = state.nextWaiter
                    state.flights[key]?.waiters[id] = continuation
                    return (p, id)
                }
            }
            switch decision.0 {
            case .answer(let location):
                continuation.resume(returning: location)
            case .start, .join:
                let id = decision.1
                httpClient.eventLoopGroup.next().scheduleTask(in: .nanoseconds(budget.nanoseconds)) {
                    self.expireWaiter(key: key, id: id)
                }
                if case .start = decision.0 {
                    persistUsage()
                    startFlight(key: key, address: address)
                }
            }
        }
    }

    /// One uncached request for `ip`, for diagnostics (`proxima locate`) and tests: the location,
    /// nil when ipstack has no coordinates, or a ``GeoIPError`` without the key in it.
    /// It counts against `maxPerMinute` and `monthlyQuota` like any request.
    public func fetch(_ ip: IPAddress) async throws -> Location? {
        let address = ip.mappedIPv4 ?? ip
        let now = clock()
        let month = IPStackUsage.month(of: wallClock())
        switch state.withLock({ $0.usage.admit(now: now, month: month) }) {
        case .allowed: break
        case .rateLimited:
            throw GeoIPError(.ipstackRateLimited, "max_per_minute (\(configuration.maxPerMinute)) requests were sent in the last minute")
        case .quotaExhausted:
            throw GeoIPError(.ipstackQuotaExhausted, "monthly_quota (\(configuration.monthlyQuota)) is used up for \(IPStackUsage.label(month))")
        }
        persistUsage()
        return try await request(address, network: cacheNetwork(for: address))
    }

    // MARK: - Internals

    /// Stores the month's count in the usage file before the request goes out (a crash then
    /// over-counts by at most the requests in flight, never under-counts).
    ///
    /// Several processes may share the file (`proxima serve` and `proxima locate`): under an
    /// exclusive `flock` on `PATH.lock`, each adds the requests it counted since its last sync to
    /// the count it finds in the file, writes the sum, and takes the others' requests into its
    /// own count (so the monthly quota holds across them). Without the lock, each would write its
    /// own count over the other's.
    private func persistUsage() {
        guard let path = configuration.usageFile else { return }
        usageWriter.withLock { sync in
            let (month, count) = state.withLock { ($0.usage.month, $0.usage.monthCount) }
            if month != sync.month { sync = (0, month, sync.failed) }
            guard count > sync.synced else { return }
            do {
                let total = try IPStackUsageFile.merge(path, month: month, added: count - sync.synced, atLeast: count)
                let others = total - count
                if others > 0 { state.withLock { $0.usage.absorb(others, month: month) } }
                sync = (count + others, month, false)
            } catch {
                if !sync.failed {
                    logger.error("ipstack usage file: \(error); the monthly count is kept in memory only until it can be written")
                }
                sync.failed = true
            }
        }
    }

    private func expireWaiter(key: IPNetwork, id: UInt64) {
        let continuation = state.withLock { state in state.flights[key]?.waiters.removeValue(forKey: id) }
        continuation?.resume(returning: nil)
    }

    private func startFlight(key: IPNetwork, address: IPAddress) {
        Task {
            let outcome: Result<Location?, GeoIPError>
            do {
                outcome = .success(try await request(address, network: key))
            } catch let error as GeoIPError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(GeoIPError(.ipstackTransport, redact("\(error)")))
            }
            finishFlight(key: key, outcome: outcome)
        }
    }

    private func finishFlight(key: IPNetwork, outcome: Result<Location?, GeoIPError>) {
        let now = clock()
        let waiters: [CheckedContinuation<Location?, Never>] = state.withLock { state in
            let location: Location?
            switch outcome {
            case .success(let found):
                location = found
                state.statistics.successes += 1
                metrics?.successes.increment()
                state.consecutiveFailures = 0
                state.breaker = .closed
            case .failure:
                location = nil
                state.statistics.failures += 1
                metrics?.failures.increment()
                state.consecutiveFailures += 1
                if case .trial = state.breaker {
                    state.breaker = .open(until: now + configuration.breakerCooldown)
                } else if state.consecutiveFailures >= configuration.breakerFailures {
                    state.breaker = .open(until: now + configuration.breakerCooldown)
                }
            }
            let ttl = location == nil ? configuration.negativeCacheTTL : configuration.cacheTTL
            if state.cache.count >= configuration.maxCacheEntries { Self.evict(&state.cache, now: now, keep: configuration.maxCacheEntries) }
            state.cache[key] = CacheEntry(location: location, expires: now + ttl)
            let flight = state.flights.removeValue(forKey: key)
            return flight.map { Array($0.waiters.values) } ?? []
        }
        if case .failure(let error) = outcome {
            logger.debug("ipstack lookup failed", metadata: ["network": "\(key)", "error": "\(error)"])
        }
        let location: Location? = (try? outcome.get()) ?? nil
        for waiter in waiters { waiter.resume(returning: location) }
    }

    /// Drops expired entries; if the cache is still full, drops an arbitrary eighth of it
    /// (dictionary order is hash order, so this is an unbiased sample).
    private static func evict(_ cache: inout [IPNetwork: CacheEntry], now: ContinuousClock.Instant, keep: Int) {
        cache = cache.filter { $0.value.expires > now }
        if cache.count >= keep {
            let drop = max(1, keep / 8)
            for key in cache.keys.prefix(drop) { cache.removeValue(forKey: key) }
        }
    }

    private func request(_ address: IPAddress, network: IPNetwork) async throws -> Location? {
        let url = requestURL(for: address)
        let timeout = configuration.timeout
        let maxBytes = configuration.maxResponseBytes
        let client = httpClient
        let body: (status: UInt, bytes: ByteBuffer)
        do {
            body = try await withThrowingTaskGroup(of: (status: UInt, bytes: ByteBuffer)?.self) { group in
                group.addTask {
                    var request = HTTPClientRequest(url: url)
                    request.method = .GET
                    request.headers.add(name: "Accept", value: "application/json")
                    let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
                    let bytes = try await response.body.collect(upTo: maxBytes)
                    return (response.status.code, bytes)
                }
                group.addTask {
                    // AHC's own deadline (above) normally ends the request first and reports
                    // why (e.g. the last connect error); this is the hard backstop.
                    try await Task.sleep(for: timeout + .milliseconds(100))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw GeoIPError(.ipstackTimeout, "no answer within \(timeout)") }
                return first
            }
        } catch let error as GeoIPError {
            throw GeoIPError(error.code, "\(address): \(redact(error.message))")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw GeoIPError(.ipstackTimeout, "\(address): \(redact("\(error)"))")
        } catch {
            throw GeoIPError(.ipstackTransport, "\(address): \(redact("\(error)"))")
        }
        guard (200..<300).contains(body.status) else {
            throw GeoIPError(.ipstackHTTPStatus, "\(address): HTTP status \(body.status)")
        }
        do {
            return try IPStackResponse.location(from: Array(buffer: body.bytes), network: network)
        } catch let error as GeoIPError {
            throw GeoIPError(error.code, "\(address): \(redact(error.message))")
        }
    }

    private func requestURL(for address: IPAddress) -> String {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/\(address)?access_key=\(configuration.accessKey)"
            + "&fields=latitude,longitude,country_code,continent_code,city"
    }

    /// Replaces every occurrence of the access key in `text`.
    func redact(_ text: String) -> String {
        let key = configuration.accessKey
        guard !key.isEmpty, text.contains(key) else { return text }
        return text.replacing(key, with: "<redacted>")
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled &+ attoseconds / 1_000_000_000
    }
}

/// The ipstack client's events as swift-metrics counters (README, "Operations"), recorded where
/// `IPStackStatistics` counts them. Clients made with the same factory (a reload that changes the
/// ipstack settings makes a new one) share these series: the registry hands out one handler per
/// name and labels, so the counts carry on.
struct IPStackMetrics: Sendable {
    let successes: Counter
    let failures: Counter
    let droppedOverCapacity: Counter
    let droppedBreakerOpen: Counter
    let droppedRateLimited: Counter
    let droppedQuotaExhausted: Counter
    let joined: Counter
    let cacheHits: Counter
    let cacheNegative: Counter
    let cacheMisses: Counter

    init(factory: any MetricsFactory) {
        func counter(_ label: String, _ key: String, _ value: String) -> Counter {
            Counter(label: label, dimensions: [(key, value)], factory: factory)
        }
        successes = counter("proxima_ipstack_requests_total", "result", "success")
        failures = counter("proxima_ipstack_requests_total", "result", "failure")
        droppedOverCapacity = counter("proxima_ipstack_lookups_refused_total", "reason", "over_capacity")
        droppedBreakerOpen = counter("proxima_ipstack_lookups_refused_total", "reason", "breaker_open")
        droppedRateLimited = counter("proxima_ipstack_lookups_refused_total", "reason", "rate_limited")
        droppedQuotaExhausted = counter("proxima_ipstack_lookups_refused_total", "reason", "quota")
        joined = Counter(label: "proxima_ipstack_lookups_joined_total", factory: factory)
        cacheHits = counter("proxima_ipstack_cache_lookups_total", "result", "hit")
        cacheNegative = counter("proxima_ipstack_cache_lookups_total", "result", "negative")
        cacheMisses = counter("proxima_ipstack_cache_lookups_total", "result", "miss")
    }
}
