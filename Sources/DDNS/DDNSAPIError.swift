/// The one error type of the DDNS API (STYLE §4): a bounded code that maps to an HTTP status, and
/// the message the client reads in `{"error": "…"}` (it names the offending field).
public struct DDNSAPIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a bounded set (usable as a metric label).
    public enum Code: String, Hashable, Sendable {
        /// Malformed request or an invalid value (400).
        case badRequest = "bad_request"
        /// No credentials, or none configured for this call (401).
        case unauthorized
        /// Credentials given but not good for this call (403).
        case forbidden
        /// No such silo (404).
        case notFound = "not_found"
        /// The store is full (`ddns.max_silos`) (409).
        case conflict
        /// The body is over the limit (413).
        case tooLarge = "too_large"
        /// The silo's update budget is spent (`ddns.max_updates_per_minute`) (429).
        case rateLimited = "rate_limited"
        /// The store cannot be reached now (503).
        case unavailable
        /// The store failed in a way the client cannot fix (500).
        case `internal`
    }

    /// The bounded error code.
    public var code: Code
    /// Human-readable detail, naming the field.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status for this error.
    public var httpStatus: Int {
        switch code {
        case .badRequest: return 400
        case .unauthorized: return 401
        case .forbidden: return 403
        case .notFound: return 404
        case .conflict: return 409
        case .tooLarge: return 413
        case .rateLimited: return 429
        case .unavailable: return 503
        case .internal: return 500
        }
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
