import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP server on a loopback address for health-check tests: answers every request with a
/// settable status; can be stopped and started again on the same port.
final class TestHTTPBackend: @unchecked Sendable {
    let host: String
    private(set) var port: Int = 0
    private var channel: Channel?
    private let lock = NSLock()
    private var statusCode = 200
    private var bodyText = "ok\n"
    private var delaySeconds = 0.0
    private(set) var requests = 0
    private(set) var paths: [String] = []

    init(host: String) { self.host = host }

    var status: Int {
        get { lock.lock(); defer { lock.unlock() }; return statusCode }
        set { lock.lock(); statusCode = newValue; lock.unlock() }
    }

    /// Response body (e.g. ipstack JSON).
    var body: String {
        get { lock.lock(); defer { lock.unlock() }; return bodyText }
        set { lock.lock(); bodyText = newValue; lock.unlock() }
    }

    /// Seconds to wait before answering (a slow upstream).
    var delay: Double {
        get { lock.lock(); defer { lock.unlock() }; return delaySeconds }
        set { lock.lock(); delaySeconds = newValue; lock.unlock() }
    }

    func countRequest(_ path: String) { lock.lock(); requests += 1; paths.append(path); lock.unlock() }

    private var holding = false
    private var held: [@Sendable () -> Void] = []

    /// From now on requests are counted but not answered until `release()`: a slow upstream
    /// whose answer the test lets through when it chooses, not after a delay a busy machine outlasts.
    func hold() { lock.lock(); holding = true; lock.unlock() }

    /// Answers the held requests and stops holding.
    func release() {
        lock.lock()
        holding = false
        let answers = held
        held = []
        lock.unlock()
        for answer in answers { answer() }
    }

    /// Keeps `answer` for `release()` when holding; false (answer now) otherwise.
    func holdAnswer(_ answer: @escaping @Sendable () -> Void) -> Bool {
        lock.lock(); defer { lock.unlock() }
        if holding { held.append(answer) }
        return holding
    }

    func start() async throws {
        let backend = self
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(backend: backend))
                }
            }
        let ch = try await bootstrap.bind(host: host, port: port).get()
        port = ch.localAddress?.port ?? 0
        channel = ch
    }

    func stop() async {
        try? await channel?.close()
        channel = nil
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let backend: TestHTTPBackend
        init(backend: TestHTTPBackend) { self.backend = backend }

        var path = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): path = head.uri; return
            case .body: return
            case .end: break
            }
            backend.countRequest(path)
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            if backend.holdAnswer({ loop.execute { self.respond(bound.value) } }) { return }
            let delay = backend.delay
            if delay > 0 {
                let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { self.respond(ctx.value) }
            } else {
                respond(context)
            }
        }

        func respond(_ context: ChannelHandlerContext) {
            let body = context.channel.allocator.buffer(string: backend.body)
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "\(body.readableBytes)")
            headers.add(name: "connection", value: "close")
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: backend.status), headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let channel = context.channel  // Sendable, unlike the context
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
