import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with the admin API's connection rules added
/// (`HTTP1Channel`'s pipeline, plus two handlers around the HTTP/1 decoder):
///
///     [TLS] → AdminByteGuard → HTTP/1 codec → AdminHTTPGuard → HTTP1ToHTTPServerCodec → state → app
///
/// `AdminByteGuard` sees raw bytes (the first byte of a request head) and admits the connection
/// through the registry; `AdminHTTPGuard` sees parsed heads and ends with their HTTP version, so
/// it can close HTTP/1.0 and `Connection: close` exchanges after the reply, and drives the
/// timeouts. Both share one `AdminConnection` on the channel's event loop.
///
/// `package` so the DDNS API listener (Sources/DDNS) applies the same connection rules.
package struct AdminHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    package typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    package let responder: HTTPChannelHandler.Responder
    let registry: AdminConnectionRegistry
    let timeouts: (idle: Duration, header: Duration, body: Duration)
    let secure: Bool
    let isUnixSocket: Bool
    let logger: Logger

    package init(responder: @escaping HTTPChannelHandler.Responder, registry: AdminConnectionRegistry,
                 timeouts: (idle: Duration, header: Duration, body: Duration), secure: Bool, isUnixSocket: Bool,
                 logger: Logger) {
        self.responder = responder
        self.registry = registry
        self.timeouts = timeouts
        self.secure = secure
        self.isUnixSocket = isUnixSocket
        self.logger = logger
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let connection = AdminConnection(channel: channel, registry: registry, timeouts: timeouts,
                                             key: isUnixSocket ? nil : channel.remoteAddress?.ipAddress,
                                             logger: self.logger)
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(AdminByteGuard(connection: connection))
            try sync.configureHTTPServerPipeline(
                withPipeliningAssistance: false,
                withErrorHandling: false,
                withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: NIOHTTPDecoderLimitConfiguration()
            )
            try sync.addHandler(AdminHTTPGuard(connection: connection))
            try sync.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
            // Hummingbird's own handler: closes idle connections on graceful shutdown.
            try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel,
                                       configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    package func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

/// One connection's shared state: its timeouts and its registry entry. Used only on the
/// channel's event loop.
package final class AdminConnection {
    let channel: any Channel
    let registry: AdminConnectionRegistry
    let key: String?
    let logger: Logger
    private var machine: AdminConnectionTimeouts
    private var timer: Scheduled<Void>?
    /// When `timer` fires.
    private var armedDeadline: UInt64?
    private var id: UInt64?
    private var started = false
    /// The idleness last reported to the registry (a new connection registers as idle).
    private var registeredIdle = true
    private(set) var refused = false

    package init(channel: any Channel, registry: AdminConnectionRegistry,
                 timeouts: (idle: Duration, header: Duration, body: Duration), key: String?, logger: Logger) {
        self.channel = channel
        self.registry = registry
        self.key = key
        self.logger = logger
        machine = AdminConnectionTimeouts(idle: timeouts.idle, header: timeouts.header, body: timeouts.body,
                                          now: NIODeadline.now().uptimeNanoseconds)
    }

    /// The channel is active: admit it (or refuse it) and start the idle deadline. Idempotent.
    func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        switch registry.admit(key: key, channel: channel, now: NIODeadline.now().uptimeNanoseconds) {
        case .accepted(let id):
            self.id = id
        case .acceptedEvicting(let id, let victim):
            self.id = id
            logger.debug("admin connection limit reached; closing the longest idle connection")
            victim.close(promise: nil)
        case .refused(let reason):
            refused = true
            logger.debug("admin connection refused: \(reason)")
            context.close(promise: nil)
            return
        }
        perform(machine.start(), context: context)
    }

    func stop() {
        timer?.cancel()
        timer = nil
        if let id { registry.remove(id) }
        id = nil
    }

    func bytesRead(context: ChannelHandlerContext) {
        perform(machine.bytesRead(now: NIODeadline.now().uptimeNanoseconds), context: context)
    }

    /// A parsed request part went by: heads and ends drive the timeouts. False for a head that
    /// does not keep the connection alive (HTTP/1.0 without `keep-alive`, `Connection: close`).
    func requestPart(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) -> Bool {
        switch part {
        case .head(let head):
            requestHead(context: context)
            return head.isKeepAlive
        case .body:
            return true
        case .end:
            requestEnd(context: context)
            return true
        }
    }

    /// A request's head was read (the body's deadline starts).
    package func requestHead(context: ChannelHandlerContext) {
        perform(machine.requestHead(now: NIODeadline.now().uptimeNanoseconds), context: context)
    }

    /// A request's body ended.
    package func requestEnd(context: ChannelHandlerContext) {
        perform(machine.requestEnd(now: NIODeadline.now().uptimeNanoseconds), context: context)
    }

    package func responseEnd(context: ChannelHandlerContext) {
        perform(machine.responseEnd(now: NIODeadline.now().uptimeNanoseconds), context: context)
    }

    private func perform(_ action: AdminConnectionTimeouts.Action, context: ChannelHandlerContext) {
        // Tell the registry only when idleness changes (not on every read).
        if let id, machine.isIdle != registeredIdle {
            registeredIdle = machine.isIdle
            registry.setIdle(id, since: machine.isIdle ? NIODeadline.now().uptimeNanoseconds : nil)
        }
        switch action {
        case .none:
            return
        case .disarm:
            // Left to fire: `timerFired` then answers `.none`, or re-arms for the phase of that
            // moment. (Cancelling and scheduling a timer for each of a request's three phase
            // changes was a visible part of a DDNS update's cost.)
            return
        case .arm(let deadline):
            // A timer that fires no later than the new deadline stays: when it fires early, the
            // machine re-arms it for the deadline then current. So a busy keep-alive connection
            // reschedules about once per timeout, not on every request.
            if timer != nil, let armed = armedDeadline, armed <= deadline { return }
            timer?.cancel()
            armedDeadline = deadline
            let loop = context.eventLoop
            let bound = NIOLoopBound(self, eventLoop: loop)
            let contextBound = NIOLoopBound(context, eventLoop: loop)
            timer = loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(deadline)) {
                bound.value.fired(context: contextBound.value)
            }
        case .close(let reason):
            timer?.cancel()
            timer = nil
            armedDeadline = nil
            logger.debug("closing admin connection: \(reason.rawValue) timeout")
            context.close(promise: nil)
        }
    }

    private func fired(context: ChannelHandlerContext) {
        timer = nil
        armedDeadline = nil
        perform(machine.timerFired(now: NIODeadline.now().uptimeNanoseconds), context: context)
    }
}

