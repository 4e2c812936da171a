import AdminAPI
import DNSWire
import Logging
import NIOCore
import NIOHTTP1

/// One parsed request, as the API's calls need it (copied off the event loop's types).
struct DDNSRequest: Sendable {
    var method: HTTPMethod
    var target: String
    var authorization: String?
    var forwardedFor: [String]
    var origin: String?
    var secFetchSite: String?
    var peer: IPAddress?
    var body: [UInt8]
    /// The body went over `DDNSRequestValidation.maxBodyBytes` (then `body` is empty);
    /// `declaredLength` is its `Content-Length` when it had one.
    var bodyTooLarge = false
    var declaredLength: Int?
}

/// Answers one connection's HTTP requests, one at a time, on the connection's event loop: reads
/// them with `DDNSHTTPParser` and writes each response's bytes itself (`DDNSResponseBytes`: head
/// and body in one buffer, one write). It also does for the DDNS listener what `AdminHTTPGuard`
/// does for the admin API: request heads and ends drive the connection's timeouts
/// (`AdminConnection`), and a request that does not keep the connection alive (HTTP/1.0 without
/// `keep-alive`, `Connection: close`) is answered with `Connection: close` and the connection
/// closed after.
///
/// A request is read whole (head, and a body of at most 64 KiB), then answered: an admin's plain
/// update on a store that commits on this thread at once (`Shared.answerNow`), any other call as
/// one task on the loop's own executor, the reply written from that task. Bytes a client
/// pipelined behind a call in progress wait unparsed in `unread`, and then reads are held (`read`)
/// until the call is answered; `unread` is bounded (`maxUnreadBytes`, the connection is closed
/// past it), so a connection has one call in progress and a bounded backlog. A body over the
/// limit is answered at once (after the call's authorization: an unauthorized caller learns
/// nothing about sizes) and the connection closed, as it is after a malformed request.
final class DDNSRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What every connection's handler shares.
    struct Shared: Sendable {
        let api: DDNSAPI
        let executor: EventLoopTaskExecutor
        let logger: Logger
    }

    /// Most bytes read and not yet parsed (waiting behind a call in progress) before the
    /// connection is closed: room for a whole request of the largest size and more.
    static let maxUnreadBytes = 4 * (DDNSHTTPParser.maxHeadBytes + DDNSRequestValidation.maxBodyBytes)

    private let shared: Shared
    private let connection: AdminConnection
    private let peer: IPAddress?
    private var parser = DDNSHTTPParser()
    /// Bytes read and not yet parsed.
    private var unread: ByteBuffer?
    /// False once a request did not ask to keep the connection (then it closes after the reply).
    private var keepAlive = true
    private var head: DDNSHTTPRequestHead?
    private var body: ByteBuffer?
    /// A call is in progress: input waits in `unread`, reads are held.
    private var busy = false
    /// `parse` is on the stack (a reply given at once must not start a second one).
    private var parsing = false
    /// The connection closes after the reply in progress; further input is ignored.
    private var closing = false
    private var readHeld = false
    private var removed = false

    init(shared: Shared, connection: AdminConnection, peer: IPAddress?) {
        self.shared = shared
        self.connection = connection
        self.peer = peer
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if closing { return }
        if unread == nil || unread!.readableBytes == 0 {
            unread = bytes
        } else {
            unread!.writeBuffer(&bytes)
        }
        guard unread!.readableBytes <= Self.maxUnreadBytes else {
            closing = true
            context.close(promise: nil)
            return
        }
        if !busy { parse(context: context) }
    }

    func read(context: ChannelHandlerContext) {
        // Held only when a client pipelines (input waits behind the call in progress): a client
        // that waits for each reply never has its reads held, which would cost two `epoll_ctl`
        // calls per request.
        if busy, let unread, unread.readableBytes > 0 {
            readHeld = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        shared.logger.debug("ddns API connection error; closing", metadata: ["error": "\(error)"])
        closing = true
        context.close(promise: nil)
    }

    /// Reads and handles requests from `unread` until a call is in progress, the input runs out
    /// or the connection is closing.
    private func parse(context: ChannelHandlerContext) {
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        while !busy, !closing {
            let step: (event: DDNSHTTPParser.Event?, consumed: Int)
            do throws(DDNSHTTPFailure) {
                if let unread {
                    step = try unread.withUnsafeReadableBytes { bytes throws(DDNSHTTPFailure) in try parser.next(bytes) }
                } else {
                    // Nothing unread: the parser may still end a request (a head without a body).
                    step = try parser.next(UnsafeRawBufferPointer(start: nil, count: 0))
                }
            } catch {
                // A framing error: the stream cannot be resynchronised; say so and close.
                keepAlive = false
                closing = true
                unread = nil
                let message = error.status == 400 ? "malformed HTTP request (\(error.message))" : error.message
                respond(.json(error.status, ["error": message]), version: .http1_1, context: context)
                return
            }
            var chunk: ByteBuffer?
            if case .body(let range) = step.event, let unread {
                chunk = unread.getSlice(at: unread.readerIndex + range.lowerBound, length: range.count)
            }
            if step.consumed > 0 { unread?.moveReaderIndex(forwardBy: step.consumed) }
            // Not kept once read: NIO reuses its receive buffer only when nothing else holds it.
            if unread?.readableBytes == 0 { unread = nil }
            guard let event = step.event else { return }
            handle(event, chunk: chunk, context: context)
        }
    }

    private func handle(_ event: DDNSHTTPParser.Event, chunk: ByteBuffer?, context: ChannelHandlerContext) {
        let limit = DDNSRequestValidation.maxBodyBytes
        switch event {
        case .head(let request):
            connection.requestHead(context: context)
            keepAlive = keepAlive && request.keepAlive
            head = request
            body = nil
            if let length = request.fields.contentLength, length > limit {
                dispatch(context: context, oversized: true, declaredLength: length == Int.max ? nil : length)
                return
            }
            // An interim response only to HTTP/1.1 and later (RFC 9110 §15.2: never to 1.0).
            if request.minorVersion >= 1, request.fields.expectsContinue {
                var buffer = context.channel.allocator.buffer(capacity: 25)
                buffer.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        case .body:
            guard head != nil, var chunk else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > limit {
                dispatch(context: context, oversized: true, declaredLength: nil)
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            connection.requestEnd(context: context)
            guard head != nil else { return }
            dispatch(context: context, oversized: false, declaredLength: nil)
        }
    }

    /// Runs the request's call. An `oversized` body (declared by `Content-Length`, or found so
    /// while reading) is answered before the rest arrives, and the connection closed after.
    private func dispatch(context: ChannelHandlerContext, oversized: Bool, declaredLength: Int?) {
        guard let head else { return }
        var request = DDNSRequest(
            method: HTTPMethod(rawValue: head.method), target: head.target,
            authorization: head.fields.authorization,
            forwardedFor: head.fields.forwardedFor,
            origin: head.fields.origin,
            secFetchSite: head.fields.secFetchSite,
            peer: peer, body: [])
        if oversized {
            request.bodyTooLarge = true
            request.declaredLength = declaredLength
            closing = true
        } else if let body {
            request.body = Array(body.readableBytesView)
        }
        self.head = nil
        self.body = nil
        busy = true
        let version = HTTPVersion(major: 1, minor: head.minorVersion)
        // An admin's plain update on a store that commits on this thread is answered here and
        // now (`DDNSAPI.putSiloNow`); everything else runs as a task on this loop.
        if let reply = shared.answerNow(request) {
            respond(reply, version: version, context: context)
            return
        }
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        let shared = shared
        Task(executorPreference: shared.executor) {
            let reply = await shared.answer(request)
            if loop.inEventLoop {
                handler.value.respond(reply, version: version, context: boundContext.value)
            } else {
                loop.execute { handler.value.respond(reply, version: version, context: boundContext.value) }
            }
        }
    }

    private func respond(_ reply: DDNSReply, version: HTTPVersion, context: ChannelHandlerContext) {
        busy = false
        guard !removed, context.channel.isActive else { return }
        if !keepAlive { closing = true }
        connection.responseEnd(context: context)
        var buffer = context.channel.allocator.buffer(capacity: DDNSResponseBytes.capacity(reply))
        DDNSResponseBytes.write(reply, version: version, close: closing, into: &buffer)
        if closing {
            let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in boundContext.value.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        // Requests pipelined behind this one (when called from `parse`, its loop goes on).
        parse(context: context)
        if !busy, readHeld {
            readHeld = false
            context.read()
        }
    }
}

extension DDNSRequestHandler.Shared {
    /// The reply to a request that can be answered on the event loop without a task: a
    /// `PUT /silos/{id}` that `DDNSAPI.putSiloNow` takes (after the browser guard, as `answer`).
    /// Nil for every other request, and for a PUT it leaves to `answer`.
    func answerNow(_ request: DDNSRequest) -> DDNSReply? {
        guard request.method == .PUT, !request.bodyTooLarge else { return nil }
        let path = request.target[..<DDNSCall.pathEnd(request.target)]
        guard case .putSilo(let rawID) = DDNSCall(method: request.method.rawValue, path: path) else { return nil }
        if let refusal = DDNSBrowserGuard.refusal(origin: request.origin, secFetchSite: request.secFetchSite, path: path) {
            return refusal
        }
        return api.putSiloNow(rawID: rawID, authorization: request.authorization, body: request.body)
    }

    /// The reply to one request: the browser guard (`DDNSBrowserGuard`), then the call.
    func answer(_ request: DDNSRequest) async -> DDNSReply {
        let pathEnd = DDNSCall.pathEnd(request.target)
        let path = request.target[..<pathEnd]
        if let refusal = DDNSBrowserGuard.refusal(origin: request.origin, secFetchSite: request.secFetchSite, path: path) {
            return refusal
        }
        switch DDNSCall(method: request.method.rawValue, path: path) {
        case .ping:
            return .json(200, ["message": "PONG"])
        case .ip:
            return api.ip(peer: request.peer, forwardedFor: request.forwardedFor)
        case .listSilos:
            return await api.listSilos(authorization: request.authorization)
        case .getSilo(let id):
            return await api.getSilo(rawID: id, authorization: request.authorization)
        case .putSilo(let rawID):
            let access: (id: String, role: DDNSAPI.Role)
            do throws(DDNSAPIError) {
                access = try await api.authorizePut(rawID: rawID, authorization: request.authorization)
            } catch {
                return .error(error)
            }
            if request.bodyTooLarge {
                let limit = DDNSRequestValidation.maxBodyBytes
                return .error(DDNSAPIError(.tooLarge, request.declaredLength.map { "body: \($0) bytes, at most \(limit)" }
                                                        ?? "body: over \(limit) bytes"))
            }
            return await api.putSilo(id: access.id, role: access.role, body: request.body)
        case .deleteSilo(let id):
            return await api.deleteSilo(rawID: id, authorization: request.authorization)
        case .makeToken(let id):
            return await api.makeToken(rawID: id, authorization: request.authorization)
        case .dyndns2:
            // The query: after the `?` (a `#` fragment has none; clients do not send fragments).
            let query = pathEnd < request.target.endIndex && request.target.utf8[pathEnd] == UInt8(ascii: "?")
                ? request.target[request.target.index(after: pathEnd)...] : ""
            return await api.dyndns2Update(authorization: request.authorization,
                                           hostname: DDNSCall.queryValue(query, "hostname"),
                                           myip: DDNSCall.queryValue(query, "myip"),
                                           peer: request.peer, forwardedFor: request.forwardedFor)
        case .methodNotAllowed(let allowed):
            var reply = DDNSReply.json(405, ["error": "\(request.method.rawValue) is not allowed on \(path) (allowed: \(allowed))"])
            reply.headers.append(("Allow", allowed))
            return reply
        case .unknown:
            return .json(404, ["error": "no such call: \(request.method.rawValue) \(path)"])
        }
    }
}

/// Refuses requests a web browser makes on behalf of a page (403): the API is for machines
/// (update clients, routers, ddclient), and nothing a web page does may change a record.
///
/// The case that matters is dyndns2: it changes a record with a plain GET and HTTP Basic
/// credentials, and a browser that has stored those credentials for the API's origin (an operator
/// who once tried the update URL in it) attaches them to any page's `<img src=…/nic/update?…>`.
/// A browser marks such requests: `Sec-Fetch-Site` (every current browser) is `cross-site`,
/// `same-site` or `same-origin` for a page's request and `none` only for one the user typed or
/// bookmarked; `Origin` accompanies cross-origin scripted requests and every non-GET one. Update
/// clients send neither. So: any `Origin`, or a `Sec-Fetch-Site` other than `none`, is refused
/// before authentication — `badagent` on `/nic/update` (dyndns2's code for a refused client),
/// a JSON error elsewhere.
enum DDNSBrowserGuard {
    static func refusal(origin: String?, secFetchSite: String?, path: Substring) -> DDNSReply? {
        guard origin != nil || (secFetchSite != nil && secFetchSite?.lowercased() != "none") else { return nil }
        if path == "/nic/update" { return .text(403, "badagent") }
        return .json(403, [
            "error": "requests from web pages are refused (Origin or Sec-Fetch-Site header): the DDNS API is for update clients"])
    }
}

/// An HTTP/1.x response as bytes: status line, `Content-Type`, `Content-Length`, the reply's own
/// headers, `Connection: close` when the connection closes after it, then the body. Every header
/// is a constant or a number written here, or a reply header the API sets from constants (none
/// carries request text), so nothing needs the validation NIO's encoder would apply.
enum DDNSResponseBytes {
    /// Enough room for the response of `reply` (a guess that is exact or over, never reallocating
    /// for the API's replies).
    static func capacity(_ reply: DDNSReply) -> Int {
        var count = 128 + reply.contentType.utf8.count + reply.body.utf8.count
        for (name, value) in reply.headers { count += name.utf8.count + value.utf8.count + 4 }
        return count
    }

    static func write(_ reply: DDNSReply, version: HTTPVersion, close: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(version.minor == 0 && version.major == 1 ? "HTTP/1.0 " : "HTTP/1.1 ")
        // The API's usual statuses as constants; any other through NIO's table.
        switch reply.status {
        case 200: buffer.writeStaticString("200 OK")
        case 201: buffer.writeStaticString("201 Created")
        default:
            let status = HTTPResponseStatus(statusCode: reply.status)
            writeDecimal(status.code, into: &buffer)
            buffer.writeStaticString(" ")
            buffer.writeString(status.reasonPhrase)
        }
        buffer.writeStaticString("\r\nContent-Type: ")
        buffer.writeString(reply.contentType)
        buffer.writeStaticString("\r\nContent-Length: ")
        writeDecimal(UInt(reply.body.utf8.count), into: &buffer)
        buffer.writeStaticString("\r\n")
        for (name, value) in reply.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        if close { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeStaticString("\r\n")
        buffer.writeString(reply.body)
    }

    /// `value` in decimal digits.
    static func writeDecimal(_ value: UInt, into buffer: inout ByteBuffer) {
        var divisor: UInt = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
