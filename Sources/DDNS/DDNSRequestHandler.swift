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

/// Answers one connection's HTTP requests, one at a time, on the connection's event loop, and
/// writes each response's bytes itself (`DDNSResponseBytes`: head and body in one buffer, one
/// write), where NIO's response encoder took three pipeline writes and a header list per reply.
/// It also does for the DDNS listener what `AdminHTTPGuard` does for the admin API: request heads
/// and ends drive the connection's timeouts (`AdminConnection`), and a request that does not keep
/// the connection alive (HTTP/1.0 without `keep-alive`, `Connection: close`) is answered with
/// `Connection: close` and the connection closed after.
///
/// A request is read whole (head, and a body of at most 64 KiB), then answered: an admin's plain
/// update on a store that commits on this thread at once (`Shared.answerNow`), any other call as
/// one task on the loop's own executor, the reply written from that task. Requests a client pipelined
/// behind a call in progress wait in `pending`, and then reads are held (`read`) until the call is
/// answered; `pending` is bounded (`maxPendingParts`, the connection is closed past it), so a
/// connection has one call in progress and a bounded backlog. A body over the
/// limit is answered at once (after the call's authorization: an unauthorized caller learns
/// nothing about sizes) and the connection closed, as it is after a malformed request.
final class DDNSRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What every connection's handler shares.
    struct Shared: Sendable {
        let api: DDNSAPI
        let executor: EventLoopTaskExecutor
        let logger: Logger
    }

    /// Most request parts waiting behind a call in progress before the connection is closed.
    static let maxPendingParts = 256

    private let shared: Shared
    private let connection: AdminConnection
    private let peer: IPAddress?
    /// False once a request did not ask to keep the connection (then it closes after the reply).
    private var keepAlive = true
    private var head: HTTPRequestHead?
    /// The header fields of `head` the API reads, found in one pass.
    private var fields = DDNSRequestFields()
    private var body: ByteBuffer?
    /// A call is in progress: new parts wait in `pending`, reads are held.
    private var busy = false
    /// The connection closes after the reply in progress; further input is ignored.
    private var closing = false
    private var pending = CircularBuffer<HTTPServerRequestPart>()
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
        let part = unwrapInboundIn(data)
        let keep = connection.requestPart(part, context: context)
        keepAlive = keepAlive && keep
        if closing { return }
        if busy {
            guard pending.count < Self.maxPendingParts else {
                closing = true
                context.close(promise: nil)
                return
            }
            pending.append(part)
            return
        }
        handle(part, context: context)
    }

    func read(context: ChannelHandlerContext) {
        // Held only when a client pipelines (requests wait behind the call in progress): a
        // client that waits for each reply never has its reads held, which would cost two
        // `epoll_ctl` calls per request.
        if busy && !pending.isEmpty {
            readHeld = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !busy, !closing else {
            if !(error is HTTPParserError) {
                shared.logger.debug("ddns API connection error; closing", metadata: ["error": "\(error)"])
            }
            closing = true
            context.close(promise: nil)
            return
        }
        // A framing error: the stream cannot be resynchronised; say so and close.
        keepAlive = false
        closing = true
        respond(.error(DDNSAPIError(.badRequest, "malformed HTTP request (\(error))")), version: .http1_1, context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        let limit = DDNSRequestValidation.maxBodyBytes
        switch part {
        case .head(let request):
            head = request
            fields = DDNSRequestFields(request.headers)
            body = nil
            if let length = fields.contentLength, length > limit {
                dispatch(context: context, oversized: true, declaredLength: length)
                return
            }
            // An interim response only to HTTP/1.1 and later (RFC 9110 §15.2: never to 1.0).
            if (request.version.major, request.version.minor) >= (1, 1), fields.expectsContinue {
                var buffer = context.channel.allocator.buffer(capacity: 25)
                buffer.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        case .body(var chunk):
            guard head != nil else { return }
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
            guard head != nil else { return }
            dispatch(context: context, oversized: false, declaredLength: nil)
        }
    }

    /// Runs the request's call. An `oversized` body (declared by `Content-Length`, or found so
    /// while reading) is answered before the rest arrives, and the connection closed after.
    private func dispatch(context: ChannelHandlerContext, oversized: Bool, declaredLength: Int?) {
        guard let head else { return }
        var request = DDNSRequest(
            method: head.method, target: head.uri,
            authorization: fields.authorization,
            forwardedFor: fields.forwardedFor,
            origin: fields.origin,
            secFetchSite: fields.secFetchSite,
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
        let version = head.version
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
        while !busy, !closing, let part = pending.popFirst() {
            handle(part, context: context)
        }
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
        let question = request.target.firstIndex(where: { $0 == "?" || $0 == "#" })
        let path = request.target[..<(question ?? request.target.endIndex)]
        guard case .putSilo(let rawID) = DDNSCall(method: request.method.rawValue, path: path) else { return nil }
        if let refusal = DDNSBrowserGuard.refusal(origin: request.origin, secFetchSite: request.secFetchSite, path: path) {
            return refusal
        }
        return api.putSiloNow(rawID: rawID, authorization: request.authorization, body: request.body)
    }

    /// The reply to one request: the browser guard (`DDNSBrowserGuard`), then the call.
    func answer(_ request: DDNSRequest) async -> DDNSReply {
        let question = request.target.firstIndex(where: { $0 == "?" || $0 == "#" })
        let path = request.target[..<(question ?? request.target.endIndex)]
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
            let query = question.map { request.target[request.target.index(after: $0)...] } ?? ""
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

/// The request header fields the API reads, found in one pass over the head (names compared
/// case-insensitively, RFC 9110 §5.1): where a lookup per field scanned every header each time.
/// The first of repeated single-valued fields counts, as `HTTPHeaders.first(name:)` did.
struct DDNSRequestFields {
    var authorization: String?
    var origin: String?
    var secFetchSite: String?
    var forwardedFor: [String] = []
    /// `Content-Length` as a number (nil: absent or not a number; the decoder refuses the latter).
    var contentLength: Int?
    /// `Expect: 100-continue` (any element of the list, any case).
    var expectsContinue = false

    init() {}

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch name.utf8.count {
            case 6 where Self.named(name, "origin"):
                if origin == nil { origin = value }
            case 6 where Self.named(name, "expect"):
                // A list (RFC 9110 §10.1.1, §5.6.1): any element, blanks around it ignored.
                expectsContinue = expectsContinue || value.utf8.split(separator: UInt8(ascii: ",")).contains { element in
                    let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
                    let trimmed = element.drop(while: blank).reversed().drop(while: blank).reversed()
                    return Self.named(trimmed, "100-continue")
                }
            case 13 where Self.named(name, "authorization"):
                if authorization == nil { authorization = value }
            case 14 where Self.named(name, "content-length"):
                if contentLength == nil { contentLength = Int(value) }
            case 14 where Self.named(name, "sec-fetch-site"):
                if secFetchSite == nil { secFetchSite = value }
            case 15 where Self.named(name, "x-forwarded-for"):
                forwardedFor.append(value)
            default:
                break
            }
        }
    }

    /// `name` is `lowercase` in any ASCII case.
    static func named(_ name: String, _ lowercase: StaticString) -> Bool {
        named(name.utf8, lowercase)
    }

    static func named(_ name: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        let wanted = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        guard name.count == wanted.count else { return false }
        return zip(name, wanted).allSatisfy { byte, want in
            (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == want
        }
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
        let status = HTTPResponseStatus(statusCode: reply.status)
        buffer.writeStaticString("HTTP/")
        buffer.writeString(String(version.major))
        buffer.writeStaticString(".")
        buffer.writeString(String(version.minor))
        buffer.writeStaticString(" ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\nContent-Type: ")
        buffer.writeString(reply.contentType)
        buffer.writeStaticString("\r\nContent-Length: ")
        buffer.writeString(String(reply.body.utf8.count))
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
}
