import AsyncHTTPClient
import DNSWire
import Foundation
import NIOCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue #11, "Prometheus metrics" and "Query log": the real server answers a known query mix over
/// real UDP and TCP; `/metrics` is parsed with the Python `prometheus_client` text parser and every
/// number checked exactly; the query log holds one well-formed JSON line per answered query.
final class MetricsTests: XCTestCase {
    static let zone = """
        $ORIGIN geo.test.
        $TTL 300
        @    SOA ns1 hostmaster 2026113001 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.200   ; last resort when routing cannot decide
        """

    static let geoData = """
        {"pools": {"web": {"members": [
          {"address": "127.0.0.12", "name": "lon", "latitude": 51.51, "longitude": -0.13},
          {"address": "127.0.0.13", "name": "fra", "latitude": 50.11, "longitude": 8.68},
          {"address": "127.0.0.11", "name": "nyc", "latitude": 40.71, "longitude": -74.01}
        ]}}}
        """

    static func config(extra: String = "") -> String {
        """
        listen:
          - 127.0.0.1:0
        udp_threads: 2
        log_level: warning
        zones:
          - origin: geo.test.
            file: geo.zone
        geoip:
          database: geo.mmdb
        geo_data: geo_data.json
        routing:
          names:
            www.geo.test.: { pool: web }
        rrl:
          enabled: false
        admin:
          listen: 127.0.0.1:0
          token: s3cret
          report_token: r3port
          metrics_token: m3trics
        \(extra)
        """
    }

    var live: LiveServer!
    var http: HTTPClient!

    func start(extra: String = "", rrl: String = "rrl:\n  enabled: false") async throws {
        live = try await LiveServer.start(
            config: Self.config(extra: extra).replacingOccurrences(of: "rrl:\n  enabled: false", with: rrl),
            files: ["geo.zone": Self.zone, "geo_data.json": Self.geoData],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        http = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    override func tearDown() async throws {
        await live?.stop()
        try await http?.shutdown()
    }

    func edns(_ ecs: String?) -> EDNS {
        var options: [EDNSOption] = []
        if let ecs, let n = IPNetwork(ecs) {
            options.append(.clientSubnet(ClientSubnet(address: n.address, sourcePrefixLength: UInt8(n.prefixLength))))
        }
        return EDNS(udpPayloadSize: 1232, options: options)
    }

    /// The known mix; returns how many queries were answered.
    @discardableResult
    func sendMix() throws -> Int {
        var n = 0
        func udp(_ name: String, _ type: RecordType, ecs: String? = nil, rcode: ResponseCode, answer: [String]? = nil) throws {
            let m = try live.udp(name, type, edns: edns(ecs))
            XCTAssertEqual(m.rcode, rcode, "\(name) \(type) \(ecs ?? "")")
            if let answer { XCTAssertEqual(m.answerSection.map { $0.rdata.description }, answer, "\(name) \(ecs ?? "")") }
            n += 1
        }
        func tcp(_ name: String, _ type: RecordType, ecs: String? = nil, rcode: ResponseCode, answer: [String]? = nil) throws {
            let m = try live.tcp(name, type, edns: edns(ecs))
            XCTAssertEqual(m.rcode, rcode, "\(name) \(type) tcp")
            if let answer { XCTAssertEqual(m.answerSection.map { $0.rdata.description }, answer) }
            n += 1
        }
        // London clients (database placement) three times: the engine answers the first, the
        // fast path the others; both must count the same way.
        for _ in 0..<3 { try udp("www.geo.test.", .a, ecs: "81.2.69.0/24", rcode: .noError, answer: ["127.0.0.12"]) }
        for _ in 0..<2 { try udp("www.geo.test.", .a, ecs: "85.10.1.0/24", rcode: .noError, answer: ["127.0.0.13"]) }
        // Loopback source, no ECS: unplaced, the zone's last-resort record.
        try udp("www.geo.test.", .a, rcode: .noError, answer: ["192.0.2.200"])
        for _ in 0..<2 { try udp("nope.geo.test.", .a, rcode: .nxDomain) }
        try udp("example.org.", .a, rcode: .refused)
        try udp("ns1.geo.test.", .a, rcode: .noError, answer: ["192.0.2.53"])
        try tcp("www.geo.test.", .a, ecs: "81.2.69.0/24", rcode: .noError, answer: ["127.0.0.12"])
        try tcp("nope.geo.test.", .aaaa, rcode: .nxDomain)
        try tcp("geo.test.", .soa, rcode: .noError)
        return n
    }

    func get(_ path: String, token: String? = "s3cret") async throws -> (Int, String, String?) {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(live.adminPort!)\(path)")
        if let token { req.headers.add(name: "authorization", value: "Bearer \(token)") }
        let r = try await http.execute(req, timeout: .seconds(10))
        let b = try await r.body.collect(upTo: 8 << 20)
        return (Int(r.status.code), String(buffer: b), r.headers.first(name: "content-type"))
    }

    /// One parsed sample: name, labels, value.
    struct Sample: Decodable, Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Parses the exposition with `prometheus_client.parser` (a real Prometheus text parser).
    static func parse(_ text: String) throws -> [Sample] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("metrics.txt")
        try Data(text.utf8).write(to: input)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = []
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    out.append({"name": s.name, "labels": s.labels, "value": s.value})
            print(json.dumps(out))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script, input.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw DNSTestClient.Failure(description: "prometheus_client could not parse /metrics "
                                        + "(Scripts/setup --for-tests installs python3-prometheus-client): \(errText)")
        }
        return try JSONDecoder().decode([Sample].self, from: data)
    }

