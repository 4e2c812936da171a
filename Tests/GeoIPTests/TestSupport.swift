import AsyncHTTPClient
import DNSWire
import Foundation
@testable import GeoIP
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

/// Paths of committed fixtures and scripts.
enum Fixtures {
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = repositoryRoot.appendingPathComponent("Tests/Fixtures/geoip")
    static let cityV6 = directory.appendingPathComponent("proxima-test-city-v6.mmdb").path
    static let cityV4 = directory.appendingPathComponent("proxima-test-city-v4.mmdb").path
}

func ip(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> IPAddress {
    guard let a = IPAddress(text) else {
        XCTFail("bad address literal \(text)", file: file, line: line)
        return .v4(0)
    }
    return a
}

func net(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> IPNetwork {
    guard let n = IPNetwork(text) else {
        XCTFail("bad network literal \(text)", file: file, line: line)
        return IPNetwork(address: .v4(0), prefixLength: 32)
    }
    return n
}

/// A clock tests step by hand (cache TTLs, breaker cooldown).
final class ManualClock: Sendable {
    private let current = LockedBox(ContinuousClock.now)
    func now() -> ContinuousClock.Instant { current.withLock { $0 } }
    func advance(_ d: Duration) { current.withLock { $0 = $0 + d } }
}

/// A real HTTP/1.1 server on 127.0.0.1:0 whose answers a test decides per request.
final class TestHTTPServer: Sendable {
    struct Response: Sendable {
        var status: HTTPResponseStatus = .ok
        var body: [UInt8] = []
        var delay: TimeAmount = .zero
        /// When set, the response is held until the gate opens (instead of a delay, so a test
        /// can tell "returned before the answer" from "the answer was quick" on a busy machine).
        var gate: Gate? = nil
        var contentType = "application/json"

        static func json(_ text: String, delay: TimeAmount = .zero) -> Response {
            Response(body: Array(text.utf8), delay: delay)
        }

        static func json(_ text: String, gate: Gate) -> Response {
            Response(body: Array(text.utf8), gate: gate)
        }
    }

    /// Holds responses until `open()`.
    final class Gate: Sendable {
        private let state = LockedBox<(open: Bool, waiting: [@Sendable () -> Void])>((false, []))

        func open() {
            let waiting = state.withLock { s -> [@Sendable () -> Void] in
                s.open = true
                defer { s.waiting = [] }
                return s.waiting
            }
            for w in waiting { w() }
        }

        func whenOpen(_ action: @escaping @Sendable () -> Void) {
            let now = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiting.append(action)
                return false
            }
            if now { action() }
        }
    }

    typealias Handler = @Sendable (_ uri: String) -> Response

    private struct Log {
        var uris: [String] = []
        var inFlight = 0
        var maxInFlight = 0
    }

    let port: Int
    private let channel: Channel
    private let handler: LockedBox<Handler>
    private let log: LockedBox<Log>

    private init(channel: Channel, handler: LockedBox<Handler>, log: LockedBox<Log>) throws {
        self.channel = channel
        self.handler = handler
        self.log = log
        guard let port = channel.localAddress?.port else { throw GeoIPError(.ipstackTransport, "no port") }
        self.port = port
    }

    static func start(_ handler: @escaping Handler) async throws -> TestHTTPServer {
        let box = LockedBox<Handler>(handler)
        let logBox = LockedBox(Log())
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(handler: box, log: logBox))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return try TestHTTPServer(channel: channel, handler: box, log: logBox)
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Replaces the handler (e.g. to make a failing upstream recover).
    func setHandler(_ h: @escaping Handler) { handler.withLock { $0 = h } }

    /// Request URIs seen so far.
    var uris: [String] { log.withLock { $0.uris } }
    /// Most requests being answered at once.
    var maxInFlight: Int { log.withLock { $0.maxInFlight } }

    func stop() async throws {
        try await channel.close()
    }

    private final class RequestHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let handler: LockedBox<Handler>
        let log: LockedBox<Log>
        var uri = ""

        init(handler: LockedBox<Handler>, log: LockedBox<Log>) {
            self.handler = handler
            self.log = log
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                uri = head.uri
            case .body:
                break
            case .end:
                let uri = self.uri
                log.withLock {
                    $0.uris.append(uri)
                    $0.inFlight += 1
                    $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
                }
                let response = handler.withLock { $0 }(uri)
                let loop = context.eventLoop.assumeIsolated()
                let respond = { [log] in
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: response.contentType)
                    headers.add(name: "Content-Length", value: "\(response.body.count)")
                    headers.add(name: "Connection", value: "close")
                    let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
                    context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                    var buffer = context.channel.allocator.buffer(capacity: response.body.count)
                    buffer.writeBytes(response.body)
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                        log.withLock { $0.inFlight -= 1 }
                        context.close(promise: nil)
                    }
                }
                if let gate = response.gate {
                    let bound = NIOLoopBound(respond, eventLoop: context.eventLoop)
                    let eventLoop = context.eventLoop
                    gate.whenOpen { eventLoop.execute { bound.value() } }
                } else if response.delay > .zero {
                    loop.scheduleTask(in: response.delay) { respond() }
                } else {
                    respond()
                }
            }
        }
    }
}

/// A loopback port with nothing listening (bound, read, and closed again).
func closedLoopbackPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port ?? 1
    try await channel.close()
    return port
}

/// Polls `condition` every 20 ms for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// `XCTAssertNil` for an async expression (XCTest's autoclosures cannot await).
func assertNilAsync<T>(_ expression: @autoclosure () async throws -> T?, _ message: String = "",
                       file: StaticString = #filePath, line: UInt = #line) async rethrows {
    let value = try await expression()
    XCTAssertNil(value, message, file: file, line: line)
}

/// `XCTAssertEqual` for an async expression.
func assertEqualAsync<T: Equatable>(_ expression: @autoclosure () async throws -> T, _ expected: T,
                                    _ message: String = "",
                                    file: StaticString = #filePath, line: UInt = #line) async rethrows {
    let value = try await expression()
    XCTAssertEqual(value, expected, message, file: file, line: line)
}
