import AsyncHTTPClient
import DNSWire
import Foundation
@testable import GeoIP
import GeoRouting
import NIOPosix
import XCTest

/// The chain overrides → database → ipstack cache, and its per-network cache.
final class GeoLocatorTests: XCTestCase {
    func city(_ outcome: LocateOutcome) -> String? {
        if case .located(let l) = outcome { return l.city ?? l.label }
        return nil
    }

    func testOverridesWinOverTheDatabase() throws {
        let overrides = try LocationOverrides([
            .init(network: net("81.2.69.128/25"), coordinate: Coordinate(latitude: 52.37, longitude: 4.89), label: "office"),
        ])
        let locator = GeoLocator(overrides: overrides, database: try MaxMindDatabase(path: Fixtures.cityV6))
        XCTAssertEqual(city(locator.locate(ip("81.2.69.200"), now: .now)), "office")
        XCTAssertEqual(city(locator.locate(ip("::ffff:81.2.69.200"), now: .now)), "office")
        XCTAssertEqual(city(locator.locate(ip("81.2.69.1"), now: .now)), "London")
        guard case .located(let l) = locator.locate(ip("81.2.69.200"), now: .now) else { return XCTFail() }
        XCTAssertEqual(l.source, .override)
        XCTAssertEqual(l.network, net("81.2.69.128/25"))
    }

    /// Records narrower than the /24 cache block: 66.10.1.16/28 (Newark) inside New York's /16.
    func testPerNetworkCacheKeepsRecordsNarrowerThanTheBlockApart() throws {
        let locator = GeoLocator(database: try MaxMindDatabase(path: Fixtures.cityV6))
        let table: [(String, String, String)] = [
            ("66.10.1.200", "New York", "66.10.1.128/25"),
            ("66.10.1.20", "Newark", "66.10.1.16/28"),
            ("66.10.1.5", "New York", "66.10.1.0/28"),
            ("66.10.1.31", "Newark", "66.10.1.16/28"),
            ("66.10.1.40", "New York", "66.10.1.32/27"),
            ("66.10.2.1", "New York", "66.10.2.0/23"),
            ("66.10.3.1", "New York", "66.10.2.0/23"),
            ("2a01:4f8:1c0c::1", "Helsinki", "2a01:4f8:1c0c::/48"),
            ("2a01:4f8:1c0d::1", "Frankfurt am Main", "2a01:4f8:1c0d::/48"),
        ]
        // Three rounds: the first fills the cache, the others must read it back identically.
        for _ in 0..<3 {
            for (address, name, network) in table {
                guard case .located(let l) = locator.locate(ip(address), now: .now) else {
                    return XCTFail(address)
                }
                XCTAssertEqual(l.city, name, address)
                XCTAssertEqual(l.network, net(network), address)
            }
        }
    }

    func testUnknownWithoutIPStackCarriesTheGapNetwork() throws {
        let locator = GeoLocator(database: try MaxMindDatabase(path: Fixtures.cityV6))
        XCTAssertEqual(locator.locate(ip("66.11.0.1"), now: .now), .unknown(network: net("66.11.0.0/16")))
        XCTAssertEqual(locator.locate(ip("89.160.20.5"), now: .now), .unknown(network: net("89.160.20.0/24")))
        XCTAssertEqual(GeoLocator(database: nil).locate(ip("8.8.8.8"), now: .now), .unknown(network: nil))
    }

    func testIPStackFallbackNeedsRemoteThenHitsTheCache() async throws {
        let server = try await TestHTTPServer.start { uri in
            uri.hasPrefix("/89.160.20.5?")
                ? .json(#"{"ip":"89.160.20.5","latitude":59.33,"longitude":18.06,"country_code":"SE","city":"Stockholm"}"#)
                : .json(#"{"ip":"x","latitude":null,"longitude":null}"#)
        }
        let http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let ipstack = try IPStackClient(httpClient: http, configuration: IPStackConfiguration(
            baseURL: server.baseURL, accessKey: "k", budget: .seconds(2)))
        let locator = GeoLocator(database: try MaxMindDatabase(path: Fixtures.cityV6), ipstack: ipstack)

        XCTAssertEqual(locator.locate(ip("89.160.20.5"), now: .now), .needsRemote)
        let remote = await locator.locateRemote(ip("89.160.20.5"))
        XCTAssertEqual(remote?.city, "Stockholm")
        XCTAssertEqual(remote?.source, .ipstack)
        XCTAssertEqual(remote?.network, net("89.160.20.0/24"))
        XCTAssertEqual(city(locator.locate(ip("89.160.20.77"), now: .now)), "Stockholm")

        // Private addresses never need the remote step; database hits never do either.
        XCTAssertEqual(locator.locate(ip("10.0.0.1"), now: .now), .unknown(network: net("0.0.0.0/4")))
        XCTAssertEqual(city(locator.locate(ip("81.2.69.142"), now: .now)), "London")

        // A negative ipstack answer: unknown, scoped to the narrower of gap and cache network.
        XCTAssertEqual(locator.locate(ip("66.11.0.1"), now: .now), .needsRemote)
        await assertNilAsync(await locator.locateRemote(ip("66.11.0.1")))
        XCTAssertEqual(locator.locate(ip("66.11.0.1"), now: .now), .unknown(network: net("66.11.0.0/24")))
        XCTAssertEqual(server.uris.count, 2)
        try await server.stop()
        try await http.shutdown()
    }

    func testOpenBreakerAnswersUnknownWithoutTheRemoteHop() async throws {
        let port = try await closedLoopbackPort()
        let http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let ipstack = try IPStackClient(httpClient: http, configuration: IPStackConfiguration(
            baseURL: "http://127.0.0.1:\(port)", accessKey: "k", timeout: .milliseconds(200),
            budget: .seconds(1), breakerFailures: 1, breakerCooldown: .seconds(60)))
        let locator = GeoLocator(database: try MaxMindDatabase(path: Fixtures.cityV4), ipstack: ipstack)
        XCTAssertEqual(locator.locate(ip("8.8.8.8"), now: .now), .needsRemote)
        await assertNilAsync(await locator.locateRemote(ip("8.8.8.8")))
        // One failure opened the breaker: other public networks are unknown at once.
        XCTAssertEqual(locator.locate(ip("9.9.9.9"), now: .now), .unknown(network: net("9.9.9.0/24")))
        // IPv6 in an IPv4-only database: the gap is ::/0, the scope the ipstack /48.
        XCTAssertEqual(locator.locate(ip("2a02:c7f::1"), now: .now), .unknown(network: net("2a02:c7f::/48")))
        try await http.shutdown()
    }

    func testRepeatLookupsAreCheap() throws {
        let locator = GeoLocator(database: try MaxMindDatabase(path: Fixtures.cityV6))
        let addresses = (0..<256).map { IPAddress.v4(0x420A_0000 | UInt32($0) << 8 | 7) }  // 66.10.x.7
        let now = ContinuousClock.now
        for a in addresses { _ = locator.locate(a, now: now) }
        let n = 200_000
        var located = 0
        for i in 0..<n {
            if case .located = locator.locate(addresses[i & 255], now: now) { located += 1 }
        }
        XCTAssertEqual(located, n)
        // Speed is measured by proxima-locate-bench (release, ~0.1 µs), not asserted here: a
        // wall-clock bound fails on a busy machine.
    }
}