/// First handler of an admin connection (after TLS): admission, and the first byte of each
/// request head.
package final class AdminByteGuard: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer

    let connection: AdminConnection

    package init(connection: AdminConnection) { self.connection = connection }

    package func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { connection.start(context: context) }
    }

    package func channelActive(context: ChannelHandlerContext) {
        connection.start(context: context)
        if !connection.refused { context.fireChannelActive() }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        connection.stop()
        context.fireChannelInactive()
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        connection.stop()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if connection.refused { return }
        connection.bytesRead(context: context)
        context.fireChannelRead(data)
    }
}

/// Sits on parsed HTTP/1 parts: request heads and ends drive the timeouts; a request that does
/// not keep the connection alive (HTTP/1.0 without `keep-alive`, `Connection: close`) or a
/// framing error gets `Connection: close` and the connection is closed after the response.
package final class AdminHTTPGuard: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias InboundOut = HTTPServerRequestPart
    package typealias OutboundIn = HTTPServerResponsePart
    package typealias OutboundOut = HTTPServerResponsePart

    let connection: AdminConnection
    private var keepAlive = true

    package init(connection: AdminConnection) { self.connection = connection }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let keep = connection.requestPart(unwrapInboundIn(data), context: context)
        keepAlive = keepAlive && keep
        context.fireChannelRead(data)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A framing error (bad chunk size, bad header): the stream cannot be resynchronised.
        if error is HTTPParserError { keepAlive = false }
        context.fireErrorCaught(error)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where !keepAlive:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where !keepAlive:
            connection.responseEnd(context: context)
            let written = context.eventLoop.makePromise(of: Void.self)
            if let promise { written.futureResult.cascade(to: promise) }
            context.writeAndFlush(data, promise: written)
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in loopContext.value.close(promise: nil) }
        case .end:
            connection.responseEnd(context: context)
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}
