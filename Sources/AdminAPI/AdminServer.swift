import DNSWire
import Foundation
import GeoRouting
import HealthChecks
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// Where the admin API listens and who may change things.
public struct AdminServerConfiguration: Hashable, Sendable {
    /// Listen address (an IP literal or `localhost`); loopback by default.
    public var host: String
    /// Listen port; 0 picks an ephemeral port (see `AdminServer.waitUntilListening()`).
    public var port: Int
    /// Bearer token required by mutating calls (and by reads on a non-loopback listener); nil or
    /// empty means none is configured.
    public var token: String?
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes: Int
    /// Open connections at most; at the cap the listener stops accepting until one closes. The
    /// server sets it from the process's file-descriptor budget (ProximaApp).
    public var maxConnections: Int = 256

    /// Creates a configuration (defaults: `127.0.0.1:8053`, no token, 1 MiB bodies).
    public init(host: String = "127.0.0.1", port: Int = 8053, token: String? = nil, maxBodyBytes: Int = 1 << 20) {
        self.host = host
        self.port = port
        self.token = token
        self.maxBodyBytes = maxBodyBytes
    }

    /// True when `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`.
    public var isLoopback: Bool {
        if host.lowercased() == "localhost" { return true }
        let trimmed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard let address = IPAddress(trimmed) else { return false }
        switch address {
        case .v4(let bits): return bits >> 24 == 127
        case .v6: return address == IPAddress("::1")
        }
    }

    /// The token, when one is configured.
    var effectiveToken: String? {
        guard let token, !token.isEmpty else { return nil }
        return token
    }
}

/// The HTTP admin API (Hummingbird), run as a swift-service-lifecycle `Service`. See
/// docs/admin-api.md for the endpoints and the access rule:
///
/// - `GET /health` is always open.
/// - With a token configured, every `POST` needs `Authorization: Bearer TOKEN`; reads are open on a
///   loopback listener and need the token otherwise.
/// - Without a token, everything is open on a loopback listener, and only `GET /health` is served
///   on any other listener (a public admin API needs a token).
public final class AdminServer: Service, Sendable {
    private struct Listening {
        var port: Int?
        var failure: AdminAPIError?
        var waiters: [CheckedContinuation<Int, any Error>] = []
    }

    private let configuration: AdminServerConfiguration
    private let store: BackendStateStore
    private let pools: @Sendable () -> [PoolView]
    private let knownBackends: @Sendable () -> Set<IPAddress>
    private let explain: @Sendable (IPAddress, String?) async -> String
    private let loadMaxAge: @Sendable () -> Double
    private let logger: Logger
    private let listening = NIOLockedValueBox(Listening())

    /// Creates the server; nothing listens until `run()`.
    /// - Parameters:
    ///   - configuration: listen address, token, limits.
    ///   - store: backend state; `POST /load` and `POST /backends/{ip}/force` write it.
    ///   - pools: the configured pools and members, in display order (read per `GET /state`).
    ///   - knownBackends: addresses that may report load or be forced (configured members).
    ///   - explain: `GET /route` — the route explanation for a client address and optional name,
    ///     as a JSON document.
    ///   - loadMaxAge: seconds after which a load report is stale (`health.load_max_age`).
    ///   - logger: access problems and state changes made through the API are logged here.
    public init(
        configuration: AdminServerConfiguration,
        store: BackendStateStore,
        pools: @escaping @Sendable () -> [PoolView],
        knownBackends: @escaping @Sendable () -> Set<IPAddress>,
        explain: @escaping @Sendable (IPAddress, String?) async -> String,
        loadMaxAge: @escaping @Sendable () -> Double = { 30 },
        logger: Logger = Logger(label: "proxima.admin")
    ) {
        self.configuration = configuration
        self.store = store
        self.pools = pools
        self.knownBackends = knownBackends
        self.explain = explain
        self.loadMaxAge = loadMaxAge
        self.logger = logger
    }

    /// The bound port once listening, else nil.
    public var boundPort: Int? {
        listening.withLockedValue { $0.port }
    }

