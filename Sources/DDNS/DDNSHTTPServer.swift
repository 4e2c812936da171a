import AdminAPI
import DNSWire
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ProximaConfig

/// The request context of the DDNS API: Hummingbird's basic context plus the peer address.
struct DDNSRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peer: IPAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
    }
}

/// Turns what the router itself throws (no route: 404, wrong method: 405) into the API's JSON
/// errors.
struct DDNSErrorMiddleware: RouterMiddleware {
    typealias Context = DDNSRequestContext

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound ? "no such call: \(request.method) \(request.uri.path)"
                                                                    : "\(error.status.reasonPhrase)")
            return DDNSHTTPServer.response(DDNSReply.json(Int(error.status.code), ["error": message]))
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
struct DDNSBrowserGuard: RouterMiddleware {
    typealias Context = DDNSRequestContext
    static let secFetchSite = HTTPFields.Element.Name("Sec-Fetch-Site")!
    static let origin = HTTPFields.Element.Name("Origin")!

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let site = request.headers[Self.secFetchSite]
        guard request.headers[Self.origin] != nil || (site != nil && site?.lowercased() != "none") else {
            return try await next(request, context)
        }
        if request.uri.path == "/nic/update" {
            return DDNSHTTPServer.response(.text(403, "badagent"))
        }
        return DDNSHTTPServer.response(DDNSReply.json(403, [
            "error": "requests from web pages are refused (Origin or Sec-Fetch-Site header): the DDNS API is for update clients"]))
    }
}

/// The DDNS API's HTTP listener (`ddns.listen`, TLS when `ddns.tls` is set). Connections get the
/// admin API's rules (`AdminHTTP1Channel`): a total and a per-address cap, the longest idle one
/// evicted when full, a request (head, then body) deadline and an idle deadline.
final class DDNSHTTPServer: Sendable {
    private struct Listening {
        var port: Int?
        var failure: String?
        var waiters: [CheckedContinuation<Int?, Never>] = []
    }

    let api: DDNSAPI
    let settings: DDNSSettings
    let logger: Logger
    private let registry: AdminConnectionRegistry
    private let listening = NIOLockedValueBox(Listening())

    init(api: DDNSAPI, settings: DDNSSettings, logger: Logger) {
        self.api = api
        self.settings = settings
        self.logger = logger
        registry = AdminConnectionRegistry(maxTotal: settings.maxConnections, maxPerAddress: settings.maxConnectionsPerIP)
    }

    /// Connections open now.
    var openConnections: Int { registry.count }

