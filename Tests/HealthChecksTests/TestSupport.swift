import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 server on 127.0.0.1 that tests steer: answer status, delay, stop and restart on
/// the same port. Records every request's path and Host header.
final class TestHTTPServer: Sendable {
    struct Behaviour: Sendable {
        var status: Int = 200
        var delay: Double = 0
        var headers: [(String, String)] = []
    }

    struct Seen: Sendable, Equatable {
        var path: String
        var host: String?
    }

    let behaviour = NIOLockedValueBox(Behaviour())
    let seen = NIOLockedValueBox<[Seen]>([])
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)
    private let boundPort = NIOLockedValueBox(0)

    var port: Int { boundPort.withLockedValue { $0 } }
    var requestCount: Int { seen.withLockedValue { $0.count } }
    /// Connections accepted (TCP probes connect without sending a request).
    var connectionCount: Int { connections.withLockedValue { $0 } }
    let connections = NIOLockedValueBox(0)

    func set(status: Int, delay: Double = 0, headers: [(String, String)] = []) {
        behaviour.withLockedValue { $0 = Behaviour(status: status, delay: delay, headers: headers) }
    }

    /// The loopback address it listens on (`127.0.0.1` or `::1`).
    let host: String

    private init(host: String) { self.host = host }

    /// Starts on an ephemeral port of `host`.
    static func start(host: String = "127.0.0.1") async throws -> TestHTTPServer {
        let server = TestHTTPServer(host: host)
        try await server.bind(port: 0)
        return server
    }

    /// Stops listening (new connections are refused) and closes open connections.
    func stop() async {
        let ch = channel.withLockedValue { c -> (any Channel)? in defer { c = nil }; return c }
        try? await ch?.close().get()
    }

    /// Listens again on the same port.
    func restart() async throws {
        try await bind(port: port)
    }

    private func bind(port: Int) async throws {
        let server = self
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: server))
                }
            }
            .bind(host: host, port: port).get()
        channel.withLockedValue { $0 = ch }
        boundPort.withLockedValue { $0 = ch.localAddress?.port ?? 0 }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: TestHTTPServer

        init(server: TestHTTPServer) { self.server = server }

        func channelActive(context: ChannelHandlerContext) {
            server.connections.withLockedValue { $0 += 1 }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                server.seen.withLockedValue { $0.append(Seen(path: head.uri, host: head.headers.first(name: "Host"))) }
            case .body:
                break
            case .end:
                let behaviour = server.behaviour.withLockedValue { $0 }
                if behaviour.delay > 0 {
                    let loop = context.eventLoop.assumeIsolated()
                    loop.scheduleTask(in: .nanoseconds(Int64(behaviour.delay * 1e9))) {
                        self.respond(context: context, behaviour)
                    }
                } else {
                    respond(context: context, behaviour)
                }
            }
        }

        private func respond(context: ChannelHandlerContext, _ behaviour: Behaviour) {
            var headers = HTTPHeaders([("Content-Length", "2"), ("Connection", "close")])
            for (name, value) in behaviour.headers { headers.add(name: name, value: value) }
            let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: behaviour.status), headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on: bound once to learn a free port, then closed.
func closedLoopbackPort() async throws -> Int {
    let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = ch.localAddress?.port ?? 0
    try await ch.close().get()
    return port
}

/// Captures log records for assertions.
struct CapturingLogHandler: LogHandler {
    struct Record: Sendable, Equatable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let records: NIOLockedValueBox<[Record]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[k] = "\(v)" }
        records.withLockedValue {
            $0.append(Record(level: event.level, message: "\(event.message)", metadata: flat))
        }
    }

    /// A logger feeding a fresh record list.
    static func logger(level: Logger.Level = .info) -> (Logger, NIOLockedValueBox<[Record]>) {
        let box = NIOLockedValueBox<[Record]>([])
        var logger = Logger(label: "test") { _ in CapturingLogHandler(records: box) }
        logger.logLevel = level
        return (logger, box)
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
func eventually(timeout: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout * 1e9))
    while NIODeadline.now() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}

/// A logger that drops everything (keeps test output readable).
let quietLogger = Logger(label: "quiet", factory: { _ in SwiftLogNoOpLogHandler() })
