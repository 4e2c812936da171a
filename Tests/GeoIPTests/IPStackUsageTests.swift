import AsyncHTTPClient
import DNSWire
import Foundation
@testable import GeoIP
import GeoRouting
import NIOCore
import NIOPosix
import XCTest

/// Issue #8 item 8: anyone can send ECS, and each new network could cost a paid ipstack request.
/// The client sends at most `maxPerMinute` requests in any minute and `monthlyQuota` per month,
/// and the month's count survives a restart through the usage file. Against a real HTTP server on
/// 127.0.0.1:0 that counts what it receives.
final class IPStackUsageTests: XCTestCase {
    static let json = #"{"ip":"198.51.100.1","latitude":10,"longitude":20,"country_code":"XX"}"#
    var http: HTTPClient!
    var dir: URL!

    override func setUp() async throws {
        http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ipstack-usage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try await http.shutdown()
        try? FileManager.default.removeItem(at: dir)
    }

    /// Distinct /24s, as an ECS flood would send.
    static func addresses(_ n: Int) -> [IPAddress] {
        (0..<n).map { IPAddress("11.\($0 / 256).\($0 % 256).1")! }
    }

    func client(_ base: String, clock: ManualClock, wall: @escaping @Sendable () -> Date = { Date() },
                _ adjust: (inout IPStackConfiguration) -> Void) throws -> IPStackClient {
        var c = IPStackConfiguration(baseURL: base, accessKey: "K3Y", timeout: .seconds(5), maxConcurrent: 1024)
        adjust(&c)
        return try IPStackClient(httpClient: http, configuration: c, clock: { clock.now() }, wallClock: wall)
    }

