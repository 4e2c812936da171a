import AsyncHTTPClient
import DNSWire
import Foundation
@testable import GeoIP
import GeoRouting
import MetricsTestKit
import NIOCore
import NIOPosix
import XCTest

/// The ipstack fallback against a real HTTP server on 127.0.0.1:0.
final class IPStackClientTests: XCTestCase {
    static let key = "S3CRET-KEY-0123456789abcdef"
    static let londonJSON = """
        {"ip":"81.2.69.142","latitude":51.5085,"longitude":-0.1257,"country_code":"GB",
         "continent_code":"EU","city":"London"}
        """

    var http: HTTPClient!

    override func setUp() async throws {
        http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    }

    override func tearDown() async throws {
        try await http.shutdown()
    }

    func makeClient(_ baseURL: String, clock: ManualClock? = nil,
                    _ adjust: (inout IPStackConfiguration) -> Void = { _ in }) throws -> IPStackClient {
        var config = IPStackConfiguration(baseURL: baseURL, accessKey: Self.key, timeout: .seconds(2))
        adjust(&config)
        if let clock {
            return try IPStackClient(httpClient: http, configuration: config, clock: { clock.now() })
        }
        return try IPStackClient(httpClient: http, configuration: config)
    }

    func testSuccessJSONIsCachedForTheClientsSlash24() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON) }
        defer { Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        let location = await client.lookup(ip("81.2.69.142"), budget: .seconds(2))
        XCTAssertEqual(location?.city, "London")
        XCTAssertEqual(location?.countryCode, "GB")
        XCTAssertEqual(location?.continentCode, "EU")
        XCTAssertEqual(location?.source, .ipstack)
        XCTAssertEqual(location?.network, net("81.2.69.0/24"))
        XCTAssertEqual(location?.coordinate, Coordinate(latitude: 51.5085, longitude: -0.1257))
        XCTAssertEqual(server.uris.count, 1)
        XCTAssertTrue(server.uris[0].hasPrefix("/81.2.69.142?access_key=\(Self.key)"), server.uris[0])
        // Another host in the same /24 is a cache hit, without a request.
        guard case .hit(let hit) = client.cached(ip("81.2.69.7"), now: .now) else { return XCTFail() }
        XCTAssertEqual(hit.city, "London")
        await assertEqualAsync(await client.lookup(ip("81.2.69.8"), budget: .seconds(1))?.city, "London")
        XCTAssertEqual(server.uris.count, 1)
        XCTAssertEqual(client.cached(ip("81.2.70.1"), now: .now), .miss)
    }

    /// Issue #11: with a metrics factory, requests and cache probes are recorded there as they
    /// happen, matching `statistics`; a second client on the same factory carries the counts on.
    func testEventsAreRecordedThroughTheGivenMetricsFactory() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON) }
        defer { Task { try? await server.stop() } }
        let metrics = TestMetrics()
        let config = IPStackConfiguration(baseURL: server.baseURL, accessKey: Self.key, timeout: .seconds(2))
        let client = try IPStackClient(httpClient: http, configuration: config, metrics: metrics)
        XCTAssertEqual(client.cached(ip("81.2.69.142"), now: .now), .miss)
        await assertEqualAsync(await client.lookup(ip("81.2.69.142"), budget: .seconds(2))?.city, "London")
        guard case .hit = client.cached(ip("81.2.69.7"), now: .now) else { return XCTFail("no cache hit") }
        func total(_ label: String, _ key: String, _ value: String) -> Int64 {
            metrics.counterTotal(label: label, dimensions: [(key, value)])
        }
        XCTAssertEqual(total("proxima_ipstack_requests_total", "result", "success"), 1)
        XCTAssertEqual(total("proxima_ipstack_requests_total", "result", "failure"), 0)
        XCTAssertEqual(total("proxima_ipstack_cache_lookups_total", "result", "miss"), 1)
        XCTAssertEqual(total("proxima_ipstack_cache_lookups_total", "result", "hit"), 1)
        XCTAssertEqual(total("proxima_ipstack_cache_lookups_total", "result", "negative"), 0)
        let st = client.statistics
        XCTAssertEqual([st.successes, st.cacheMisses, st.cacheHits], [1, 1, 1])

        // AHC retries refused connects until the request deadline, so keep the timeout short.
        let port = try await closedLoopbackPort()
        let refused = try IPStackClient(httpClient: http, configuration: IPStackConfiguration(
            baseURL: "http://127.0.0.1:\(port)", accessKey: Self.key, timeout: .milliseconds(300)), metrics: metrics)
        await assertNilAsync(await refused.lookup(ip("81.2.70.1"), budget: .seconds(2)))
        XCTAssertEqual(total("proxima_ipstack_requests_total", "result", "failure"), 1)
        XCTAssertEqual(total("proxima_ipstack_requests_total", "result", "success"), 1, "the first client's count stays")
    }

    func testCacheTTLExpiresPositiveAndNegative() async throws {
        let server = try await TestHTTPServer.start { uri in
            uri.hasPrefix("/81.") ? .json(Self.londonJSON) : .json(#"{"ip":"1.2.3.4","latitude":null,"longitude":null}"#)
        }
        defer { Task { try? await server.stop() } }
        let clock = ManualClock()
        let client = try makeClient(server.baseURL, clock: clock) {
            $0.cacheTTL = .seconds(60)
            $0.negativeCacheTTL = .seconds(10)
        }
        _ = await client.lookup(ip("81.2.69.1"), budget: .seconds(2))
        _ = await client.lookup(ip("1.2.3.4"), budget: .seconds(2))
        XCTAssertEqual(client.cached(ip("1.2.3.4"), now: clock.now()), .negative)
        clock.advance(.seconds(11))
        XCTAssertEqual(client.cached(ip("1.2.3.4"), now: clock.now()), .miss)
        guard case .hit = client.cached(ip("81.2.69.1"), now: clock.now()) else { return XCTFail() }
        clock.advance(.seconds(50))
        XCTAssertEqual(client.cached(ip("81.2.69.1"), now: clock.now()), .miss)
        // Every probe is counted by result (the `proxima_ipstack_cache_lookups_total` metric).
        XCTAssertEqual(client.statistics.cacheHits, 1)
        XCTAssertEqual(client.statistics.cacheNegative, 1)
        XCTAssertEqual(client.statistics.cacheMisses, 2)
    }

    func testNullCoordinatesAreANegativeAnswerNotAFailure() async throws {
        let server = try await TestHTTPServer.start { _ in
            .json(#"{"ip":"66.11.0.1","latitude":null,"longitude":null,"country_code":null,"city":null}"#)
        }
        defer { Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        let location = await client.lookup(ip("66.11.0.1"), budget: .seconds(2))
        XCTAssertNil(location)
        XCTAssertEqual(client.cached(ip("66.11.0.99"), now: .now), .negative)
        let stats = client.statistics
        XCTAssertEqual(stats.successes, 1)
        XCTAssertEqual(stats.failures, 0)
    }

    func testErrorJSONIsAnAPIErrorWithoutTheKey() async throws {
        // A hostile upstream echoing the key back must not leak it into our errors either.
        let server = try await TestHTTPServer.start { _ in
            .json("""
                {"success": false, "error": {"code": 101, "type": "invalid_access_key",
                 "info": "You have not supplied a valid API Access Key: \(Self.key)"}}
                """)
        }
        defer { Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        do {
            _ = try await client.fetch(ip("81.2.69.142"))
            XCTFail("expected an error")
        } catch let error as GeoIPError {
            XCTAssertEqual(error.code, .ipstackAPIError)
            XCTAssertTrue(error.message.contains("invalid_access_key"), error.message)
            XCTAssertTrue(error.message.contains("101"), error.message)
            XCTAssertFalse("\(error)".contains(Self.key), "\(error)")
        }
        await assertNilAsync(await client.lookup(ip("81.2.69.142"), budget: .seconds(2)))
        XCTAssertEqual(client.cached(ip("81.2.69.142"), now: .now), .negative)
        XCTAssertEqual(client.statistics.failures, 1)
    }

    func testParserTable() throws {
        let n = net("81.2.69.0/24")
        XCTAssertEqual(try IPStackResponse.location(from: Array(Self.londonJSON.utf8), network: n)?.city, "London")
        XCTAssertNil(try IPStackResponse.location(from: Array(#"{"latitude":null,"longitude":1}"#.utf8), network: n))
        XCTAssertNil(try IPStackResponse.location(from: Array(#"{"latitude":100,"longitude":1}"#.utf8), network: n))
        XCTAssertNil(try IPStackResponse.location(
            from: Array(#"{"success":false,"error":{"code":106,"type":"invalid_ip_address"}}"#.utf8), network: n))
        let bad = ["", "<html>", #"{"latitude":"north"}"#, "[1,2]"]
        for body in bad {
            XCTAssertThrowsError(try IPStackResponse.location(from: Array(body.utf8), network: n), body) { error in
                XCTAssertEqual((error as? GeoIPError)?.code, .ipstackDecode, body)
            }
        }
        XCTAssertThrowsError(try IPStackResponse.location(
            from: Array(#"{"success":false,"error":{"code":104,"type":"usage_limit_reached"}}"#.utf8), network: n)) {
            XCTAssertEqual(($0 as? GeoIPError)?.code, .ipstackAPIError)
        }
    }

    func testSlowUpstreamBudgetExpiresThenTheLateAnswerFillsTheCache() async throws {
        // The upstream answers only when the gate opens: the lookup returning at all shows the
        // budget expired without waiting for the answer.
        let gate = TestHTTPServer.Gate()
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON, gate: gate) }
        defer { gate.open(); Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        let location = await client.lookup(ip("81.2.69.142"), budget: .milliseconds(100))
        XCTAssertNil(location)
        XCTAssertEqual(client.cached(ip("81.2.69.142"), now: .now), .miss)
        gate.open()
        let filled = try await eventually(timeout: .seconds(5)) {
            if case .hit = client.cached(ip("81.2.69.142"), now: .now) { return true }
            return false
        }
        XCTAssertTrue(filled)
        XCTAssertEqual(server.uris.count, 1)
    }

    func testStrictTimeoutWithoutTheKeyInTheError() async throws {
        // The upstream never answers while the test runs: only the timeout can end the fetch.
        let gate = TestHTTPServer.Gate()
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON, gate: gate) }
        defer { gate.open(); Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL) { $0.timeout = .milliseconds(250) }
        do {
            _ = try await client.fetch(ip("81.2.69.142"))
            XCTFail("expected a timeout")
        } catch let error as GeoIPError {
            XCTAssertEqual(error.code, .ipstackTimeout, "\(error)")
            XCTAssertFalse("\(error)".contains(Self.key))
        }
    }

    func testRefusedConnectionIsAFailureWithoutTheKey() async throws {
        let port = try await closedLoopbackPort()
        // AHC retries refused connects until the request deadline, so keep the timeout short.
        let client = try makeClient("http://127.0.0.1:\(port)") { $0.timeout = .milliseconds(300) }
        do {
            _ = try await client.fetch(ip("81.2.69.142"))
            XCTFail("expected a transport error")
        } catch let error as GeoIPError {
            XCTAssertEqual(error.code, .ipstackTransport, "\(error)")
            XCTAssertFalse("\(error)".contains(Self.key), "\(error)")
        }
        await assertNilAsync(await client.lookup(ip("81.2.69.142"), budget: .seconds(2)))
        XCTAssertEqual(client.statistics.failures, 1)
        XCTAssertEqual(client.cached(ip("81.2.69.142"), now: .now), .negative)
    }

    func testHTTPStatusErrorWithoutTheKey() async throws {
        let server = try await TestHTTPServer.start { _ in
            TestHTTPServer.Response(status: .internalServerError, body: Array("boom".utf8))
        }
        defer { Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        do {
            _ = try await client.fetch(ip("81.2.69.142"))
            XCTFail("expected an HTTP status error")
        } catch let error as GeoIPError {
            XCTAssertEqual(error.code, .ipstackHTTPStatus)
            XCTAssertTrue(error.message.contains("500"))
            XCTAssertFalse("\(error)".contains(Self.key))
        }
    }

    func testCircuitBreakerOpensAfterConsecutiveFailuresAndClosesAfterATrial() async throws {
        let server = try await TestHTTPServer.start { _ in
            TestHTTPServer.Response(status: .serviceUnavailable, body: [])
        }
        defer { Task { try? await server.stop() } }
        let clock = ManualClock()
        let client = try makeClient(server.baseURL, clock: clock) {
            $0.breakerFailures = 3
            $0.breakerCooldown = .seconds(30)
        }
        for i in 1...3 {
            await assertNilAsync(await client.lookup(ip("81.2.\(i).1"), budget: .seconds(2)))
        }
        XCTAssertEqual(server.uris.count, 3)
        XCTAssertTrue(client.statistics.breakerOpen)
        XCTAssertFalse(client.acceptsLookups(now: clock.now()))
        // Open: no request at all.
        await assertNilAsync(await client.lookup(ip("81.2.10.1"), budget: .seconds(2)))
        XCTAssertEqual(server.uris.count, 3)
        XCTAssertEqual(client.statistics.droppedBreakerOpen, 1)
        XCTAssertEqual(client.cached(ip("81.2.10.1"), now: clock.now()), .miss)

        // Cooldown over, upstream still failing: the one trial fails and the breaker re-opens.
        clock.advance(.seconds(31))
        XCTAssertTrue(client.acceptsLookups(now: clock.now()))
        await assertNilAsync(await client.lookup(ip("81.2.11.1"), budget: .seconds(2)))
        XCTAssertEqual(server.uris.count, 4)
        await assertNilAsync(await client.lookup(ip("81.2.12.1"), budget: .seconds(2)))
        XCTAssertEqual(server.uris.count, 4)

        // Upstream recovers; after the next cooldown the trial succeeds and the breaker closes.
        server.setHandler { _ in .json(Self.londonJSON) }
        clock.advance(.seconds(31))
        await assertEqualAsync(await client.lookup(ip("81.2.69.142"), budget: .seconds(2))?.city, "London")
        XCTAssertFalse(client.statistics.breakerOpen)
        await assertEqualAsync(await client.lookup(ip("81.2.13.1"), budget: .seconds(2))?.city, "London")
        XCTAssertEqual(server.uris.count, 6)
    }

    func testConcurrencyCapTreatsExtraLookupsAsMisses() async throws {
        // The first two lookups stay in flight until the gate opens.
        let gate = TestHTTPServer.Gate()
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON, gate: gate) }
        defer { gate.open(); Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL) { $0.maxConcurrent = 2 }
        await assertNilAsync(await client.lookup(ip("81.2.1.1"), budget: .zero))  // starts, does not wait
        await assertNilAsync(await client.lookup(ip("81.2.2.1"), budget: .zero))
        await assertNilAsync(await client.lookup(ip("81.2.3.1"), budget: .seconds(2)))
        XCTAssertEqual(client.statistics.droppedOverCapacity, 1, "must be dropped, not queued")
        gate.open()
        XCTAssertEqual(client.cached(ip("81.2.3.1"), now: .now), .miss, "a dropped lookup is not cached")
        let done = try await eventually {
            client.cached(ip("81.2.1.1"), now: .now) != .miss && client.cached(ip("81.2.2.1"), now: .now) != .miss
        }
        XCTAssertTrue(done)
        XCTAssertEqual(server.uris.count, 2)
        XCTAssertLessThanOrEqual(server.maxInFlight, 2)
        // Capacity is free again.
        await assertEqualAsync(await client.lookup(ip("81.2.3.1"), budget: .seconds(2))?.city, "London")
    }

    func testConcurrentLookupsOfOneNetworkShareOneRequest() async throws {
        // The upstream answers once the other nine lookups have joined the first (not after a
        // delay that a busy machine could outlast).
        let gate = TestHTTPServer.Gate()
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON, gate: gate) }
        defer { gate.open(); Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL) { $0.maxConcurrent = 1 }
        let lookups = Task {
            await withTaskGroup(of: String?.self) { group in
                for host in 1...10 {
                    group.addTask { await client.lookup(ip("81.2.69.\(host)"), budget: .seconds(60))?.city }
                }
                var out: [String?] = []
                for await c in group { out.append(c) }
                return out
            }
        }
        let allJoined = try await eventually(timeout: .seconds(30)) { client.statistics.joined == 9 }
        XCTAssertTrue(allJoined, "joined: \(client.statistics.joined)")
        gate.open()
        let cities = await lookups.value
        XCTAssertEqual(cities, [String?](repeating: "London", count: 10))
        XCTAssertEqual(server.uris.count, 1)
        XCTAssertEqual(client.statistics.joined, 9)
    }

    func testSpecialPurposeAddressesAreNeverSent() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON) }
        defer { Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        for text in ["10.1.2.3", "100.64.0.1", "192.0.2.1", "fd00::1", "::ffff:192.168.1.1", "fe80::1"] {
            await assertNilAsync(await client.lookup(ip(text), budget: .seconds(1)), text)
            XCTAssertEqual(client.cached(ip(text), now: .now), .negative, text)
        }
        XCTAssertEqual(server.uris.count, 0)
    }

    func testIPv6IsCachedPerSlash48AndMappedAsIPv4() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.londonJSON) }
        defer { Task { try? await server.stop() } }
        let client = try makeClient(server.baseURL)
        await assertEqualAsync(await client.lookup(ip("2a02:c7f:1:2::1"), budget: .seconds(2))?.network, net("2a02:c7f:1::/48"))
        guard case .hit = client.cached(ip("2a02:c7f:1:ffff::9"), now: .now) else { return XCTFail() }
        await assertEqualAsync(await client.lookup(ip("::ffff:81.2.69.142"), budget: .seconds(2))?.network, net("81.2.69.0/24"))
        XCTAssertTrue(server.uris.contains { $0.hasPrefix("/81.2.69.142?") }, "\(server.uris)")
    }

    func testConfigurationValidationNeverEchoesTheKey() {
        let bad = [
            IPStackConfiguration(baseURL: "ftp://x", accessKey: "k"),
            IPStackConfiguration(accessKey: ""),
            IPStackConfiguration(accessKey: "has space \(Self.key)"),
            IPStackConfiguration(accessKey: "k", maxConcurrent: 0),
            IPStackConfiguration(accessKey: "k", cachePrefixV4: 33),
        ]
        for config in bad {
            XCTAssertThrowsError(try config.validate()) { error in
                XCTAssertEqual((error as? GeoIPError)?.code, .ipstackConfiguration)
                XCTAssertFalse("\(error)".contains(Self.key))
            }
        }
    }
}
