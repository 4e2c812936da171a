import AsyncHTTPClient
import DDNS
import DNSWire
import NIOCore
import NIOHTTP1

/// The DDNS API as its clients call it (`proxima ddns update|hosts|silo`), over AsyncHTTPClient.
///
/// Each call is retried on what may pass (no connection, a timeout, 429, 5xx) with `Backoff`,
/// and never on what will not (401/403, other 4xx). Every reply body is bounded.
public struct DDNSAPIClient: Sendable {
    /// The API base URL, without a trailing `/`.
    public let server: String
    let token: String?
    let timeout: Duration
    let backoff: Backoff
    let http: HTTPClient
    let warn: @Sendable (String) -> Void

    /// Runs `body` with a client, shutting its connections down afterwards.
    public static func with<T: Sendable>(server: String, token: String?, timeout: Duration, backoff: Backoff,
                                         warn: @escaping @Sendable (String) -> Void,
                                         _ body: (DDNSAPIClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        // Retries are ours (bounded, with jitter, visible): the pool's own retrying of refused
        // connections would hold every attempt until its deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .nanoseconds(Backoff.nanoseconds(timeout))
        // A redirect could carry the bearer token elsewhere: a 3xx is an answer, not a hop.
        configuration.redirectConfiguration = .disallow
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let client = DDNSAPIClient(server: server, token: token, timeout: timeout, backoff: backoff, http: http, warn: warn)
        do {
            let result = try await body(client)
            try? await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// `GET /ip`: this client's address as the server sees it.
    public func callerAddress() async throws(DDNSClientError) -> IPAddress {
        try SiloJSON.ip(try await call(.GET, "/ip", what: "GET /ip").body)
    }

    /// `GET /silos/{id}`; nil on 404.
    public func silo(_ id: String) async throws(DDNSClientError) -> Silo? {
        try await servedSilo(id)?.silo
    }

    /// `GET /silos/{id}` with the names the records are served at; nil on 404.
    public func servedSilo(_ id: String) async throws(DDNSClientError) -> ServedSilo? {
        let reply = try await call(.GET, "/silos/\(id)", what: "GET /silos/\(id)", allowNotFound: true)
        if reply.status == 404 { return nil }
        return try SiloJSON.servedSilo(reply.body, expectedID: id)
    }

    /// `GET /silos` (admin).
    public func silos() async throws(DDNSClientError) -> [Silo] {
        try SiloJSON.silos(try await call(.GET, "/silos", what: "GET /silos", limit: 64 << 20).body)
    }

    /// `PUT /silos/{id}` with `{"dnsrecords": [...]}`; the silo as the server stored it.
    @discardableResult
    public func put(_ id: String, records: [DDNSRecord]) async throws(DDNSClientError) -> Silo {
        let reply = try await call(.PUT, "/silos/\(id)", what: "PUT /silos/\(id)", body: SiloJSON.putBody(records))
        if reply.body.isEmpty { return Silo(id: id, records: records) }
        return try SiloJSON.silo(reply.body, expectedID: id)
    }

    /// `DELETE /silos/{id}`; false on 404.
    public func delete(_ id: String) async throws(DDNSClientError) -> Bool {
        let reply = try await call(.DELETE, "/silos/\(id)", what: "DELETE /silos/\(id)", allowNotFound: true)
        return reply.status != 404
    }

    /// `POST /silos/{id}/token`: a new token for the silo (the previous one stops working).
    public func newToken(_ id: String) async throws(DDNSClientError) -> String {
        try SiloJSON.token(try await call(.POST, "/silos/\(id)/token", what: "POST /silos/\(id)/token", body: []).body)
    }

    /// One call with retries. Returns 2xx replies (and 404 when `allowNotFound`); throws the rest.
    func call(_ method: HTTPMethod, _ path: String, what: String, body: [UInt8]? = nil,
              allowNotFound: Bool = false, limit: Int = 1 << 20) async throws(DDNSClientError) -> (status: Int, body: [UInt8]) {
        var rng = SystemRandomNumberGenerator()
        var failures = 0
        while true {
            let outcome = await once(method, path, body: body, limit: limit)
            var retryAfter: Duration?
            let problem: DDNSClientError
            switch outcome {
            case .success(let reply):
                switch reply.status {
                case 200..<300:
                    return (reply.status, reply.body)
                case 404 where allowNotFound:
                    return (reply.status, reply.body)
                case 401, 403:
                    throw DDNSClientError(.authentication, "\(what): HTTP \(reply.status): \(SiloJSON.errorMessage(reply.body))")
                case 429, 500..<600:
                    retryAfter = reply.retryAfter
                    problem = DDNSClientError(.unavailable, "\(what): HTTP \(reply.status): \(SiloJSON.errorMessage(reply.body))")
                default:
                    throw DDNSClientError(.refused, "\(what): HTTP \(reply.status): \(SiloJSON.errorMessage(reply.body))")
                }
            case .failure(let error):
                problem = error
            }
            failures += 1
            guard let wait = backoff.delay(after: failures, retryAfter: retryAfter, using: &rng) else {
                if failures > 1 {
                    throw DDNSClientError(problem.code, "\(problem.message) (after \(failures) attempts)")
                }
                throw problem
            }
            warn("\(problem.message); retrying in \(Self.seconds(wait))")
            do {
                try await Task.sleep(for: wait)
            } catch {
                throw DDNSClientError(.unavailable, "\(what): cancelled")
            }
        }
    }

    struct Reply {
        var status: Int
        var body: [UInt8]
        var retryAfter: Duration?
    }

    /// One attempt: a reply of any status, or a transport failure as `.unavailable`.
    func once(_ method: HTTPMethod, _ path: String, body: [UInt8]?, limit: Int) async -> Result<Reply, DDNSClientError> {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "proxima-ddns")
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let nanos = Backoff.nanoseconds(timeout)
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(nanos))
            let collected = try await response.body.collect(upTo: limit)
            var retryAfter: Duration?
            if let text = response.headers.first(name: "Retry-After"), let seconds = Int(text), seconds >= 0 {
                retryAfter = .seconds(min(seconds, 3600))
            }
            return .success(Reply(status: Int(response.status.code), body: Array(buffer: collected), retryAfter: retryAfter))
        } catch {
            return .failure(DDNSClientError(.unavailable, "\(method) \(server)\(path): \(error)"))
        }
    }

    static func seconds(_ d: Duration) -> String {
        let ms = Backoff.nanoseconds(d) / 1_000_000
        return ms < 10_000 ? "\(ms)ms" : "\(ms / 1000)s"
    }
}
