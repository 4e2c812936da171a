import DNSWire
import Foundation
import GeoRouting
import HealthChecks
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle

/// The request context of the admin API: Hummingbird's basic context plus the peer address
/// (needed to bind the report token to the reporting backend).
struct AdminRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer's IP address (nil on the Unix socket).
    let peer: IPAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
    }
}

/// The HTTP admin API (Hummingbird), run as a swift-service-lifecycle `Service`: a Unix-domain
/// socket for local administration and a TCP listener (optionally TLS) for load reporters and
/// remote administration. See `AdminAccess` and docs/admin-api.md for who may do what.
public final class AdminServer: Service, Sendable {
    private struct Listening {
        var port: Int?
        var socketReady = false
        var failure: AdminAPIError?
        var waiters: [CheckedContinuation<Int, any Error>] = []
    }

    let configuration: AdminServerConfiguration
    let store: BackendStateStore
    let pools: @Sendable () -> [PoolView]
    private let knownBackends: @Sendable () -> Set<IPAddress>
    private let explain: @Sendable (IPAddress, String?) async -> String
    let explainText: (@Sendable (IPAddress, String?) async -> String)?
    let loadMaxAge: @Sendable () -> Double
    let traffic: (@Sendable () -> TrafficView)?
    /// The status page's session cookie value: random per process, handed out in exchange for
    /// the admin token (`GET /?token=`), good for read-only calls only (docs/security.md).
    let viewerSecret: String
    let explainName: (@Sendable (String, String) async -> (status: Int, json: String))?
    let metrics: (@Sendable () -> String)?
    let logger: Logger
    private let listening = NIOLockedValueBox(Listening())
    private let registry: AdminConnectionRegistry

