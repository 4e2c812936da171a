import DNSServer
import DNSWire
import Foundation
import GeoRouting
import HealthChecks
import QueryEngine

#if canImport(Glibc)
import Glibc
#endif

extension ProximaServer {
    /// Everything `/metrics` reports, in the Prometheus text format (README, "Operations"): the
    /// registry of `metrics` after the scrape-time sources are copied into it; "" when metrics
    /// are off (`metrics.enabled: false`).
    public func metricsText() -> String {
        metrics?.scrape { feedScrapeTimeMetrics(&$0) } ?? ""
    }

    /// Copies what is read at scrape time into the registry: the query threads' counters summed
    /// over the threads, and the state other parts keep (health, zones, ipstack's cache and breaker,
    /// forwarder, query log, /proc). Reloads, load reports, probes, TCP connections and ipstack
    /// lookups record themselves when they happen.
    func feedScrapeTimeMetrics(_ p: inout ScrapeFeed) {
        let cur = store.current()
        let rt = runtime.value
        if let counters = querySteps.counters {
            feedQueryCounters(&p, counters, snapshot: cur.snapshot)
        }
        p.counter("proxima_udp_segmented_datagrams_total", dns.udpSegmentedDatagrams)
        p.gauge("proxima_udp_gso_refused", dns.udpSegmentationRefused ? 1 : 0)
        if let log = querySteps.log {
            p.counter("proxima_query_log_lines_total", log.written)
            p.counter("proxima_query_log_dropped_total", log.dropped)
            p.counter("proxima_query_log_errors_total", log.errors)
        }

        // Health state and load (probe latencies and transitions are HealthStatistics').
        let loadMaxAge = rt.config.health.loadMaxAge.configSeconds
        let now = monotonicSeconds()
        var stale = 0
        for pool in rt.geoData?.pools ?? [] {
            for m in pool.members {
                let st = cur.states.status(of: m.address)
                let member = m.name ?? m.address.description
                p.gauge("proxima_member_up", ["pool": pool.name, "member": member, "address": m.address.description],
                        st.isHealthy ? 1 : 0)
                if let load = cur.states.load(of: m.address, now: now, maxAge: loadMaxAge) {
                    p.gauge("proxima_member_load", ["pool": pool.name, "member": member], load)
                } else if st.lastLoad != nil {
                    stale += 1
                }
            }
        }
        p.gauge("proxima_member_load_stale", Double(stale))

        // Data.
        if let db = rt.database {
            let epoch = Double(db.metadata.buildEpoch)
            p.gauge("proxima_database_build_timestamp_seconds", epoch)
            p.gauge("proxima_database_age_seconds", max(0, Date().timeIntervalSince1970 - epoch))
        }
        for z in cur.snapshot.zones.zones {
            p.gauge("proxima_zone_serial", ["zone": z.origin.description], Double(z.soaData.serial))
        }

        // ipstack: its events are counted by the client (`IPStackMetrics`); its state is read here.
        if let client = ipstack.withLock({ $0?.1 }) {
            let st = client.statistics
            p.gauge("proxima_ipstack_cache_entries", Double(st.cacheEntries))
            p.gauge("proxima_ipstack_breaker_open", st.breakerOpen ? 1 : 0)
        }

        // Forwarder.
        if let f = forwarder {
            let st = f.stats
            let events: [(String, Int)] = [
                ("upstream_query", st.upstreamQueries.load(ordering: .relaxed)),
                ("mismatched_reply", st.mismatchedReplies.load(ordering: .relaxed)),
                ("garbage_reply", st.garbageReplies.load(ordering: .relaxed)), ("timeout", st.timeouts.load(ordering: .relaxed)),
                ("upstream_failure", st.upstreamFailures.load(ordering: .relaxed)),
                ("tcp_retry", st.tcpRetries.load(ordering: .relaxed)), ("cache_hit", st.cacheHits.load(ordering: .relaxed)),
                ("servfail", st.servFails.load(ordering: .relaxed)), ("overloaded", st.overloaded.load(ordering: .relaxed)),
            ]
            for (kind, v) in events {
                p.counter("proxima_forwarder_events_total", ["kind": kind], v)
            }
        }

        // Process (process_start_time_seconds is set once, at start).
        p.gauge("process_resident_memory_bytes", Double(ProcessFacts.residentBytes()))
        p.gauge("process_open_fds", Double(ProcessFacts.openDescriptors()))
    }

    /// The query path's per-thread counters, summed over the threads (`QueryCounterRegistry`).
    func feedQueryCounters(_ p: inout ScrapeFeed, _ counters: QueryCounterRegistry, snapshot: EngineSnapshot) {
        let s = counters.sums()
        for t in 0..<2 {
            for q in 0..<QueryCounterBlock.qtypeBuckets {
                let qname = q < QueryCounterBlock.qtypes.count ? QueryCounterBlock.qtypes[q].1 : "other"
                for r in 0..<16 {
                    let v = s[QueryCounterBlock.queryIndex(transport: t, qtype: q, rcode: r)]
                    // Only the combinations seen: 2 × 20 × 16 series of zeros would drown the rest.
                    guard v > 0 else { continue }
                    p.counter("proxima_queries_total", ["transport": QueryCounterBlock.transports[t], "qtype": qname,
                                                       "rcode": QueryCounterBlock.rcodes[r]], v)
                }
            }
        }
        p.counter("proxima_queries_ecs_total", ["ecs": "present"], s[QueryCounterBlock.ecsPresent])
        p.counter("proxima_queries_ecs_total", ["ecs": "absent"], s[QueryCounterBlock.ecsAbsent])
        let transports = QueryCounterBlock.transports
        for t in 0..<2 {
            p.counter("proxima_truncated_answers_total", ["transport": transports[t]], s[QueryCounterBlock.truncated + t])
            p.counter("proxima_dropped_queries_total", ["transport": transports[t], "reason": "rrl"],
                      s[QueryCounterBlock.dropped + t * 2])
            p.counter("proxima_dropped_queries_total", ["transport": transports[t], "reason": "unanswerable"],
                      s[QueryCounterBlock.dropped + t * 2 + 1])
            p.counter("proxima_deferred_queries_total", ["transport": transports[t]], s[QueryCounterBlock.deferred + t])
        }
        p.counter("proxima_rrl_total", ["action": "drop"], s[QueryCounterBlock.dropped] &+ s[QueryCounterBlock.dropped + 2])
        p.counter("proxima_rrl_total", ["action": "slip"], s[QueryCounterBlock.rrlSlipped])
        for k in PlacementKind.allCases where k != .none {
            p.counter("proxima_client_placements_total", ["source": k.label], s[QueryCounterBlock.placements + Int(k.rawValue)])
        }
        let labels = RouteLabels(snapshot: snapshot)
        var merged: [RouteLabels.Label: UInt64] = [:]
        for (key, v) in counters.routedSums() {
            guard let l = labels.label(nameHash: key.nameHash, address: key.address) else { continue }
            merged[l, default: 0] &+= v
        }
        for (l, v) in merged {
            p.counter("proxima_routed_answers_total", ["name": l.name, "pool": l.pool, "member": l.member], v)
        }
        p.counter("proxima_routed_answers_uncounted_total", s[QueryCounterBlock.routedOverflow])
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
