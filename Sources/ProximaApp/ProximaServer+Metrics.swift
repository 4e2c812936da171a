import DNSServer
import DNSWire
import Foundation
import GeoRouting
import HealthChecks
import QueryEngine
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Counters of the server's own operations (reloads), for `/metrics`.
final class OperationsCounters: Sendable {
    let reloadsOK = Atomic<UInt64>(0)
    let reloadsFailed = Atomic<UInt64>(0)
    /// Unix time of the last successful load (the start counts), in milliseconds.
    let lastSuccessMillis = Atomic<Int64>(0)
    /// Unix time the process started serving, in milliseconds.
    let startMillis = Atomic<Int64>(0)

    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    func reloaded(ok: Bool) {
        if ok {
            reloadsOK.add(1, ordering: .relaxed)
            lastSuccessMillis.store(Self.nowMillis(), ordering: .relaxed)
        } else {
            reloadsFailed.add(1, ordering: .relaxed)
        }
    }
}

/// The Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE`, then samples.
struct PrometheusText {
    private(set) var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ value: Double) {
        sample(name, [(String, String)](), value)
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        sample(name, Array(labels).map { ($0.key, $0.value) }, value)
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(PrometheusText.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + PrometheusText.number(value) + "\n"
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}

extension ProximaServer {
    /// Everything `/metrics` reports, in the Prometheus text format (README, "Operations").
    public func metricsText() -> String {
        var p = PrometheusText()
        let cur = store.current()
        let rt = runtime.value
        if let counters = querySteps.counters {
            let s = counters.sums()
            p.family("proxima_queries_total", "counter", "Answered queries by transport, question type and response code.")
            for t in 0..<2 {
                for q in 0..<QueryCounterBlock.qtypeBuckets {
                    let qname = q < QueryCounterBlock.qtypes.count ? QueryCounterBlock.qtypes[q].1 : "other"
                    for r in 0..<16 {
                        let v = s[QueryCounterBlock.queryIndex(transport: t, qtype: q, rcode: r)]
                        guard v > 0 else { continue }
                        p.sample("proxima_queries_total", ["transport": QueryCounterBlock.transports[t], "qtype": qname,
                                                          "rcode": QueryCounterBlock.rcodes[r]], Double(v))
                    }
                }
            }
            p.family("proxima_queries_ecs_total", "counter", "Answered queries with and without an EDNS Client Subnet option.")
            p.sample("proxima_queries_ecs_total", ["ecs": "present"], Double(s[QueryCounterBlock.ecsPresent]))
            p.sample("proxima_queries_ecs_total", ["ecs": "absent"], Double(s[QueryCounterBlock.ecsAbsent]))
            // Each family's samples together, right after its HELP and TYPE (the format requires it).
            let transports = QueryCounterBlock.transports
            p.family("proxima_truncated_answers_total", "counter", "Answers sent with TC=1 (too large, or an RRL slip).")
            for t in 0..<2 {
                p.sample("proxima_truncated_answers_total", ["transport": transports[t]], Double(s[QueryCounterBlock.truncated + t]))
            }
            p.family("proxima_dropped_queries_total", "counter",
                     "Queries not answered: reason rrl (rate limited) or unanswerable (malformed, a response, ...).")
            for t in 0..<2 {
                p.sample("proxima_dropped_queries_total", ["transport": transports[t], "reason": "rrl"],
                         Double(s[QueryCounterBlock.dropped + t * 2]))
                p.sample("proxima_dropped_queries_total", ["transport": transports[t], "reason": "unanswerable"],
                         Double(s[QueryCounterBlock.dropped + t * 2 + 1]))
            }
            p.family("proxima_deferred_queries_total", "counter",
                     "Queries answered later, off the query thread (waiting for ipstack or the forwarder).")
            for t in 0..<2 {
                p.sample("proxima_deferred_queries_total", ["transport": transports[t]], Double(s[QueryCounterBlock.deferred + t]))
            }
            p.family("proxima_rrl_total", "counter", "Response rate limiting: answers dropped, and answers slipped (sent truncated).")
            p.sample("proxima_rrl_total", ["action": "drop"], Double(s[QueryCounterBlock.dropped] + s[QueryCounterBlock.dropped + 2]))
            p.sample("proxima_rrl_total", ["action": "slip"], Double(s[QueryCounterBlock.rrlSlipped]))
            p.family("proxima_client_placements_total", "counter",
                     "Routed answers by where the client was placed: override, database, ipstack or unplaced.")
            for k in PlacementKind.allCases where k != .none {
                p.sample("proxima_client_placements_total", ["source": k.label],
                         Double(s[QueryCounterBlock.placements + Int(k.rawValue)]))
            }
            p.family("proxima_routed_answers_total", "counter",
                     "Addresses answered from a pool, by routed name, pool and member.")
            let labels = RouteLabels(snapshot: cur.snapshot)
            var merged: [RouteLabels.Label: UInt64] = [:]
            for (key, v) in counters.routedSums() {
                guard let l = labels.label(nameHash: key.nameHash, address: key.address) else { continue }
                merged[l, default: 0] &+= v
            }
            for (l, v) in merged.sorted(by: { ($0.key.name, $0.key.pool, $0.key.member) < ($1.key.name, $1.key.pool, $1.key.member) }) {
                p.sample("proxima_routed_answers_total", ["name": l.name, "pool": l.pool, "member": l.member], Double(v))
            }
            p.family("proxima_routed_answers_uncounted_total", "counter",
                     "Routed answers not counted per member because a thread's table of (name, member) pairs was full.")
            p.sample("proxima_routed_answers_uncounted_total", Double(s[QueryCounterBlock.routedOverflow]))
        }
        if let log = querySteps.log {
            p.family("proxima_query_log_lines_total", "counter", "Query-log lines written.")
            p.sample("proxima_query_log_lines_total", Double(log.written))
            p.family("proxima_query_log_dropped_total", "counter", "Query-log lines dropped because a thread's buffer was full.")
            p.sample("proxima_query_log_dropped_total", Double(log.dropped))
            p.family("proxima_query_log_errors_total", "counter", "Query-log writes or reopens that failed.")
            p.sample("proxima_query_log_errors_total", Double(log.errors))
        }

        // Health.
        p.family("proxima_member_up", "gauge", "1 when a pool member is healthy (probe and forced state), else 0.")
        var loads: [(String, String, Double)] = []
        let loadMaxAge = rt.config.health.loadMaxAge.configSeconds
        let now = monotonicSeconds()
        var stale = 0
        for pool in rt.geoData?.pools ?? [] {
            for m in pool.members {
                let st = cur.states.status(of: m.address)
                let member = m.name ?? m.address.description
                p.sample("proxima_member_up", ["pool": pool.name, "member": member, "address": m.address.description],
                         st.isHealthy ? 1 : 0)
                if let load = cur.states.load(of: m.address, now: now, maxAge: loadMaxAge) {
                    loads.append((pool.name, member, load))
                } else if st.lastLoad != nil {
                    stale += 1
                }
            }
        }
        p.family("proxima_member_load", "gauge", "The member's last reported load, while fresh.")
        for (pool, member, load) in loads { p.sample("proxima_member_load", ["pool": pool, "member": member], load) }
        p.family("proxima_member_load_stale", "gauge", "Members whose last load report is older than health.load_max_age.")
        p.sample("proxima_member_load_stale", Double(stale))
        p.family("proxima_load_reports_total", "counter", "Load reports accepted (POST /load), one per member reported.")
        p.sample("proxima_load_reports_total", Double(backends.loadReportsReceived))
        healthMetrics(&p, rt.geoData)

        // Reloads and data.
        p.family("proxima_reloads_total", "counter", "Reloads by result (ok: the new data serves; failed: the old data stays).")
        p.sample("proxima_reloads_total", ["result": "ok"], Double(operations.reloadsOK.load(ordering: .relaxed)))
        p.sample("proxima_reloads_total", ["result": "failed"], Double(operations.reloadsFailed.load(ordering: .relaxed)))
        p.family("proxima_last_successful_load_timestamp_seconds", "gauge", "Unix time of the last successful (re)load.")
        p.sample("proxima_last_successful_load_timestamp_seconds",
                 Double(operations.lastSuccessMillis.load(ordering: .relaxed)) / 1000)
        if let db = rt.database {
            let epoch = Double(db.metadata.buildEpoch)
            p.family("proxima_database_build_timestamp_seconds", "gauge", "The GeoIP database's build_epoch.")
            p.sample("proxima_database_build_timestamp_seconds", epoch)
            p.family("proxima_database_age_seconds", "gauge", "Seconds since the GeoIP database was built.")
            p.sample("proxima_database_age_seconds", max(0, Date().timeIntervalSince1970 - epoch))
        }
        p.family("proxima_zone_serial", "gauge", "The SOA serial of each loaded zone.")
        for z in cur.snapshot.zones.zones {
            p.sample("proxima_zone_serial", ["zone": z.origin.description], Double(z.soaData.serial))
        }

        // Transports.
        let tcp = dns.tcpStatistics
        p.family("proxima_tcp_connections_open", "gauge", "DNS TCP connections open now.")
        p.sample("proxima_tcp_connections_open", Double(dns.tcpConnectionsOpen))
        p.family("proxima_tcp_connections_refused_total", "counter",
                 "TCP connections refused: reason per_address (tcp.max_connections_per_ip) or full.")
        p.sample("proxima_tcp_connections_refused_total", ["reason": "per_address"], Double(tcp.refusedPerAddress))
        p.sample("proxima_tcp_connections_refused_total", ["reason": "full"], Double(tcp.refusedFull))
        p.family("proxima_tcp_connections_evicted_total", "counter", "Idle TCP connections closed to make room.")
        p.sample("proxima_tcp_connections_evicted_total", Double(tcp.evictedIdle))
        p.family("proxima_tcp_query_timeouts_total", "counter", "TCP connections closed because a query did not arrive in time.")
        p.sample("proxima_tcp_query_timeouts_total", Double(tcp.queryTimeouts))

        // ipstack.
        if let client = ipstack.withLock({ $0?.1 }) {
            let st = client.statistics
            p.family("proxima_ipstack_requests_total", "counter", "ipstack HTTP requests by result.")
            p.sample("proxima_ipstack_requests_total", ["result": "success"], Double(st.successes))
            p.sample("proxima_ipstack_requests_total", ["result": "failure"], Double(st.failures))
            p.family("proxima_ipstack_lookups_refused_total", "counter", "ipstack lookups not sent, by reason.")
            p.sample("proxima_ipstack_lookups_refused_total", ["reason": "over_capacity"], Double(st.droppedOverCapacity))
            p.sample("proxima_ipstack_lookups_refused_total", ["reason": "breaker_open"], Double(st.droppedBreakerOpen))
            p.sample("proxima_ipstack_lookups_refused_total", ["reason": "rate_limited"], Double(st.droppedRateLimited))
            p.sample("proxima_ipstack_lookups_refused_total", ["reason": "quota"], Double(st.droppedQuotaExhausted))
            p.family("proxima_ipstack_lookups_joined_total", "counter", "ipstack lookups that joined one already in flight.")
            p.sample("proxima_ipstack_lookups_joined_total", Double(st.joined))
            p.family("proxima_ipstack_cache_lookups_total", "counter",
                     "ipstack cache probes on the query path: hit (a location), negative (known: none), miss.")
            p.sample("proxima_ipstack_cache_lookups_total", ["result": "hit"], Double(st.cacheHits))
            p.sample("proxima_ipstack_cache_lookups_total", ["result": "negative"], Double(st.cacheNegative))
            p.sample("proxima_ipstack_cache_lookups_total", ["result": "miss"], Double(st.cacheMisses))
            p.family("proxima_ipstack_cache_entries", "gauge", "Networks in the ipstack cache.")
            p.sample("proxima_ipstack_cache_entries", Double(st.cacheEntries))
            p.family("proxima_ipstack_breaker_open", "gauge", "1 while the ipstack circuit breaker refuses lookups.")
            p.sample("proxima_ipstack_breaker_open", st.breakerOpen ? 1 : 0)
        }

        // Forwarder.
        if let f = forwarder {
            let st = f.stats
            p.family("proxima_forwarder_events_total", "counter", "Forwarder (forward:) events by kind.")
            let events: [(String, Int)] = [
                ("upstream_query", st.upstreamQueries.load(ordering: .relaxed)),
                ("mismatched_reply", st.mismatchedReplies.load(ordering: .relaxed)),
                ("garbage_reply", st.garbageReplies.load(ordering: .relaxed)), ("timeout", st.timeouts.load(ordering: .relaxed)),
                ("upstream_failure", st.upstreamFailures.load(ordering: .relaxed)),
                ("tcp_retry", st.tcpRetries.load(ordering: .relaxed)), ("cache_hit", st.cacheHits.load(ordering: .relaxed)),
                ("servfail", st.servFails.load(ordering: .relaxed)), ("overloaded", st.overloaded.load(ordering: .relaxed)),
            ]
            for (kind, v) in events {
                p.sample("proxima_forwarder_events_total", ["kind": kind], Double(v))
            }
        }

        // Process.
        p.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        p.sample("process_resident_memory_bytes", Double(ProcessFacts.residentBytes()))
        p.family("process_open_fds", "gauge", "Open file descriptors.")
        p.sample("process_open_fds", Double(ProcessFacts.openDescriptors()))
        p.family("process_start_time_seconds", "gauge", "Unix time the server started.")
        p.sample("process_start_time_seconds", Double(operations.startMillis.load(ordering: .relaxed)) / 1000)
        return p.text
    }
}

extension ProximaServer {
    /// Probe latency histograms and state changes of the probed members.
    func healthMetrics(_ p: inout PrometheusText, _ geo: GeoData?) {
        let stats = health.statistics.snapshot()
        var names: [IPAddress: String] = [:]
        for pool in geo?.pools ?? [] { for m in pool.members { names[m.address] = m.name ?? m.address.description } }
        let probed = stats.keys.filter { names[$0] != nil }.sorted { $0.description < $1.description }
        p.family("proxima_probe_duration_seconds", "histogram", "Health probe duration per member (failed probes included).")
        for a in probed {
            let e = stats[a]!
            let member = names[a]!
            var cumulative: UInt64 = 0
            for (i, bound) in HealthStatistics.bucketBounds.enumerated() {
                cumulative &+= e.buckets[i]
                p.sample("proxima_probe_duration_seconds_bucket", ["member": member, "address": a.description,
                                                                  "le": PrometheusText.number(bound)], Double(cumulative))
            }
            p.sample("proxima_probe_duration_seconds_bucket", ["member": member, "address": a.description, "le": "+Inf"],
                     Double(e.count))
            p.sample("proxima_probe_duration_seconds_sum", ["member": member, "address": a.description], e.sum)
            p.sample("proxima_probe_duration_seconds_count", ["member": member, "address": a.description], Double(e.count))
        }
        p.family("proxima_probe_failures_total", "counter", "Health probes that failed, per member.")
        for a in probed {
            p.sample("proxima_probe_failures_total", ["member": names[a]!, "address": a.description], Double(stats[a]!.failures))
        }
        p.family("proxima_member_state_changes_total", "counter", "Health transitions per member: to (down, up).")
        for a in probed {
            p.sample("proxima_member_state_changes_total", ["member": names[a]!, "address": a.description, "to": "down"],
                     Double(stats[a]!.wentDown))
            p.sample("proxima_member_state_changes_total", ["member": names[a]!, "address": a.description, "to": "up"],
                     Double(stats[a]!.cameUp))
        }
    }
}

/// Facts about this process from /proc (Linux).
enum ProcessFacts {
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }
}