    /// The text format's grouping rule, which `prometheus_client` does not enforce: every sample
    /// follows its own family's `# TYPE` line, and a family's samples are not split up.
    func checkGrouping(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        var seen: Set<String> = []
        var current: String?
        for l in text.split(separator: "\n") {
            if l.hasPrefix("# TYPE ") {
                let name = String(l.split(separator: " ")[2])
                XCTAssertFalse(seen.contains(name), "family \(name) declared twice", file: file, line: line)
                seen.insert(name)
                current = name
            } else if !l.hasPrefix("#") {
                let name = String(l.prefix { $0 != "{" && $0 != " " })
                let family = ["_bucket", "_sum", "_count"].first { name.hasSuffix($0) && seen.contains(String(name.dropLast($0.count))) }
                    .map { String(name.dropLast($0.count)) } ?? name
                XCTAssertEqual(family, current, "sample \(l) outside its family", file: file, line: line)
            }
        }
    }

    func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    func testScrapeAfterAKnownQueryMixCountsExactly() async throws {
        try await start()
        try sendMix()
        let (code, text, type) = try await get("/metrics")
        XCTAssertEqual(code, 200, text)
        XCTAssertEqual(type, "text/plain; version=0.0.4; charset=utf-8")
        let s = try Self.parse(text)
        checkGrouping(text)
        // One query at a time, each answered before the next: nothing to send segmented.
        XCTAssertEqual(value(s, "proxima_udp_segmented_datagrams_total"), 0)
        XCTAssertEqual(value(s, "proxima_udp_gso_refused"), 0)

        // Every series of the query counters, exactly (no other combination has a sample).
        let queries = s.filter { $0.name == "proxima_queries_total" }
        let expected: [([String: String], Double)] = [
            (["transport": "udp", "qtype": "A", "rcode": "NOERROR"], 7),
            (["transport": "udp", "qtype": "A", "rcode": "NXDOMAIN"], 2),
            (["transport": "udp", "qtype": "A", "rcode": "REFUSED"], 1),
            (["transport": "tcp", "qtype": "A", "rcode": "NOERROR"], 1),
            (["transport": "tcp", "qtype": "AAAA", "rcode": "NXDOMAIN"], 1),
            (["transport": "tcp", "qtype": "SOA", "rcode": "NOERROR"], 1),
        ]
        XCTAssertEqual(Set(queries), Set(expected.map { Sample(name: "proxima_queries_total", labels: $0.0, value: $0.1) }),
                       text)
        XCTAssertEqual(value(s, "proxima_queries_ecs_total", ["ecs": "present"]), 6)
        XCTAssertEqual(value(s, "proxima_queries_ecs_total", ["ecs": "absent"]), 7)
        let routed = s.filter { $0.name == "proxima_routed_answers_total" }
        XCTAssertEqual(Set(routed), [
            Sample(name: "proxima_routed_answers_total", labels: ["name": "www.geo.test.", "pool": "web", "member": "lon"], value: 4),
            Sample(name: "proxima_routed_answers_total", labels: ["name": "www.geo.test.", "pool": "web", "member": "fra"], value: 2),
        ])
        XCTAssertEqual(value(s, "proxima_client_placements_total", ["source": "database"]), 6)
        XCTAssertEqual(value(s, "proxima_client_placements_total", ["source": "unplaced"]), 1)
        XCTAssertEqual(value(s, "proxima_client_placements_total", ["source": "override"]), 0)
        XCTAssertEqual(value(s, "proxima_client_placements_total", ["source": "ipstack"]), 0)
        for t in ["udp", "tcp"] {
            XCTAssertEqual(value(s, "proxima_truncated_answers_total", ["transport": t]), 0)
            XCTAssertEqual(value(s, "proxima_dropped_queries_total", ["transport": t, "reason": "rrl"]), 0)
            XCTAssertEqual(value(s, "proxima_dropped_queries_total", ["transport": t, "reason": "unanswerable"]), 0)
        }
        XCTAssertEqual(value(s, "proxima_member_up", ["pool": "web", "member": "lon", "address": "127.0.0.12"]), 1)
        XCTAssertEqual(value(s, "proxima_zone_serial", ["zone": "geo.test."]), 2026113001)
        XCTAssertEqual(value(s, "proxima_reloads_total", ["result": "ok"]), 0)
        XCTAssertEqual(value(s, "proxima_reloads_total", ["result": "failed"]), 0)
        XCTAssertNotNil(value(s, "proxima_database_build_timestamp_seconds"))
        XCTAssertGreaterThan(value(s, "process_resident_memory_bytes") ?? 0, 1_000_000)
        XCTAssertGreaterThan(value(s, "process_open_fds") ?? 0, 3)
        let started = value(s, "process_start_time_seconds") ?? 0
        XCTAssertLessThan(abs(started - Date().timeIntervalSince1970), 600)

        // A dropped packet (a response, QR=1) and a forced-down member show up too.
        var response = DNSTestClient.query("ns1.geo.test.", .a)
        response[2] |= 0x80
        XCTAssertNil(try DNSTestClient.udpRaw(response, to: live.v4, port: live.port, timeout: 0.3))
        // An open TCP connection is a gauge that goes back down when it closes.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var (addr, len) = DNSTestClient.makeSockaddr(for: live.v4, port: live.port)
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        XCTAssertEqual(connected, 0)
        var open = 0.0
        for _ in 0..<200 {
            open = value(try Self.parse(try await get("/metrics").1), "proxima_tcp_connections_open") ?? -1
            if open == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(open, 1)
        close(fd)
        for _ in 0..<200 {
            open = value(try Self.parse(try await get("/metrics").1), "proxima_tcp_connections_open") ?? -1
            if open == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(open, 0)

        let (forced, body) = try await post("/backends/127.0.0.13/force", #"{"state": "down"}"#)
        XCTAssertEqual(forced, 200, body)
        let s2 = try Self.parse(try await get("/metrics").1)
        XCTAssertEqual(value(s2, "proxima_dropped_queries_total", ["transport": "udp", "reason": "unanswerable"]), 1)
        XCTAssertEqual(value(s2, "proxima_member_up", ["pool": "web", "member": "fra", "address": "127.0.0.13"]), 0)
        XCTAssertEqual(value(s2, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NOERROR"]), 7)
    }

    /// Two servers in one process keep their own registries (nothing goes through the
    /// process-global `MetricsSystem`): queries to one never show in the other's `/metrics`.
    /// Bursts of identical queries from one socket: the replies leave in segmented sends (UDP
    /// GSO), every one arrives as its own datagram, and `/metrics` counts them.
    func testSegmentedRepliesAreCounted() async throws {
        try await start()
        let query = DNSTestClient.query("ns1.geo.test.", .a)
        var segmented = 0.0
        var bursts = 0
        var samples: [Sample] = []
        while segmented == 0 && bursts < 50 {
            bursts += 1
            let replies = try DNSTestClient.udpBurst(Array(repeating: query, count: 32), to: live.v4, port: live.port, quiet: 0.2)
            XCTAssertEqual(replies.count, 32, "burst \(bursts)")
            for r in replies { XCTAssertEqual(Array(r.dropFirst(2)), Array(replies[0].dropFirst(2))) }
            samples = try Self.parse(try await get("/metrics").1)
            segmented = value(samples, "proxima_udp_segmented_datagrams_total") ?? -1
        }
        XCTAssertGreaterThan(segmented, 0, "no segmented reply after \(bursts) bursts of 32")
        let answered = try XCTUnwrap(value(samples, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NOERROR"]))
        XCTAssertLessThanOrEqual(segmented, answered)
        XCTAssertEqual(value(samples, "proxima_udp_gso_refused"), 0)
    }

    func testTwoServersInOneProcessCountApart() async throws {
        try await start()
        let files = ["geo.zone": Self.zone, "geo_data.json": Self.geoData]
        let copies = ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")]
        let second = try await LiveServer.start(config: Self.config(), files: files, copies: copies)
        do {
            try sendMix()
            for _ in 0..<3 { XCTAssertEqual(try second.udp("nope.geo.test.", .a).rcode, .nxDomain) }
            let first = try Self.parse(try await get("/metrics").1)
            var req = HTTPClientRequest(url: "http://127.0.0.1:\(second.adminPort!)/metrics")
            req.headers.add(name: "authorization", value: "Bearer s3cret")
            let r = try await http.execute(req, timeout: .seconds(10))
            let other = try Self.parse(String(buffer: try await r.body.collect(upTo: 8 << 20)))
            XCTAssertEqual(value(first, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NXDOMAIN"]), 2)
            XCTAssertEqual(value(other, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NXDOMAIN"]), 3)
            XCTAssertNil(value(other, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NOERROR"]))
            XCTAssertTrue(other.filter { $0.name == "proxima_routed_answers_total" }.isEmpty)
            XCTAssertEqual(value(other, "proxima_reloads_total", ["result": "ok"]), 0)
        } catch {
            await second.stop()
            throw error
        }
        await second.stop()
    }

    /// Reloads are counted as they happen, and a member a reload removed leaves `/metrics`
    /// (its scrape-time series are destroyed) while the others keep theirs.
    func testReloadsAreCountedAndRemovedMembersLeaveTheOutput() async throws {
        try await start()
        try sendMix()
        let before = try Self.parse(try await get("/metrics").1)
        let nyc = ["pool": "web", "member": "nyc", "address": "127.0.0.11"]
        XCTAssertEqual(value(before, "proxima_member_up", nyc), 1)
        let loadedAt = try XCTUnwrap(value(before, "proxima_last_successful_load_timestamp_seconds"))
        let geo = live.directory.appendingPathComponent("geo_data.json")
        try Data(Self.geoData.replacingOccurrences(
            of: #",\#n  {"address": "127.0.0.11", "name": "nyc", "latitude": 40.71, "longitude": -74.01}"#, with: "").utf8)
            .write(to: geo)
        XCTAssertFalse(try String(contentsOf: geo, encoding: .utf8).contains("nyc"))
        XCTAssertTrue(live.server.reload(reason: "test"))
        let after = try Self.parse(try await get("/metrics").1)
        XCTAssertEqual(value(after, "proxima_reloads_total", ["result": "ok"]), 1)
        XCTAssertEqual(value(after, "proxima_reloads_total", ["result": "failed"]), 0)
        XCTAssertNil(value(after, "proxima_member_up", nyc), "a removed member has no series")
        XCTAssertEqual(value(after, "proxima_member_up", ["pool": "web", "member": "lon", "address": "127.0.0.12"]), 1)
        XCTAssertGreaterThanOrEqual(value(after, "proxima_last_successful_load_timestamp_seconds") ?? 0, loadedAt)
        XCTAssertEqual(value(after, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NOERROR"]), 7,
                       "query counters carry on over a reload")

        try Data("{not json".utf8).write(to: geo)
        XCTAssertFalse(live.server.reload(reason: "test"))
        let failed = try Self.parse(try await get("/metrics").1)
        XCTAssertEqual(value(failed, "proxima_reloads_total", ["result": "ok"]), 1)
        XCTAssertEqual(value(failed, "proxima_reloads_total", ["result": "failed"]), 1)
    }

    /// RRL on (rate 1, slip 2): what the client saw — answers, truncated slips, silence — is what
    /// the counters say, whatever the token bucket's timing did.
    func testRateLimitedAnswersAreCountedAsTheClientSawThem() async throws {
        try await start(rrl: "rrl:\n  rate: 1\n  slip: 2")
        var answered = 0, slipped = 0, silent = 0
        for _ in 0..<12 {
            let q = DNSTestClient.query("ns1.geo.test.", .a)
            guard let r = try DNSTestClient.udpRaw(q, to: live.v4, port: live.port, timeout: 0.3) else {
                silent += 1
                continue
            }
            if r[2] & 0x02 != 0 { slipped += 1 } else { answered += 1 }
        }
        XCTAssertGreaterThan(slipped + silent, 0, "rate 1 per second: a burst of 12 is limited")
        let text = try await get("/metrics").1
        let s = try Self.parse(text)
        checkGrouping(text)
        XCTAssertEqual(value(s, "proxima_rrl_total", ["action": "slip"]), Double(slipped), text)
        XCTAssertEqual(value(s, "proxima_rrl_total", ["action": "drop"]), Double(silent), text)
        XCTAssertEqual(value(s, "proxima_dropped_queries_total", ["transport": "udp", "reason": "rrl"]), Double(silent))
        XCTAssertEqual(value(s, "proxima_truncated_answers_total", ["transport": "udp"]), Double(slipped))
        XCTAssertEqual(value(s, "proxima_queries_total", ["transport": "udp", "qtype": "A", "rcode": "NOERROR"]),
                       Double(answered + slipped), "slipped answers are answered (truncated)")
    }

    /// Health: probe latency histogram, failures and transitions of a probed member; load reports.
    func testHealthProbesTransitionsAndLoadReports() async throws {
        let backend = TestHTTPBackend(host: "127.0.0.12")
        try await backend.start()
        var stopped = false
        defer { if !stopped { Task { await backend.stop() } } }
        let geo = Self.geoData.replacingOccurrences(
            of: #""name": "lon", "latitude": 51.51, "longitude": -0.13}"#,
            with: #""name": "lon", "latitude": 51.51, "longitude": -0.13, "health_check": {"type": "http", "port": \#(backend.port), "path": "/health", "interval": "100ms", "timeout": "500ms", "rise": 1, "fall": 1}}"#)
        XCTAssertNotEqual(geo, Self.geoData)
        live = try await LiveServer.start(
            config: Self.config(), files: ["geo.zone": Self.zone, "geo_data.json": geo],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        http = HTTPClient(eventLoopGroupProvider: .singleton)
        let lon = ["member": "lon", "address": "127.0.0.12"]
        func scrape() async throws -> [Sample] {
            let text = try await get("/metrics").1
            checkGrouping(text)
            return try Self.parse(text)
        }
        var s: [Sample] = []
        let deadline = Date().addingTimeInterval(15)
        repeat {
            s = try await scrape()
            if (value(s, "proxima_probe_duration_seconds_count", lon) ?? 0) >= 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        let count = try XCTUnwrap(value(s, "proxima_probe_duration_seconds_count", lon))
        XCTAssertGreaterThanOrEqual(count, 3)
        XCTAssertEqual(value(s, "proxima_probe_duration_seconds_bucket", lon.merging(["le": "+Inf"]) { $1 }), count)
        let buckets = s.filter { $0.name == "proxima_probe_duration_seconds_bucket" && $0.labels["member"] == "lon" }
        XCTAssertEqual(buckets.count, 14)
        XCTAssertEqual(buckets.map(\.value), buckets.map(\.value).sorted(), "cumulative buckets")
        XCTAssertGreaterThan(value(s, "proxima_probe_duration_seconds_sum", lon) ?? -1, 0)
        XCTAssertEqual(value(s, "proxima_probe_failures_total", lon), 0)
        XCTAssertEqual(value(s, "proxima_member_state_changes_total", lon.merging(["to": "down"]) { $1 }), 0)
        XCTAssertNil(value(s, "proxima_probe_duration_seconds_count", ["member": "fra", "address": "127.0.0.13"]),
                     "members without a health check have no probe series")

        // The backend goes away: one transition to down (fall 1), failures counted.
        await backend.stop()
        stopped = true
        let downDeadline = Date().addingTimeInterval(15)
        repeat {
            s = try await scrape()
            if value(s, "proxima_member_up", ["pool": "web", "member": "lon", "address": "127.0.0.12"]) == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < downDeadline
        XCTAssertEqual(value(s, "proxima_member_up", ["pool": "web", "member": "lon", "address": "127.0.0.12"]), 0)
        XCTAssertEqual(value(s, "proxima_member_state_changes_total", lon.merging(["to": "down"]) { $1 }), 1)
        XCTAssertEqual(value(s, "proxima_member_state_changes_total", lon.merging(["to": "up"]) { $1 }), 0)
        XCTAssertGreaterThanOrEqual(value(s, "proxima_probe_failures_total", lon) ?? 0, 1)

        // Load reports: counted, and the fresh value is a gauge.
        for load in ["0.25", "0.5"] {
            let (code, body) = try await post("/load", #"{"ip": "127.0.0.13", "load": \#(load)}"#)
            XCTAssertEqual(code, 200, body)
        }
        s = try await scrape()
        XCTAssertEqual(value(s, "proxima_load_reports_total"), 2)
        XCTAssertEqual(value(s, "proxima_member_load", ["pool": "web", "member": "fra"]), 0.5)
        XCTAssertEqual(value(s, "proxima_member_load_stale"), 0)
    }

    func post(_ path: String, _ body: String) async throws -> (Int, String) {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(live.adminPort!)\(path)")
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        req.headers.add(name: "authorization", value: "Bearer s3cret")
        req.body = .bytes(ByteBuffer(string: body))
        let r = try await http.execute(req, timeout: .seconds(5))
        return (Int(r.status.code), String(buffer: try await r.body.collect(upTo: 1 << 20)))
    }

    func testMetricsNeedTheAdminTokenOnTCPAndCanBeTurnedOff() async throws {
        try await start()
        let (anonymous, _, _) = try await get("/metrics", token: nil)
        XCTAssertEqual(anonymous, 401)
        let (wrong, _, _) = try await get("/metrics", token: "nope")
        XCTAssertEqual(wrong, 401)
        // The metrics token (what Prometheus gets) reads /metrics and nothing else; the report
        // token cannot read it.
        let (scraper, text, _) = try await get("/metrics", token: "m3trics")
        XCTAssertEqual(scraper, 200, text)
        XCTAssertFalse(try Self.parse(text).isEmpty)
        let (state, _, _) = try await get("/state", token: "m3trics")
        XCTAssertEqual(state, 403)
        let (reporter, _, _) = try await get("/metrics", token: "r3port")
        XCTAssertEqual(reporter, 403)
        await live.stop()
        try await http.shutdown()
        http = nil
        live = nil
        try await start(extra: "metrics:\n  enabled: false")
        try sendMix()
        let (off, _, _) = try await get("/metrics")
        XCTAssertEqual(off, 404, "metrics.enabled: false serves no /metrics")
    }

    // MARK: query log

    struct LogLine: Decodable {
        var time: String
        var client: String
        var port: Int
        var transport: String
        var ecs: String?
        var ecs_scope: Int?
        var name: String?
        var type: String?
        var rcode: String?
        var answer: [String]?
        var routed_name: String?
        var pool: String?
        var member: String?
        var placement: String?
    }

    func readLog(_ path: String) throws -> [LogLine] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try JSONDecoder().decode(LogLine.self, from: Data($0.utf8)) }
    }

    func testQueryLogWritesOneJSONLinePerAnsweredQueryAndReopensOnSIGUSR1() async throws {
        try await start(extra: "query_log:\n  path: queries.jsonl\n  sample: 1")
        let path = live.directory.appendingPathComponent("queries.jsonl").path
        let sent = try sendMix()
        var lines: [LogLine] = []
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) { lines = try self.readLog(path); return lines.count >= sent })
        XCTAssertEqual(lines.count, sent)
        let timePattern = #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#
        for l in lines {
            XCTAssertNotNil(l.time.range(of: timePattern, options: .regularExpression), l.time)
            XCTAssertEqual(l.client, "127.0.0.1")
            XCTAssertGreaterThan(l.port, 0)
        }
        let london = lines.filter { $0.ecs == "81.2.69.0/24" }
        XCTAssertEqual(london.count, 4)
        for l in london {
            XCTAssertEqual(l.name, "www.geo.test.")
            XCTAssertEqual(l.type, "A")
            XCTAssertEqual(l.rcode, "NOERROR")
            XCTAssertEqual(l.answer, ["A 127.0.0.12"])
            XCTAssertEqual(l.routed_name, "www.geo.test.")
            XCTAssertEqual(l.pool, "web")
            XCTAssertEqual(l.member, "lon")
            XCTAssertEqual(l.placement, "database")
            XCTAssertEqual(l.ecs_scope, 24)
        }
        XCTAssertEqual(london.filter { $0.transport == "tcp" }.count, 1)
        let nx = lines.filter { $0.rcode == "NXDOMAIN" }
        XCTAssertEqual(nx.count, 3)
        XCTAssertTrue(nx.allSatisfy { $0.name == "nope.geo.test." && $0.member == nil && $0.placement == nil })
        XCTAssertEqual(lines.filter { $0.rcode == "REFUSED" }.map(\.name), ["example.org."])
        XCTAssertEqual(lines.filter { $0.placement == "unplaced" }.map { $0.answer ?? [] }, [["A 192.0.2.200"]])

        // logrotate: rename, signal, and new lines land in a new file at the old path.
        let rotated = path + ".1"
        XCTAssertEqual(rename(path, rotated), 0)
        XCTAssertTrue(live.server.reopeners.reopenAll().isEmpty)   // what SIGUSR1 runs
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) {
            _ = try self.live.udp("ns1.geo.test.", .a)
            return FileManager.default.fileExists(atPath: path)
        })
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) { try !self.readLog(path).isEmpty })
        XCTAssertGreaterThanOrEqual(try readLog(rotated).count, sent, "the rotated file keeps what was written before")
    }

    /// The real binary: SIGUSR1 after logrotate's rename makes a new file at the configured path.
    func testSIGUSR1ReopensTheQueryLogOfTheRunningBinary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-qlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(Self.zone.utf8).write(to: dir.appendingPathComponent("geo.zone"))
        let config = """
            listen:
              - 127.0.0.1:0
            log_level: info
            zones:
              - origin: geo.test.
                file: geo.zone
            query_log:
              path: queries.jsonl
            """
        try Data(config.utf8).write(to: dir.appendingPathComponent("proxima.yaml"))
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        let port = try XCTUnwrap(proc.waitForPort(), "no listen line in: \(proc.stderr)")
        let lo = IPAddress("127.0.0.1")!
        let path = dir.appendingPathComponent("queries.jsonl").path
        XCTAssertEqual(try DNSTestClient.udp("ns1.geo.test.", .a, server: lo, port: port).rcode, .noError)
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) { try self.readLog(path).count == 1 })
        XCTAssertEqual(rename(path, path + ".1"), 0)
        proc.signal(SIGUSR1)
        XCTAssertTrue(try LiveServer.eventually(timeout: 10) {
            _ = try DNSTestClient.udp("ns1.geo.test.", .a, server: lo, port: port)
            return try !self.readLog(path).isEmpty
        }, "no new file after SIGUSR1: \(proc.stderr)")
        XCTAssertGreaterThanOrEqual(try readLog(path + ".1").count, 1)
        XCTAssertTrue(try readLog(path).allSatisfy { $0.name == "ns1.geo.test." && $0.rcode == "NOERROR" })
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 20), 0)
    }
}
