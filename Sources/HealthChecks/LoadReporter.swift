import AsyncHTTPClient
import DNSWire
import NIOCore
import NIOPosix

/// Sends a backend's load to Proxima's admin API (`POST /load`, form `ip=…&load=…`, the form the
/// load reporters in use already send). Used by `proxima report-load`.
///
/// Connection failures and 5xx answers are retried with doubling backoff up to `maxAttempts`;
/// 4xx answers (unknown backend, bad token) are not, since repeating them cannot help.
public struct LoadReporter: Sendable {
    /// Where and as whom to report.
    public struct Configuration: Sendable {
        /// Base URL of the admin API, e.g. `http://127.0.0.1:8053` (a trailing `/` is fine).
        public var serverURL: String
        /// Bearer token for the admin API, if it requires one.
        public var token: String?
        /// The backend address to report for.
        public var address: IPAddress
        /// Attempts per report (at least 1).
        public var maxAttempts: Int
        /// Pause before the first retry, in seconds; doubles on each further retry.
        public var initialBackoff: Double
        /// Deadline per HTTP request, in seconds.
        public var requestTimeout: Double

        /// Creates a configuration.
        public init(serverURL: String, token: String? = nil, address: IPAddress, maxAttempts: Int = 3,
                    initialBackoff: Double = 0.5, requestTimeout: Double = 5) {
            self.serverURL = serverURL
            self.token = token
            self.address = address
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.requestTimeout = requestTimeout
        }
    }

    /// The configuration in use.
    public let configuration: Configuration
    private let httpClient: HTTPClient

    /// A reporter sending through `httpClient` (the caller owns and shuts it down).
    public init(configuration: Configuration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.httpClient = httpClient
    }

    /// The `POST /load` URL.
    public var endpoint: String {
        var base = configuration.serverURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/load"
    }

    /// The form body for `load`: `ip=ADDRESS&load=VALUE`, percent-encoded.
    public static func formBody(address: IPAddress, load: Double) -> String {
        let rounded = (load * 10_000).rounded() / 10_000
        return "ip=\(percentEncode(address.description))&load=\(rounded)"
    }

    /// Reports `load` once, retrying transient failures; throws `HealthChecksError` (`.rejected`
    /// with the server's message for a 4xx, `.unreachable` after the last failed attempt).
    public func report(load: Double) async throws {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "User-Agent", value: "proxima-report-load")
        if let token = configuration.token, !token.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let body = Self.formBody(address: configuration.address, load: load)
        var backoff = max(0, configuration.initialBackoff)
        var lastProblem = "no attempt made"
        for attempt in 1...max(1, configuration.maxAttempts) {
            if attempt > 1 {
                try await Task.sleep(nanoseconds: UInt64(backoff * 1e9))
                backoff *= 2
            }
            request.body = .bytes(ByteBuffer(string: body))
            do {
                let response = try await httpClient.execute(
                    request, timeout: .nanoseconds(Int64(max(0.001, configuration.requestTimeout) * 1e9)))
                let text = String(buffer: try await response.body.collect(upTo: 64 * 1024))
                let status = Int(response.status.code)
                switch status {
                case 200..<300:
                    return
                case 400..<500:
                    throw HealthChecksError(.rejected, "\(endpoint): HTTP \(status): \(text)")
                default:
                    lastProblem = "HTTP \(status): \(text)"
                }
            } catch let error as HealthChecksError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                lastProblem = Prober.describe(error, timeout: configuration.requestTimeout)
            }
        }
        throw HealthChecksError(.unreachable, "\(endpoint): \(lastProblem)")
    }

    /// The local address this host uses to reach the admin server at `serverURL` — the address the
    /// server sees reports come from, so the host's primary address as the server knows it. Found
    /// by connecting a UDP socket towards the server (no packet is sent) and reading its local
    /// address.
    public static func localAddress(towards serverURL: String,
                                    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
        async throws -> IPAddress {
        guard let (host, port) = hostAndPort(of: serverURL) else {
            throw HealthChecksError(.invalidArgument, "cannot find a host in server URL '\(serverURL)'")
        }
        do {
            let channel = try await DatagramBootstrap(group: eventLoopGroup).connect(host: host, port: port).get()
            defer { channel.close(promise: nil) }
            guard let text = channel.localAddress?.ipAddress, let address = IPAddress(text),
                  address != IPAddress.v4(0) else {
                throw HealthChecksError(.noLocalAddress, "no local address towards \(host); pass --address")
            }
            return address
        } catch let error as HealthChecksError {
            throw error
        } catch {
            throw HealthChecksError(.noLocalAddress, "no route towards \(host) (\(error)); pass --address")
        }
    }

    /// Host and port of an `http(s)://host[:port]/…` URL (IPv6 host in brackets); nil if malformed.
    static func hostAndPort(of url: String) -> (String, Int)? {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let scheme = parts[0].lowercased()
        let defaultPort: Int
        switch scheme {
        case "http": defaultPort = 80
        case "https": defaultPort = 443
        default: return nil
        }
        var authority = parts[1].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        var port = defaultPort
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { return nil }
            port = p
        }
        return (String(host), port)
    }

    /// RFC 3986 §2.1 percent-encoding of everything outside the unreserved set.
    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }
}

extension LoadReporter {
    /// Runs `body` with a reporter whose HTTP client (no redirects, certificates verified as usual)
    /// is created for it and shut down afterwards.
    public static func withReporter<T: Sendable>(
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (LoadReporter) async throws -> T
    ) async throws -> T {
        let client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup),
                                configuration: .init(redirectConfiguration: .disallow))
        do {
            let result = try await body(LoadReporter(configuration: configuration, httpClient: client))
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
