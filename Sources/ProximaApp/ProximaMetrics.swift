import CoreMetrics
import Prometheus
import Synchronization

/// The server's metrics (README, "Operations"): swift-metrics objects on one swift-prometheus
/// registry per server, which `GET /metrics` emits.
///
/// Two kinds of source feed the registry:
/// - off-path events (reloads, health probes and transitions, load reports, TCP connections,
///   ipstack lookups) record into ordinary swift-metrics `Counter`/`Gauge`/`Meter`/`Timer`
///   objects made by `factory` when they happen;
/// - the query path's per-thread counters (`QueryCounterRegistry`: no shared cache line per query)
///   and state other modules keep (ipstack's cache size and breaker, forwarder, query log, health
///   state, zones, /proc) are read at scrape time and copied into swift-metrics objects by
///   `scrape(_:)`.
///
/// Nothing here is process-global: `MetricsSystem.bootstrap` is once per process, so each server
/// (tests run several in one process) passes its own `factory` to whatever records.
public final class ProximaMetrics: Sendable {
    /// What `/metrics` emits.
    public let registry: PrometheusCollectorRegistry
    /// Makes swift-metrics handlers on `registry`, with the catalog's help texts and buckets.
    public let factory: ProximaMetricsFactory
    /// Reloads by result, and when the running data last loaded.
    let reloadsOK: CoreMetrics.Counter
    let reloadsFailed: CoreMetrics.Counter
    let lastSuccessfulLoad: CoreMetrics.Gauge
    let processStart: CoreMetrics.Gauge
    /// The scrape-time series and their last values; held for a whole scrape so that two
    /// concurrent scrapes never interleave their updates and emission.
    private let scraped = Mutex(ScrapedSeries())

    /// Creates the registry and the metrics recorded from the start (`startTime`: Unix seconds).
    public init(startTime: Double) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        factory = ProximaMetricsFactory(registry: registry)
        reloadsOK = CoreMetrics.Counter(label: "proxima_reloads_total", dimensions: [("result", "ok")], factory: factory)
        reloadsFailed = CoreMetrics.Counter(label: "proxima_reloads_total", dimensions: [("result", "failed")], factory: factory)
        lastSuccessfulLoad = CoreMetrics.Gauge(label: "proxima_last_successful_load_timestamp_seconds", factory: factory)
        processStart = CoreMetrics.Gauge(label: "process_start_time_seconds", factory: factory)
        lastSuccessfulLoad.record(startTime)
        processStart.record(startTime)
    }

    /// Counts one reload; a success also moves the last-successful-load time to `now`.
    func reloaded(ok: Bool, now: Double) {
        if ok {
            reloadsOK.increment()
            lastSuccessfulLoad.record(now)
        } else {
            reloadsFailed.increment()
        }
    }

    /// Runs `update` (which copies the scrape-time sources into the registry through the feed),
    /// drops the series it no longer set (a member removed by a reload, say), and emits the
    /// registry in the Prometheus text format 0.0.4.
    func scrape(_ update: (inout ScrapeFeed) -> Void) -> String {
        scraped.withLock { series in
            var feed = ScrapeFeed(factory: factory, series: series)
            update(&feed)
            series = feed.finish()
            return registry.emitToString()
        }
    }
}

/// Help texts and histogram buckets of every metric, by name: the one place they are written.
/// swift-metrics has no help text, so `ProximaMetricsFactory` looks it up here; a family's help
/// must be the same for each series (the registry insists).
enum MetricsCatalog {
    /// Upper bounds of the probe latency buckets (Prometheus `le`; `+Inf` is implied).
    static let probeDurationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    static let durationBuckets: [String: [Duration]] = ["proxima_probe_duration_seconds": probeDurationBuckets]

    static let help: [String: String] = [
        "proxima_queries_total": "Answered queries by transport, question type and response code.",
        "proxima_queries_ecs_total": "Answered queries with and without an EDNS Client Subnet option.",
        "proxima_truncated_answers_total": "Answers sent with TC=1 (too large, or an RRL slip).",
        "proxima_dropped_queries_total":
            "Queries not answered: reason rrl (rate limited) or unanswerable (malformed, a response, ...).",
        "proxima_deferred_queries_total":
            "Queries answered later, off the query thread (waiting for ipstack or the forwarder).",
        "proxima_rrl_total": "Response rate limiting: answers dropped, and answers slipped (sent truncated).",
        "proxima_client_placements_total":
            "Routed answers by where the client was placed: override, database, ipstack or unplaced.",
        "proxima_routed_answers_total": "Addresses answered from a pool, by routed name, pool and member.",
        "proxima_routed_answers_uncounted_total":
            "Routed answers not counted per member because a thread's table of (name, member) pairs was full.",
        "proxima_query_log_lines_total": "Query-log lines written.",
        "proxima_query_log_dropped_total": "Query-log lines dropped because a thread's buffer was full.",
        "proxima_query_log_errors_total": "Query-log writes or reopens that failed.",
        "proxima_member_up": "1 when a pool member is healthy (probe and forced state), else 0.",
        "proxima_member_load": "The member's last reported load, while fresh.",
        "proxima_member_load_stale": "Members whose last load report is older than health.load_max_age.",
        "proxima_load_reports_total": "Load reports accepted (POST /load), one per member reported.",
        "proxima_probe_duration_seconds": "Health probe duration per member (failed probes included).",
        "proxima_probe_failures_total": "Health probes that failed, per member.",
        "proxima_member_state_changes_total": "Health transitions per member: to (down, up).",
        "proxima_reloads_total": "Reloads by result (ok: the new data serves; failed: the old data stays).",
        "proxima_last_successful_load_timestamp_seconds": "Unix time of the last successful (re)load.",
        "proxima_database_build_timestamp_seconds": "The GeoIP database's build_epoch.",
        "proxima_database_age_seconds": "Seconds since the GeoIP database was built.",
        "proxima_zone_serial": "The SOA serial of each loaded zone.",
        "proxima_tcp_connections_open": "DNS TCP connections open now.",
        "proxima_tcp_connections_refused_total":
            "TCP connections refused: reason per_address (tcp.max_connections_per_ip) or full.",
        "proxima_tcp_connections_evicted_total": "Idle TCP connections closed to make room.",
        "proxima_tcp_query_timeouts_total": "TCP connections closed because a query did not arrive in time.",
        "proxima_ipstack_requests_total": "ipstack HTTP requests by result.",
        "proxima_ipstack_lookups_refused_total": "ipstack lookups not sent, by reason.",
        "proxima_ipstack_lookups_joined_total": "ipstack lookups that joined one already in flight.",
        "proxima_ipstack_cache_lookups_total":
            "ipstack cache probes on the query path: hit (a location), negative (known: none), miss.",
        "proxima_ipstack_cache_entries": "Networks in the ipstack cache.",
        "proxima_ipstack_breaker_open": "1 while the ipstack circuit breaker refuses lookups.",
        "proxima_forwarder_events_total": "Forwarder (forward:) events by kind.",
        "process_resident_memory_bytes": "Resident memory size in bytes.",
        "process_open_fds": "Open file descriptors.",
        "process_start_time_seconds": "Unix time the server started.",
    ]

    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }
}

