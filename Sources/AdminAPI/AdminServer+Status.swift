import DNSWire
import Foundation
import GeoRouting
import Hummingbird
import HTTPTypes
import HummingbirdCore
import NIOCore

/// The status page (`GET /`): one HTML page, its script and style sheet, and the JSON it polls
/// (`GET /status.json`), all compiled into the binary (no CDN, no tiles).
///
/// Access (docs/security.md, "The status page"): on TCP every one of these needs the admin token,
/// either as a bearer token or as the page's session cookie. A browser gets the cookie once by
/// opening `/?token=ADMIN_TOKEN`: the server answers with a redirect to `/` that sets
/// `proxima_status` (random per process, `HttpOnly; SameSite=Strict`, `Secure` over TLS), so the
/// token leaves the address bar and the cookie never carries it. The cookie admits read-only
/// calls only; forcing a backend still needs the bearer token (the page offers no button for it).
extension AdminServer {
    func addStatusRoutes(to router: Hummingbird.Router<AdminRequestContext>, listener: AdminAccess.Listener) {
        router.get("/") { [self] request, context -> Response in
            if listener == .tcp, let presented = request.uri.queryParameters.get("token") {
                return exchange(presented, request: request, context: context)
            }
            let response = await respond(request, context, .read, listener) { _, _ in
                Self.asset(StatusAssets.html(landPath: StatusWorldMap.landPath), type: "text/html; charset=utf-8")
            }
            guard response.status == .unauthorized else { return response }
            return Self.asset(StatusAssets.signIn, type: "text/html; charset=utf-8", status: 401)
        }
        router.get("/status.js") { [self] request, context in
            await respond(request, context, .read, listener) { _, _ in
                Self.asset(StatusAssets.script, type: "text/javascript; charset=utf-8")
            }
        }
        router.get("/status.css") { [self] request, context in
            await respond(request, context, .read, listener) { _, _ in
                Self.asset(StatusAssets.style, type: "text/css; charset=utf-8")
            }
        }
        router.get("/status.json") { [self] request, context in
            await respond(request, context, .read, listener) { _, _ in
                let document = StatusDocument(pools: pools(), states: store.snapshot(), now: store.now(),
                                              loadMaxAge: loadMaxAge(), traffic: traffic?())
                var response = Self.json(200, document)
                response.headers[.cacheControl] = "no-store"
                return response
            }
        }
    }

    /// `GET /?token=`: the admin token for the session cookie, then a redirect that drops the
    /// token from the address bar. A wrong token is 401 (and logged like any refused call).
    private func exchange(_ presented: String, request: Request, context: AdminRequestContext) -> Response {
        if let origin = request.headers[.origin], !configuration.allowedOrigins.contains(origin) {
            return Self.json(403, ["error": "requests from web pages (Origin: \(origin)) are refused"])
        }
        guard AdminAccess.isAdminToken(presented, configuration: configuration) else {
            logger.info("admin API refused GET / (status page): wrong token",
                        metadata: ["peer": "\(context.peer.map { "\($0)" } ?? "local")"])
            return Self.asset(StatusAssets.signIn, type: "text/html; charset=utf-8", status: 401)
        }
        var headers = HTTPFields()
        headers[.location] = "/"
        headers[.cacheControl] = "no-store"
        headers[.referrerPolicy] = "no-referrer"
        let secure = configuration.tls != nil ? "; Secure" : ""
        headers[.setCookie] = "\(AdminAccess.viewerCookieName)=\(viewerSecret); Path=/; HttpOnly; SameSite=Strict\(secure)"
        return Response(status: .seeOther, headers: headers)
    }

    /// A page asset with the headers that keep it from being framed, sniffed or cached, and a
    /// Content-Security-Policy that allows only this origin's script, style and fetches.
    static func asset(_ text: String, type: String, status: Int = 200) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        headers[.xFrameOptions] = "DENY"
        headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// `GET /status.json`: every pool and member as in `GET /state`, with answers per second, plus
/// where answers went over the recent window.
struct StatusDocument: Encodable {
    var state: StateDocument
    var traffic: TrafficView?
    var names: [IPAddress: String]

    init(pools: [PoolView], states: BackendStates, now: Double, loadMaxAge: Double, traffic: TrafficView?) {
        state = StateDocument(pools: pools, states: states, now: now, loadMaxAge: loadMaxAge)
        self.traffic = traffic
        var names: [IPAddress: String] = [:]
        for pool in pools { for member in pool.members { names[member.address] = member.name ?? names[member.address] } }
        self.names = names
    }

    enum CodingKeys: String, CodingKey {
        case loadMaxAgeSeconds = "load_max_age_seconds", pools, windowSeconds = "window_seconds"
        case rateSeconds = "rate_seconds", cellDegrees = "cell_degrees", flows, unattributed
    }

    struct Pool: Encodable {
        var name: String
        var members: [Member]
    }

    struct Member: Encodable {
        var state: MemberState
        var answersPerSecond: Double?

        enum CodingKeys: String, CodingKey { case answersPerSecond = "answers_per_second" }

        func encode(to encoder: any Encoder) throws {
            try state.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(answersPerSecond.map { ($0 * 100).rounded() / 100 }, forKey: .answersPerSecond)
        }
    }

    struct Flow: Encodable {
        var latitude: Double
        var longitude: Double
        var address: String
        var name: String?
        var count: UInt64
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state.loadMaxAgeSeconds, forKey: .loadMaxAgeSeconds)
        let rates = traffic?.answersPerSecond ?? [:]
        let pools = state.pools.map { pool in
            Pool(name: pool.name, members: pool.members.map {
                Member(state: $0, answersPerSecond: traffic == nil ? nil : rates[$0.view.address] ?? 0)
            })
        }
        try c.encode(pools, forKey: .pools)
        try c.encode(traffic.map { ($0.windowSeconds * 10).rounded() / 10 }, forKey: .windowSeconds)
        try c.encode(traffic?.rateSeconds, forKey: .rateSeconds)
        try c.encode(traffic?.cellDegrees, forKey: .cellDegrees)
        let flows = (traffic?.flows ?? []).map {
            Flow(latitude: $0.latitude, longitude: $0.longitude, address: $0.address.description,
                 name: names[$0.address], count: $0.count)
        }
        try c.encode(flows, forKey: .flows)
        try c.encode(traffic?.unattributed ?? 0, forKey: .unattributed)
    }
}

extension HTTPField.Name {
    /// `Referrer-Policy` (not among HTTPTypes' common names).
    static var referrerPolicy: Self { Self("Referrer-Policy")! }
    /// `X-Frame-Options` (not among HTTPTypes' common names).
    static var xFrameOptions: Self { Self("X-Frame-Options")! }
}