    func testManyNetworksCauseAtMostMaxPerMinuteRequests() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.json) }
        defer { Task { try? await server.stop() } }
        let clock = ManualClock()
        let c = try client(server.baseURL, clock: clock) { $0.maxPerMinute = 10 }
        await withTaskGroup(of: Void.self) { group in
            for a in Self.addresses(200) { group.addTask { _ = await c.lookup(a, budget: .seconds(5)) } }
        }
        XCTAssertEqual(server.uris.count, 10)
        XCTAssertEqual(c.statistics.requests, 10)
        XCTAssertEqual(c.statistics.droppedRateLimited, 190)
        // Refusals are not cached: after the window moves on, the same networks are tried again.
        clock.advance(.seconds(61))
        for a in Self.addresses(30).suffix(20) { _ = await c.lookup(a, budget: .seconds(5)) }
        XCTAssertEqual(server.uris.count, 20)
    }

    func testMonthlyQuotaPersistsAcrossANewClient() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.json) }
        defer { Task { try? await server.stop() } }
        let clock = ManualClock()
        let usage = dir.appendingPathComponent("ipstack-usage.json").path
        let november = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 UTC
        let first = try client(server.baseURL, clock: clock, wall: { november }) {
            $0.monthlyQuota = 5
            $0.usageFile = usage
        }
        for a in Self.addresses(3) { _ = await first.lookup(a, budget: .seconds(5)) }
        XCTAssertEqual(server.uris.count, 3)
        XCTAssertEqual(IPStackUsageFile.read(usage)?.requests, 3)
        let text = try String(contentsOfFile: usage, encoding: .utf8)
        XCTAssertTrue(text.contains("2026-11"), text)

        // A restart: the new client reads the count and has 2 requests left this month.
        let second = try client(server.baseURL, clock: clock, wall: { november }) {
            $0.monthlyQuota = 5
            $0.usageFile = usage
        }
        XCTAssertEqual(second.statistics.monthRequests, 3)
        for a in Self.addresses(10).suffix(7) { _ = await second.lookup(a, budget: .seconds(5)) }
        XCTAssertEqual(server.uris.count, 5)
        XCTAssertEqual(second.statistics.droppedQuotaExhausted, 5)
        XCTAssertEqual(IPStackUsageFile.read(usage)?.requests, 5)
        do {
            _ = try await second.fetch(IPAddress("11.9.9.9")!)
            XCTFail("fetch must respect the quota too")
        } catch let e as GeoIPError {
            XCTAssertEqual(e.code, .ipstackQuotaExhausted)
        }

        // A new month starts from zero.
        let december = Date(timeIntervalSince1970: 1_796_700_000)  // 2026-12-08 UTC
        let third = try client(server.baseURL, clock: clock, wall: { december }) {
            $0.monthlyQuota = 5
            $0.usageFile = usage
        }
        XCTAssertEqual(third.statistics.monthRequests, 0)
        _ = await third.lookup(IPAddress("12.0.0.1")!, budget: .seconds(5))
        XCTAssertEqual(server.uris.count, 6)
        XCTAssertEqual(IPStackUsageFile.read(usage)?.month, IPStackUsage.month(of: december))
    }

    /// Two clients sharing one usage file (`proxima serve` and `proxima locate` do) add up their
    /// requests under the file's lock instead of overwriting each other's count, and the monthly
    /// quota holds across both.
    func testClientsSharingTheUsageFileAddUpTheirRequests() async throws {
        let server = try await TestHTTPServer.start { _ in .json(Self.json) }
        defer { Task { try? await server.stop() } }
        let clock = ManualClock()
        let usage = dir.appendingPathComponent("shared-usage.json").path
        let november = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 UTC
        func make() throws -> IPStackClient {
            try client(server.baseURL, clock: clock, wall: { november }) {
                $0.monthlyQuota = 5
                $0.usageFile = usage
            }
        }
        let serve = try make()
        let locate = try make()
        for a in Self.addresses(2) { _ = await serve.lookup(a, budget: .seconds(5)) }
        for a in Self.addresses(4).suffix(2) { _ = await locate.lookup(a, budget: .seconds(5)) }
        XCTAssertEqual(server.uris.count, 4)
        XCTAssertEqual(IPStackUsageFile.read(usage)?.requests, 4, "both clients' requests are in the file")
        // The first client learns of the other's two at its next sync: one request left, not three.
        for a in Self.addresses(8).suffix(4) { _ = await serve.lookup(a, budget: .seconds(5)) }
        XCTAssertEqual(server.uris.count, 5)
        XCTAssertEqual(IPStackUsageFile.read(usage)?.requests, 5)
        XCTAssertEqual(serve.statistics.monthRequests, 5)
        XCTAssertEqual(serve.statistics.droppedQuotaExhausted, 3)
    }

    func testSlidingWindowStateMachine() {
        let t0 = ContinuousClock.now
        var u = IPStackUsage(maxPerMinute: 2, monthlyQuota: 100, month: 1)
        XCTAssertEqual(u.admit(now: t0, month: 1), .allowed)
        XCTAssertEqual(u.admit(now: t0 + .seconds(30), month: 1), .allowed)
        XCTAssertEqual(u.admit(now: t0 + .seconds(59), month: 1), .rateLimited)
        XCTAssertEqual(u.admit(now: t0 + .seconds(60), month: 1), .allowed, "the first left the window")
        XCTAssertEqual(u.admit(now: t0 + .seconds(61), month: 1), .rateLimited)
        XCTAssertEqual(u.admit(now: t0 + .seconds(90), month: 1), .allowed)
        XCTAssertEqual(u.monthCount, 4)
        var q = IPStackUsage(maxPerMinute: 100, monthlyQuota: 1, month: 1)
        XCTAssertEqual(q.admit(now: t0, month: 1), .allowed)
        XCTAssertEqual(q.admit(now: t0, month: 1), .quotaExhausted)
        XCTAssertEqual(q.admit(now: t0, month: 2), .allowed, "a new month resets the count")
        XCTAssertEqual(IPStackUsage.label(IPStackUsage.month(of: Date(timeIntervalSince1970: 0))), "1970-01")
    }
}
