import AsyncHTTPClient
import DNSWire
import GeoRouting
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of one probe: whether it passed and a short reason for logs ("HTTP 503",
/// "timeout after 2s", "connection refused", "connected").
struct ProbeResult: Equatable, Sendable {
    /// True when the probe passed.
    var success: Bool
    /// Short human reason.
    var reason: String
}

/// Runs single probes. Owns nothing but borrowed clients; safe to share between probe loops.
///
/// HTTPS probes do not verify the server's certificate: backends are addressed by IP, so there is no
/// name to verify against, and the purpose is liveness, not authentication. Redirects are not
/// followed (a 3xx is judged against the expected status list like any other status).
struct Prober: Sendable {
    let httpClient: HTTPClient
    let eventLoopGroup: any EventLoopGroup

    /// Probes `address` per `spec`, bounded by `spec.timeout`.
    func probe(_ address: IPAddress, _ spec: HealthCheckSpec) async -> ProbeResult {
        let timeout = max(0.001, spec.timeout)
        return await withTimeout(seconds: timeout) {
            switch spec.probe {
            case .http(let http):
                return await probeHTTP(address, http, timeout: timeout)
            case .tcp(let port):
                return await probeTCP(address, port: port, timeout: timeout)
            }
        }
    }

    /// The URL of an HTTP probe: IPv6 literals go in brackets (RFC 3986 §3.2.2).
    static func url(_ address: IPAddress, _ http: HealthCheckSpec.HTTPProbe) -> String {
        let scheme = http.useTLS ? "https" : "http"
        let host: String
        switch address {
        case .v4: host = address.description
        case .v6: host = "[\(address.description)]"
        }
        let path = http.path.hasPrefix("/") ? http.path : "/" + http.path
        return "\(scheme)://\(host):\(http.port)\(path)"
    }

    private func probeHTTP(_ address: IPAddress, _ http: HealthCheckSpec.HTTPProbe,
                           timeout: Double) async -> ProbeResult {
        var request = HTTPClientRequest(url: Self.url(address, http))
        request.method = .GET
        if let host = http.host, !host.isEmpty {
            request.headers.replaceOrAdd(name: "Host", value: host)
        }
        request.headers.add(name: "User-Agent", value: "proxima-health")
        // A fresh connection per probe: a pooled keep-alive connection would hide a listener that
        // stopped accepting.
        request.headers.add(name: "Connection", value: "close")
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(Int64(timeout * 1e9)))
            let status = Int(response.status.code)
            // Drain (bounded) so the connection is released; the body itself is not judged.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return ProbeResult(success: http.expectedStatus.contains(status), reason: "HTTP \(status)")
        } catch {
            return ProbeResult(success: false, reason: Self.describe(error, timeout: timeout))
        }
    }

    private func probeTCP(_ address: IPAddress, port: Int, timeout: Double) async -> ProbeResult {
        do {
            let socketAddress = try Self.socketAddress(address, port: port)
            let channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(.nanoseconds(Int64(timeout * 1e9)))
                .connect(to: socketAddress).get()
            try? await channel.close().get()
            return ProbeResult(success: true, reason: "connected")
        } catch {
            return ProbeResult(success: false, reason: Self.describe(error, timeout: timeout))
        }
    }

    static func socketAddress(_ address: IPAddress, port: Int) throws -> SocketAddress {
        try SocketAddress(ipAddress: address.description, port: port)
    }

    /// Runs `body`, or returns a timeout failure when it has not finished after `seconds`.
    private func withTimeout(seconds: Double,
                             _ body: @escaping @Sendable () async -> ProbeResult) async -> ProbeResult {
        await withTaskGroup(of: ProbeResult?.self) { group in
            group.addTask { await body() }
            group.addTask {
                // A grace margin lets the library's own deadline report first when it fires.
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9) + 50_000_000)
                return Task.isCancelled ? nil : ProbeResult(
                    success: false, reason: "timeout after \(formatSeconds(seconds))")
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? ProbeResult(success: false, reason: "cancelled")
        }
    }

    /// A short reason for a failed probe, from whatever error NIO or AsyncHTTPClient raised.
    static func describe(_ error: any Error, timeout: Double) -> String {
        if let io = error as? IOError {
            return describe(errno: io.errnoCode) ?? "\(io)"
        }
        if let connection = error as? NIOConnectionError {
            // Each attempted address failed; report the first specific reason.
            for failure in connection.connectionErrors {
                return describe(failure.error, timeout: timeout)
            }
            if let dns = connection.dnsAAAAError ?? connection.dnsAError {
                return "resolution failed: \(dns)"
            }
            return "connection failed"
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .connectTimeout: return "timeout after \(formatSeconds(timeout))"
            default: return "\(channel)"
            }
        }
        if let http = error as? HTTPClientError {
            switch http {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return "timeout after \(formatSeconds(timeout))"
            case .remoteConnectionClosed:
                return "connection closed by backend"
            default:
                return "HTTP client: \(http)"
            }
        }
        return "\(error)"
    }

    private static func describe(errno code: Int32) -> String? {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset"
        case EHOSTUNREACH: return "host unreachable"
        case ENETUNREACH: return "network unreachable"
        case ETIMEDOUT: return "connection timed out"
        default: return nil
        }
    }
}

/// `2s`, `250ms`, `1.5s`: a duration in seconds as an operator would write it in the config.
func formatSeconds(_ seconds: Double) -> String {
    if seconds < 1 {
        return "\(Int((seconds * 1000).rounded()))ms"
    }
    if seconds == seconds.rounded() {
        return "\(Int(seconds))s"
    }
    let tenths = (seconds * 10).rounded() / 10
    return "\(tenths)s"
}
