import DNSWire
import Foundation
import XCTest

/// Issue #8 item 8 through the running server: an ECS flood of new networks cannot queue without
/// bound or spend more than `max_per_minute` ipstack requests; the usage file is written.
final class IPStackBoundsTests: XCTestCase {
    static func config(port: Int, extra: String) -> String {
        GeoIPServerTests.config(extra: """
              ipstack:
                enabled: true
                base_url: http://127.0.0.1:\(port)
                access_key: test-key-123
                timeout: 10s
                usage_file: ipstack-usage.json
            \(extra)
            """)
    }

    static func query(_ ecs: String) -> [UInt8] {
        let n = IPNetwork(ecs)!
        return DNSTestClient.query("www.geo.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [
            .clientSubnet(ClientSubnet(address: n.address, sourcePrefixLength: UInt8(n.prefixLength)))]))
    }

    /// With one pending slot taken by a query waiting on a slow ipstack, a query for another new
    /// network is answered without ipstack (the zone's last-resort record) and sends no request.
    func testBeyondMaxPendingQueriesAreAnsweredWithoutIPStack() async throws {
        let ipstack = TestHTTPBackend(host: "127.0.0.1")
        ipstack.body = #"{"ip": "x", "latitude": 35.68, "longitude": 139.69, "country_code": "JP"}"#
        ipstack.delay = 3
        try await ipstack.start()
        defer { Task { await ipstack.stop() } }
        let live = try await LiveServer.start(
            config: Self.config(port: ipstack.port, extra: "    budget: 10s\n    max_pending: 1"),
            files: ["geo.zone": GeoIPServerTests.zone, "geo_data.json": GeoIPServerTests.geoData],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        let port = live.port
        let first = Thread {
            _ = try? DNSTestClient.udpRaw(Self.query("8.8.8.0/24"), to: IPAddress("127.0.0.1")!, port: port, timeout: 15)
        }
        first.start()
        // The first query now holds the only slot until ipstack answers.
        XCTAssertTrue(LiveServer.eventually(timeout: 10) { ipstack.requests == 1 })
        let reply = try XCTUnwrap(try DNSTestClient.udpRaw(Self.query("9.9.9.0/24"), to: IPAddress("127.0.0.1")!,
                                                             port: port, timeout: 15))
        let m = try Message(parsing: reply)
        XCTAssertEqual(m.answerSection.map { $0.rdata.description }, ["192.0.2.200"], "answered without a location")
        XCTAssertEqual(ipstack.requests, 1, "no request for the query beyond max_pending: \(ipstack.paths)")
        while !first.isFinished { try await Task.sleep(for: .milliseconds(20)) }
        await live.stop()
    }

    /// Answers sent after an ipstack lookup pass the response rate limiter like every other UDP
    /// answer: 20 queries from one source for 20 new networks (each one a lookup, a deferred
    /// answer) with `rrl.rate: 1` get one answer, not 20 — a flood of queries needing lookups
    /// must not reach a spoofed source unlimited.
    func testDeferredAnswersAreRateLimited() async throws {
        let ipstack = TestHTTPBackend(host: "127.0.0.1")
        ipstack.body = #"{"ip": "x", "latitude": 35.68, "longitude": 139.69, "country_code": "JP"}"#
        try await ipstack.start()
        defer { Task { await ipstack.stop() } }
        let live = try await LiveServer.start(
            config: Self.config(port: ipstack.port, extra: "    budget: 5s\n    max_per_minute: 1000\n    max_pending: 100\n    max_concurrent: 32")
                + "\nrrl:\n  rate: 1\n  slip: 0\n",
            files: ["geo.zone": GeoIPServerTests.zone, "geo_data.json": GeoIPServerTests.geoData],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        let queries = (0..<20).map { Self.query("8.8.\($0).0/24") }
        let burst = Task.detached { try DNSTestClient.udpBurst(queries, to: IPAddress("127.0.0.1")!, port: live.port, quiet: 2) }
        XCTAssertTrue(LiveServer.eventually(timeout: 10) { ipstack.requests == 20 },
                      "every query took the lookup path: \(ipstack.requests) requests")
        let replies = try await burst.value
        XCTAssertGreaterThanOrEqual(replies.count, 1, "the first answer is within the rate")
        XCTAssertLessThanOrEqual(replies.count, 2, "deferred answers beyond rrl.rate are dropped, got \(replies.count)")
        await live.stop()
    }

    /// 100 new networks, `max_per_minute: 5`: five requests reach ipstack, every query is answered,
    /// and the month's count is in the usage file.
    func testECSFloodSpendsAtMostMaxPerMinute() async throws {
        let ipstack = TestHTTPBackend(host: "127.0.0.1")
        ipstack.body = #"{"ip": "x", "latitude": 35.68, "longitude": 139.69, "country_code": "JP"}"#
        try await ipstack.start()
        defer { Task { await ipstack.stop() } }
        let live = try await LiveServer.start(
            config: Self.config(port: ipstack.port, extra: "    budget: 2s\n    max_per_minute: 5"),
            files: ["geo.zone": GeoIPServerTests.zone, "geo_data.json": GeoIPServerTests.geoData],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        for i in 0..<100 {
            let reply = try DNSTestClient.udpRaw(Self.query("8.8.\(i).0/24"), to: IPAddress("127.0.0.1")!, port: live.port,
                                                 timeout: 5)
            XCTAssertNotNil(reply, "query \(i) unanswered")
        }
        XCTAssertEqual(ipstack.requests, 5)
        let usage = try String(contentsOf: live.directory.appendingPathComponent("ipstack-usage.json"), encoding: .utf8)
        XCTAssertTrue(usage.contains("\"requests\":5") || usage.contains("\"requests\" : 5"), usage)
        await live.stop()
    }
}