    /// Creates the server; nothing listens until `run()`.
    /// - Parameters:
    ///   - configuration: listeners, tokens, limits.
    ///   - store: backend state; `POST /load` and `POST /backends/{ip}/force` write it.
    ///   - pools: the configured pools and members, in display order (read per `GET /state`).
    ///   - knownBackends: addresses that may report load or be forced (configured members).
    ///   - explain: `GET /route` — the route explanation for a client address and optional name,
    ///     as a JSON document.
    ///   - loadMaxAge: seconds after which a load report is stale (`health.load_max_age`).
    ///   - explainText: `GET /route?format=text` — the explanation as `proxima route` prints it
    ///     (the status page's "route an address" box); nil: text is not offered.
    ///   - traffic: where answers went recently (the status page's map and answers/s); nil: none.
    ///   - logger: access problems and state changes made through the API are logged here.
    ///   - explainName: `GET /explain?name=&type=` — what answers a name (`proxima explain --live`,
    ///     which sees the live DDNS records); nil: the route is not served.
    ///   - metrics: `GET /metrics` — the Prometheus text exposition; nil: no metrics (404).
    public init(
        configuration: AdminServerConfiguration,
        store: BackendStateStore,
        pools: @escaping @Sendable () -> [PoolView],
        knownBackends: @escaping @Sendable () -> Set<IPAddress>,
        explain: @escaping @Sendable (IPAddress, String?) async -> String,
        loadMaxAge: @escaping @Sendable () -> Double = { 30 },
        explainText: (@Sendable (IPAddress, String?) async -> String)? = nil,
        traffic: (@Sendable () -> TrafficView)? = nil,
        logger: Logger = Logger(label: "proxima.admin"),
        explainName: (@Sendable (String, String) async -> (status: Int, json: String))? = nil,
        metrics: (@Sendable () -> String)? = nil
    ) {
        self.explainName = explainName
        self.metrics = metrics
        self.configuration = configuration
        self.store = store
        self.pools = pools
        self.knownBackends = knownBackends
        self.explain = explain
        self.explainText = explainText
        self.loadMaxAge = loadMaxAge
        self.traffic = traffic
        var generator = SystemRandomNumberGenerator()
        viewerSecret = (0..<4).map { _ in
            let word = generator.next() as UInt64
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        self.logger = logger
        registry = AdminConnectionRegistry(maxTotal: configuration.maxConnections,
                                           maxPerAddress: configuration.maxConnectionsPerIP)
    }

    /// The bound TCP port once listening, else nil.
    public var boundPort: Int? {
        listening.withLockedValue { $0.port }
    }

    /// Connections open now over both listeners.
    public var openConnections: Int { registry.count }

    /// Waits until every configured listener is up and returns the TCP port (useful with port
    /// 0); throws if the server failed to start or stopped first.
    public func waitUntilListening() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            listening.withLockedValue { state in
                if let port = state.port, state.socketReady || configuration.socketPath == nil {
                    continuation.resume(returning: port)
                } else if let failure = state.failure {
                    continuation.resume(throwing: failure)
                } else {
                    state.waiters.append(continuation)
                }
            }
        }
    }

    /// Serves until graceful shutdown or cancellation.
    public func run() async throws {
        let tls: TLSConfiguration?
        do {
            tls = try configuration.tls.map(Self.tlsConfiguration)
        } catch {
            let failure = AdminAPIError(.startup, "admin TLS: \(error)")
            finish(failure)
            throw failure
        }
        var staging: AdminUnixSocket.Staging?
        if let path = configuration.socketPath {
            do {
                staging = try AdminUnixSocket.prepare(path: path)
            } catch {
                finish(error)
                throw error
            }
        }
        let inode = NIOLockedValueBox<ino_t?>(nil)
        defer {
            if let staging {
                AdminUnixSocket.discard(staging)
                if let ino = inode.withLockedValue({ $0 }) { AdminUnixSocket.remove(path: staging.finalPath, inode: ino) }
            }
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let tcp = makeApplication(listener: .tcp, address: .hostname(configuration.host, port: configuration.port),
                                          tls: tls) { [self, listening, logger] channel in
                    let port = channel.localAddress?.port ?? 0
                    logger.info("admin API listening", metadata: [
                        "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "tls": "\(tls != nil)"])
                    listening.withLockedValue { $0.port = port }
                    self.notifyIfReady()
                }
                group.addTask { try await tcp.run() }
                if let staging {
                    let socket = makeApplication(listener: .socket, address: .unixDomainSocket(path: staging.bindPath),
                                                 tls: nil) { [self, listening, logger] _ in
                        do {
                            let ino = try AdminUnixSocket.publish(staging)
                            inode.withLockedValue { $0 = ino }
                            logger.info("admin API listening", metadata: ["socket": "\(staging.finalPath)"])
                            listening.withLockedValue { $0.socketReady = true }
                        } catch {
                            logger.error("\(error)")
                            let failure = error as? AdminAPIError ?? AdminAPIError(.startup, "\(error)")
                            listening.withLockedValue { $0.failure = failure }
                        }
                        self.notifyIfReady()
                    }
                    group.addTask { try await socket.run() }
                }
                // Graceful shutdown stops both; an error in one ends the group (and cancels the other).
                try await group.waitForAll()
            }
            finish(AdminAPIError(.startup, "admin server stopped"))
        } catch {
            finish(AdminAPIError(.startup, "admin server on \(configuration.host):\(configuration.port): \(error)"))
            throw error
        }
    }

    private func makeApplication(listener: AdminAccess.Listener, address: BindAddress, tls: TLSConfiguration?,
                                 onRunning: @escaping @Sendable (any Channel) async -> Void)
        -> some ApplicationProtocol {
        let router = Hummingbird.Router(context: AdminRequestContext.self)
        addRoutes(to: router, listener: listener)
        let registry = registry
        let timeouts = (configuration.idleTimeout, configuration.headerTimeout, configuration.bodyTimeout)
        let logger = logger
        let server = HTTPServerBuilder { responder in
            let base = AdminHTTP1Channel(responder: responder, registry: registry,
                                         timeouts: (idle: timeouts.0, header: timeouts.1, body: timeouts.2),
                                         secure: tls != nil, isUnixSocket: listener == .socket, logger: logger)
            if let tls { return try TLSChannel(base, tlsConfiguration: tls) }
            return base
        }
        return Application(router: router, server: server,
                           configuration: .init(address: address, serverName: "proxima-admin"),
                           onServerRunning: onRunning, logger: logger)
    }

    /// Resumes `waitUntilListening` callers once every configured listener is up, or with the
    /// failure when one could not start.
    private func notifyIfReady() {
        let (waiters, port, failure) = listening.withLockedValue { s -> ([CheckedContinuation<Int, any Error>], Int?, AdminAPIError?) in
            let ready = s.port != nil && (s.socketReady || configuration.socketPath == nil)
            guard ready || s.failure != nil else { return ([], nil, nil) }
            defer { s.waiters = [] }
            return (s.waiters, s.port, s.failure)
        }
        for waiter in waiters {
            if let failure { waiter.resume(throwing: failure) } else { waiter.resume(returning: port ?? 0) }
        }
    }

    private func finish(_ failure: AdminAPIError) {
        let waiters = listening.withLockedValue { state in
            state.failure = failure
            state.port = nil
            state.socketReady = false
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: failure) }
    }

    static func tlsConfiguration(_ files: AdminServerConfiguration.TLSFiles) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: files.privateKeyPath, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
    }

    // MARK: Routes

    private func addRoutes(to router: Hummingbird.Router<AdminRequestContext>, listener: AdminAccess.Listener) {
        addStatusRoutes(to: router, listener: listener)
        router.get("/health") { [self] request, context in
            await respond(request, context, .health, listener) { _, _ in Self.json(200, ["status": "ok"]) }
        }
        router.get("/state") { [self] request, context in
            await respond(request, context, .read, listener) { _, _ in
                let document = StateDocument(pools: pools(), states: store.snapshot(), now: store.now(),
                                             loadMaxAge: loadMaxAge())
                return Self.json(200, document)
            }
        }
        if let metrics {
            // The admin token or the metrics token on TCP (anyone who can open the socket):
            // counts of clients, members and rcodes are not for everyone.
            router.get("/metrics") { [self] request, context in
                await respond(request, context, .metrics, listener) { _, _ in
                    var headers = HTTPFields()
                    headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics())))
                }
            }
        }
        router.get("/route") { [self] request, context in
            await respond(request, context, .read, listener) { request, _ in
                let query = request.uri.queryParameters
                guard let ipText = query.get("ip") else {
                    throw AdminAPIError(.badRequest, "missing query parameter 'ip'")
                }
                let address = try AdminRequestParser.parseAddress(ipText)
                let name = query.get("name").flatMap { $0.isEmpty ? nil : $0 }
                switch query.get("format") {
                case nil, "json":
                    return Self.rawJSON(200, await explain(address, name))
                case "text":
                    guard let explainText else { throw AdminAPIError(.badRequest, "format=text is not available") }
                    return Self.text(200, await explainText(address, name))
                case let other?:
                    throw AdminAPIError(.badRequest, "format '\(other)' is not one of json, text")
                }
            }
        }
        if let explainName {
            router.get("/explain") { [self] request, context in
                await respond(request, context, .read, listener) { request, _ in
                    let query = request.uri.queryParameters
                    guard let name = query.get("name"), !name.isEmpty else {
                        throw AdminAPIError(.badRequest, "missing query parameter 'name'")
                    }
                    let (status, document) = await explainName(name, query.get("type") ?? "A")
                    return Self.rawJSON(status, document)
                }
            }
        }
        router.post("/load") { [self] request, context in
            await respond(request, context, .report, listener) { request, role in
                let body = try await collect(&request)
                let reports = try AdminRequestParser.parseLoad(body: body, contentType: request.headers[.contentType])
                try AdminAccess.checkReport(reports.map(\.address), role: role, peer: context.peer,
                                            configuration: configuration)
                let known = knownBackends()
                if let unknown = reports.first(where: { !known.contains($0.address) }) {
                    throw AdminAPIError(.unknownBackend, "\(unknown.address) is not a configured backend")
                }
                let now = store.now()
                for report in reports {
                    store.recordLoad(address: report.address, load: report.load, now: now)
                }
                return Self.json(200, ["accepted": reports.count])
            }
        }
        router.post("/backends/:ip/force") { [self] request, context in
            await respond(request, context, .change, listener) { request, role in
                let raw = context.parameters.get("ip") ?? ""
                let address = try AdminRequestParser.parseAddress(raw.removingPercentEncoding ?? raw)
                guard knownBackends().contains(address) else {
                    throw AdminAPIError(.unknownBackend, "\(address) is not a configured backend")
                }
                let body = try await collect(&request)
                let forced = try AdminRequestParser.parseForce(body: body, contentType: request.headers[.contentType])
                store.force(address: address, state: forced)
                logger.notice("backend \(address) forced \(forced?.rawValue ?? "none") via admin API", metadata: [
                    "address": "\(address)", "by": "\(role == .local ? "socket" : "admin token")",
                    "peer": "\(context.peer.map { "\($0)" } ?? "local")"])
                return Self.json(200, BackendStatusDocument(address: address, status: store.status(of: address)))
            }
        }
    }

    /// Checks access and the body's media type, runs `body`, and turns errors into JSON error
    /// responses.
    func respond(_ request: Request, _ context: AdminRequestContext, _ call: AdminAccess.Call,
                         _ listener: AdminAccess.Listener,
                         _ body: (inout Request, AdminAccess.Role) async throws -> Response) async -> Response {
        var request = request
        do {
            let role = try AdminAccess.authorize(call, listener: listener, authorization: request.headers[.authorization],
                                                 origin: request.headers[.origin], configuration: configuration,
                                                 viewerCookie: AdminAccess.cookie(AdminAccess.viewerCookieName,
                                                                                  in: request.headers[values: .cookie]),
                                                 viewerSecret: viewerSecret)
            if request.method == .post {
                try AdminAccess.checkBodyType(call, contentType: request.headers[.contentType])
            }
            return try await body(&request, role)
        } catch let error as AdminAPIError {
            if error.code == .unauthorized || error.code == .forbidden {
                logger.info("admin API refused \(request.method) \(request.uri.path): \(error.message)",
                            metadata: ["peer": "\(context.peer.map { "\($0)" } ?? "local")"])
            }
            var response = Self.json(error.httpStatus, ["error": error.message])
            if error.code == .unauthorized {
                response.headers[.wwwAuthenticate] = "Bearer"
            }
            return response
        } catch {
            return Self.json(400, ["error": "\(error)"])
        }
    }

    private func collect(_ request: inout Request) async throws(AdminAPIError) -> [UInt8] {
        do {
            let buffer = try await request.collectBody(upTo: configuration.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw AdminAPIError(.tooLarge, "request body larger than \(configuration.maxBodyBytes) bytes")
        } catch is HTTPParserError {
            throw AdminAPIError(.badRequest, "malformed request framing (Content-Length or chunked encoding)")
        } catch {
            throw AdminAPIError(.badRequest, "request body unreadable: \(error)")
        }
    }

    // MARK: JSON

    static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"encoding failed"}"#.utf8)
        return rawJSON(status, String(decoding: data, as: UTF8.self))
    }

    static func rawJSON(_ status: Int, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .init(code: status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func text(_ status: Int, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: .init(code: status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: text.hasSuffix("\n") ? text : text + "\n")))
    }
}