/// A swift-metrics `MetricsFactory` over one `PrometheusCollectorRegistry`, like
/// swift-prometheus's `PrometheusMetricsFactory` but with `MetricsCatalog`'s help texts (that
/// factory registers every family without one) and per-name histogram buckets.
public struct ProximaMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    /// Buckets of value histograms (`Recorder` with `aggregate: true`) without their own.
    static let defaultValueBuckets: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
    static let defaultDurationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: MetricsCatalog.descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: MetricsCatalog.descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: MetricsCatalog.descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: MetricsCatalog.descriptor(label), labels: dimensions,
                                           buckets: Self.defaultValueBuckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: MetricsCatalog.descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: MetricsCatalog.descriptor(label), labels: dimensions,
                                       buckets: MetricsCatalog.durationBuckets[label] ?? Self.defaultDurationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
        if let h = handler as? ValueHistogram { registry.unregisterValueHistogram(h) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let h = handler as? DurationHistogram { registry.unregisterDurationHistogram(h) }
    }
}

/// One series set at scrape time: its name and labels, in order.
struct SeriesKey: Hashable, Sendable {
    var name: String
    var labels: [String]

    init(_ name: String, _ labels: KeyValuePairs<String, String>) {
        self.name = name
        self.labels = labels.flatMap { [$0.key, $0.value] }
    }

    var dimensions: [(String, String)] {
        stride(from: 0, to: labels.count, by: 2).map { (labels[$0], labels[$0 + 1]) }
    }
}

/// The series `ScrapeFeed` keeps between scrapes: each counter with the total it was last brought
/// to, and each gauge.
struct ScrapedSeries: Sendable {
    var counters: [SeriesKey: (counter: CoreMetrics.Counter, total: UInt64)] = [:]
    var gauges: [SeriesKey: CoreMetrics.Gauge] = [:]
}

/// Copies values read at scrape time into swift-metrics objects on the registry. A counter is
/// brought up to the total read (a monotonic sum, such as the per-thread query counters summed
/// over the threads) by incrementing it by the difference; a gauge is set. Series not set in a
/// scrape are destroyed at its end, so a member or zone a reload removed leaves `/metrics`.
struct ScrapeFeed {
    let factory: ProximaMetricsFactory
    private var previous: ScrapedSeries
    private var current = ScrapedSeries()

    init(factory: ProximaMetricsFactory, series: ScrapedSeries) {
        self.factory = factory
        previous = series
    }

    /// Sets counter `name{labels}` to `total`.
    mutating func counter(_ name: String, _ labels: KeyValuePairs<String, String>, _ total: UInt64) {
        let key = SeriesKey(name, labels)
        var entry = previous.counters.removeValue(forKey: key)
            ?? (CoreMetrics.Counter(label: name, dimensions: key.dimensions, factory: factory), 0)
        if total < entry.total {
            // A source that went back (it cannot today: every source only counts up): start again.
            entry.counter.reset()
            entry.total = 0
        }
        entry.counter.increment(by: Int64(clamping: total - entry.total))
        entry.total = total
        current.counters[key] = entry
    }

    mutating func counter(_ name: String, _ labels: KeyValuePairs<String, String>, _ total: Int) {
        counter(name, labels, UInt64(clamping: total))
    }

    /// Sets counter `name` (no labels) to `total`.
    mutating func counter(_ name: String, _ total: UInt64) { counter(name, [:], total) }

    mutating func counter(_ name: String, _ total: Int) { counter(name, [:], UInt64(clamping: total)) }

    /// Sets gauge `name` (no labels) to `value`.
    mutating func gauge(_ name: String, _ value: Double) { gauge(name, [:], value) }

    /// Sets gauge `name{labels}` to `value`.
    mutating func gauge(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        let key = SeriesKey(name, labels)
        let gauge = previous.gauges.removeValue(forKey: key)
            ?? CoreMetrics.Gauge(label: name, dimensions: key.dimensions, factory: factory)
        gauge.record(value)
        current.gauges[key] = gauge
    }

    /// Destroys the series this scrape did not set and returns those it did.
    consuming func finish() -> ScrapedSeries {
        for (_, entry) in previous.counters { entry.counter.destroy() }
        for (_, gauge) in previous.gauges { gauge.destroy() }
        return current
    }
}
