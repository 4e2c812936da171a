import DNSWire
import Foundation

/// The admin API's access rule as one pure function of the request's facts (docs/admin-api.md,
/// "Access"), so the whole rule is one table-driven test away.
public enum AdminAccess {
    /// Which listener a request arrived on.
    public enum Listener: Hashable, Sendable {
        /// The Unix-domain socket: whoever can open the file is the operator.
        case socket
        /// The TCP listener (plain or TLS).
        case tcp
    }

    /// What a request asks to do.
    public enum Call: Hashable, Sendable {
        /// `GET /health`.
        case health
        /// `GET /state`, `GET /route`.
        case read
        /// `POST /load`.
        case report
        /// Any other change (`POST /backends/{ip}/force`).
        case change
        /// `GET /metrics`.
        case metrics
    }

    /// Who the caller proved to be.
    public enum Role: Hashable, Sendable {
        /// Nobody (only `GET /health` on TCP).
        case anonymous
        /// A process that could open the admin socket.
        case local
        /// Holder of the admin token.
        case admin
        /// Holder of the report token: `POST /load` only.
        case reporter
        /// Holder of the status page's session cookie (given for the admin token by
        /// `GET /?token=`): read-only calls only, never a change.
        case viewer
        /// Holder of the metrics token: `GET /metrics` only (what Prometheus is given).
        case scraper
    }

    /// The status page's session cookie.
    public static let viewerCookieName = "proxima_status"

    /// Decides who the caller is and whether it may make `call`; throws 401/403 otherwise.
    ///
    /// Order: a foreign `Origin` is refused first (a browser sends it on every cross-origin
    /// request, and nothing legitimate drives this API from a web page), then the listener and
    /// token decide. The status page's cookie (`viewerCookie` equal to `viewerSecret`) admits
    /// read-only calls (`.read`) and nothing else, and only while an admin token is configured
    /// (it is handed out for that token). A bearer token, when present, decides instead.
    public static func authorize(_ call: Call, listener: Listener, authorization: String?, origin: String?,
                                 configuration: AdminServerConfiguration, viewerCookie: String? = nil,
                                 viewerSecret: String? = nil) throws(AdminAPIError) -> Role {
        if let origin, !configuration.allowedOrigins.contains(origin) {
            throw AdminAPIError(.forbidden, "requests from web pages (Origin: \(origin)) are refused; "
                                + "list trusted origins in admin.allowed_origins")
        }
        if listener == .socket { return .local }
        if call == .health { return .anonymous }
        if call == .read, authorization == nil, configuration.effectiveToken != nil,
           let viewerCookie, let viewerSecret, !viewerSecret.isEmpty,
           constantTimeEqual(Array(viewerCookie.utf8), Array(viewerSecret.utf8)) {
            return .viewer
        }
        let adminToken = configuration.effectiveToken
        let reportToken = configuration.effectiveReportToken
        let metricsToken = configuration.effectiveMetricsToken
        guard adminToken != nil || reportToken != nil || metricsToken != nil else {
            throw AdminAPIError(.forbidden, "no admin token is configured, so the TCP listener serves only /health; "
                                + "use the admin socket or set admin.token_env/admin.token_file")
        }
        guard let presented = bearer(authorization) else {
            throw AdminAPIError(.unauthorized, "missing bearer token")
        }
        // Both comparisons always run, so timing does not tell which token was close.
        let isAdmin = adminToken.map { constantTimeEqual(presented, Array($0.utf8)) } ?? false
        let isReporter = reportToken.map { constantTimeEqual(presented, Array($0.utf8)) } ?? false
        let isScraper = metricsToken.map { constantTimeEqual(presented, Array($0.utf8)) } ?? false
        if isAdmin { return .admin }
        if isScraper {
            guard call == .metrics else {
                throw AdminAPIError(.forbidden, "the metrics token may only GET /metrics")
            }
            return .scraper
        }
        if isReporter {
            guard call == .report else {
                throw AdminAPIError(.forbidden, "the report token may only POST /load")
            }
            return .reporter
        }
        throw AdminAPIError(.unauthorized, "wrong bearer token")
    }

    /// Checks that a report-token holder reports only for addresses it may speak for.
    public static func checkReport(_ addresses: [IPAddress], role: Role, peer: IPAddress?,
                                   configuration: AdminServerConfiguration) throws(AdminAPIError) {
        guard role == .reporter else { return }
        for address in addresses {
            switch configuration.reportSources {
            case .any:
                continue
            case .source:
                guard let peer, unmapped(peer) == unmapped(address) else {
                    throw AdminAPIError(.forbidden, "the report token may only report for its own address "
                                        + "(\(peer.map { "\($0)" } ?? "unknown")), not \(address)")
                }
            case .networks(let networks):
                guard networks.contains(where: { $0.contains(address) }) else {
                    throw AdminAPIError(.forbidden, "the report token may not report for \(address) "
                                        + "(outside admin.report_sources)")
                }
            }
        }
    }

    /// Checks a POST body's media type: JSON always; the URL-encoded form only for `POST /load`.
    /// A web page can send a form or `text/plain` cross-origin without a preflight, never JSON.
    public static func checkBodyType(_ call: Call, contentType: String?) throws(AdminAPIError) {
        switch AdminBodyType(contentType: contentType) {
        case .json?: return
        case .form? where call == .report: return
        default:
            let allowed = call == .report ? "application/json or application/x-www-form-urlencoded" : "application/json"
            throw AdminAPIError(.unsupportedMediaType,
                                "Content-Type \(contentType.map { "'\($0)'" } ?? "missing"); this call takes \(allowed)")
        }
    }

    /// True when `presented` is the configured admin token (the status page's `?token=`
    /// exchange; the report token never qualifies).
    public static func isAdminToken(_ presented: String, configuration: AdminServerConfiguration) -> Bool {
        guard let token = configuration.effectiveToken else { return false }
        return constantTimeEqual(Array(presented.utf8), Array(token.utf8))
    }

    /// The value of cookie `name` in `Cookie` header lines (`a=1; b=2`), or nil. A cookie that
    /// appears more than once is refused (nil): which copy a browser sent first is not defined.
    public static func cookie(_ name: String, in headers: [String]) -> String? {
        var found: String?
        for header in headers {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name else { continue }
                if found != nil { return nil }
                found = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return found
    }

    /// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive), or nil.
    static func bearer(_ header: String?) -> [UInt8]? {
        guard let header else { return nil }
        let bytes = Array(header.utf8)
        let prefix = Array("bearer ".utf8)
        guard bytes.count > prefix.count,
              zip(bytes.prefix(prefix.count), prefix).allSatisfy({ ($0 | 0x20) == $1 || ($0 == $1) })
        else { return nil }
        return Array(bytes.dropFirst(prefix.count))
    }

    /// `::ffff:a.b.c.d` as `a.b.c.d`, so a dual-stack listener compares IPv4 peers correctly.
    static func unmapped(_ address: IPAddress) -> IPAddress {
        if case .v6(0, let low) = address, low >> 32 == 0xFFFF { return .v4(UInt32(truncatingIfNeeded: low)) }
        return address
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
}