    /// Waits until the server listens and returns its port (useful with port 0); throws if the
    /// server failed to start or stopped first.
    public func waitUntilListening() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            listening.withLockedValue { state in
                if let port = state.port {
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
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        addRoutes(to: router)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "proxima-admin",
                                 availableConnectionsDelegate: MaximumAvailableConnections(max(1, configuration.maxConnections), logger: logger)),
            onServerRunning: { [listening, logger] channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("admin API listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                let waiters = listening.withLockedValue { state in
                    state.port = port
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: port) }
            },
            logger: logger
        )
        do {
            try await app.run()
            finish(AdminAPIError(.startup, "admin server stopped"))
        } catch {
            finish(AdminAPIError(.startup, "admin server on \(configuration.host):\(configuration.port): \(error)"))
            throw error
        }
    }

    private func finish(_ failure: AdminAPIError) {
        let waiters = listening.withLockedValue { state in
            state.failure = failure
            state.port = nil
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: failure) }
    }

    // MARK: Routes

    private func addRoutes(to router: Hummingbird.Router<BasicRequestContext>) {
        router.get("/health") { _, _ in
            Self.json(200, ["status": "ok"])
        }
        router.get("/state") { [self] request, _ in
            await respond(request, mutating: false) { _ in
                let document = StateDocument(pools: pools(), states: store.snapshot(), now: store.now(),
                                             loadMaxAge: loadMaxAge())
                return Self.json(200, document)
            }
        }
        router.get("/route") { [self] request, _ in
            await respond(request, mutating: false) { request in
                let query = request.uri.queryParameters
                guard let ipText = query.get("ip") else {
                    throw AdminAPIError(.badRequest, "missing query parameter 'ip'")
                }
                let address = try AdminRequestParser.parseAddress(ipText)
                let name = query.get("name").flatMap { $0.isEmpty ? nil : $0 }
                let document = await explain(address, name)
                return Self.rawJSON(200, document)
            }
        }
        router.post("/load") { [self] request, _ in
            await respond(request, mutating: true) { request in
                let body = try await collect(&request)
                let reports = try AdminRequestParser.parseLoad(
                    body: body, contentType: request.headers[.contentType])
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
            await respond(request, mutating: true) { request in
                let raw = context.parameters.get("ip") ?? ""
                let address = try AdminRequestParser.parseAddress(raw.removingPercentEncoding ?? raw)
                guard knownBackends().contains(address) else {
                    throw AdminAPIError(.unknownBackend, "\(address) is not a configured backend")
                }
                let body = try await collect(&request)
                let forced = try AdminRequestParser.parseForce(body: body, contentType: request.headers[.contentType])
                store.force(address: address, state: forced)
                logger.notice("backend \(address) forced \(forced?.rawValue ?? "none") via admin API",
                              metadata: ["address": "\(address)"])
                return Self.json(200, BackendStatusDocument(address: address, status: store.status(of: address)))
            }
        }
    }

    /// Checks access, runs `body`, and turns errors into JSON error responses.
    private func respond(_ request: Request, mutating: Bool,
                         _ body: (inout Request) async throws -> Response) async -> Response {
        var request = request
        do {
            try Self.authorize(configuration: configuration, authorization: request.headers[.authorization],
                               mutating: mutating)
            return try await body(&request)
        } catch let error as AdminAPIError {
            if error.code == .unauthorized || error.code == .forbidden {
                logger.info("admin API refused \(request.method) \(request.uri.path): \(error.message)")
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

    /// The access rule (see the type's documentation and docs/admin-api.md): throws `.unauthorized`
    /// or `.forbidden` when a request with this `Authorization` header may not make this call.
    /// `GET /health` does not pass through here.
    public static func authorize(configuration: AdminServerConfiguration, authorization: String?,
                                 mutating: Bool) throws(AdminAPIError) {
        if let token = configuration.effectiveToken {
            if !mutating && configuration.isLoopback { return }
            let header = authorization ?? ""
            let prefix = "bearer "
            guard header.utf8.count > prefix.utf8.count,
                  String(decoding: header.utf8.prefix(prefix.utf8.count), as: UTF8.self).lowercased() == prefix,
                  constantTimeEqual(Array(header.utf8.dropFirst(prefix.utf8.count)), Array(token.utf8))
            else {
                throw AdminAPIError(.unauthorized, "missing or wrong bearer token")
            }
            return
        }
        if configuration.isLoopback { return }
        throw AdminAPIError(.forbidden,
                            "the admin API listens on a non-loopback address without admin.token; only /health is served")
    }

    /// Compares secrets in time independent of where they differ (length still leaks, as usual).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }

    private func collect(_ request: inout Request) async throws(AdminAPIError) -> [UInt8] {
        do {
            let buffer = try await request.collectBody(upTo: configuration.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch {
            throw AdminAPIError(.tooLarge, "request body larger than \(configuration.maxBodyBytes) bytes or unreadable")
        }
    }

    // MARK: JSON

    private static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"encoding failed"}"#.utf8)
        return rawJSON(status, String(decoding: data, as: UTF8.self))
    }

    private static func rawJSON(_ status: Int, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .init(code: status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