    /// The bound port once listening; nil if it stopped or failed first.
    func boundPort() async -> Int? {
        await withCheckedContinuation { continuation in
            let ready = listening.withLockedValue { s -> Int?? in
                if let port = s.port { return .some(port) }
                if s.failure != nil { return .some(nil) }
                s.waiters.append(continuation)
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Serves until graceful shutdown or cancellation.
    func run() async throws {
        let tls: TLSConfiguration?
        do {
            tls = try settings.tls.map { files in
                let chain = try NIOSSLCertificate.fromPEMFile(files.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
                return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            }
        } catch {
            finish("ddns TLS: \(error)")
            throw DDNSAPIError(.internal, "ddns.tls: \(error)")
        }
        let router = Router(context: DDNSRequestContext.self)
        router.add(middleware: DDNSErrorMiddleware())
        router.add(middleware: DDNSBrowserGuard())
        addRoutes(to: router)
        let registry = registry
        let timeouts = (idle: settings.idleTimeout, header: settings.requestTimeout, body: settings.requestTimeout)
        let logger = logger
        let server = HTTPServerBuilder { responder in
            let base = AdminHTTP1Channel(responder: responder, registry: registry, timeouts: timeouts,
                                         secure: tls != nil, isUnixSocket: false, logger: logger)
            if let tls { return try TLSChannel(base, tlsConfiguration: tls) }
            return base
        }
        let host = settings.listen.address.description
        // One event loop of its own, and every connection's task runs on it (see
        // `EventLoopTaskExecutor`): a request costs no thread hand-off, and the API stays off the
        // loops that serve DNS over TCP and the admin API.
        // The thread is named `proxima-ddns` (top -H, ps -L), so an operator can give it a CPU of
        // its own away from the DNS workers (`taskset -p -c CPU TID`; Scripts/bench --ddns-api-core).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(group.next())
        // (Linux: a thread names itself by writing /proc/thread-self/comm.)
        group.next().execute { try? "proxima-ddns".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8) }
        defer { group.shutdownGracefully { _ in } }
        let app = Application(router: router, server: server,
                              configuration: .init(address: .hostname(host, port: settings.listen.port),
                                                   serverName: "proxima-ddns"),
                              onServerRunning: { [listening, logger] channel in
                                  let port = channel.localAddress?.port ?? 0
                                  logger.info("ddns API listening", metadata: [
                                      "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "tls": "\(tls != nil)"])
                                  let waiters = listening.withLockedValue { s in
                                      s.port = port
                                      defer { s.waiters = [] }
                                      return s.waiters
                                  }
                                  for waiter in waiters { waiter.resume(returning: port) }
                              },
                              eventLoopGroupProvider: .shared(group),
                              logger: logger)
        do {
            try await withTaskExecutorPreference(executor) { try await app.run() }
            finish("stopped")
        } catch {
            finish("\(error)")
            throw DDNSAPIError(.internal, "ddns API on \(settings.listen): \(error)")
        }
    }

    /// Marks the listener as stopped or failed: `boundPort()` callers get nil.
    func finish(_ why: String) {
        let waiters = listening.withLockedValue { s in
            s.port = nil
            s.failure = why
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    // MARK: Routes

    private func addRoutes(to router: Router<DDNSRequestContext>) {
        let api = api
        router.get("/ping") { _, _ in Self.response(.json(200, ["message": "PONG"])) }
        router.get("/ip") { request, context in
            Self.response(api.ip(peer: context.peer, forwardedFor: request.headers[values: Self.xForwardedFor]))
        }
        router.get("/silos") { request, _ in
            Self.response(await api.listSilos(authorization: request.headers[.authorization]))
        }
        router.get("/silos/:id") { request, context in
            Self.response(await api.getSilo(rawID: context.parameters.get("id") ?? "", authorization: request.headers[.authorization]))
        }
        router.put("/silos/:id") { request, context in
            var request = request
            let access: (id: String, role: DDNSAPI.Role)
            do throws(DDNSAPIError) {
                access = try await api.authorizePut(rawID: context.parameters.get("id") ?? "",
                                                    authorization: request.headers[.authorization])
            } catch {
                return Self.response(.error(error))
            }
            let body: [UInt8]
            do throws(DDNSAPIError) {
                body = try await Self.collect(&request)
            } catch {
                return Self.response(.error(error))
            }
            return Self.response(await api.putSilo(id: access.id, role: access.role, body: body))
        }
        router.delete("/silos/:id") { request, context in
            Self.response(await api.deleteSilo(rawID: context.parameters.get("id") ?? "", authorization: request.headers[.authorization]))
        }
        router.post("/silos/:id/token") { request, context in
            Self.response(await api.makeToken(rawID: context.parameters.get("id") ?? "", authorization: request.headers[.authorization]))
        }
        router.get("/nic/update") { request, context in
            let query = request.uri.queryParameters
            return Self.response(await api.dyndns2Update(
                authorization: request.headers[.authorization], hostname: query.get("hostname"), myip: query.get("myip"),
                peer: context.peer, forwardedFor: request.headers[values: Self.xForwardedFor]))
        }
    }

    private static func collect(_ request: inout Request) async throws(DDNSAPIError) -> [UInt8] {
        let limit = DDNSRequestValidation.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw DDNSAPIError(.tooLarge, "body: \(length) bytes, at most \(limit)")
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw DDNSAPIError(.tooLarge, "body: over \(limit) bytes")
        } catch {
            throw DDNSAPIError(.badRequest, "body: unreadable (\(error))")
        }
    }

    /// (HTTPTypes is reached through Hummingbird, which re-exports `HTTPFields` but not `HTTPField`.)
    static let xForwardedFor = HTTPFields.Element.Name("X-Forwarded-For")!

    static func response(_ reply: DDNSReply) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = reply.contentType
        for (name, value) in reply.headers {
            if let field = HTTPFields.Element.Name(name) { headers.append(HTTPFields.Element(name: field, value: value)) }
        }
        return Response(status: .init(code: reply.status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: reply.body)))
    }
}
