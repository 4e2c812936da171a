/// The one error type of the AdminAPI module (STYLE §4): a bounded code that maps to an HTTP
/// status, plus a message the client sees in the JSON body `{"error": "…"}`.
public struct AdminAPIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a bounded set (usable as a metric label).
    public enum Code: String, Hashable, Sendable {
        /// The request is malformed or a value is invalid (400).
        case badRequest = "bad_request"
        /// A bearer token is required and missing or wrong (401).
        case unauthorized
        /// The call is not allowed on this listener at all (403).
        case forbidden
        /// The backend is not configured (404).
        case unknownBackend = "unknown_backend"
        /// The body is larger than the limit (413).
        case tooLarge = "too_large"
        /// The admin server could not start (bind failure and the like).
        case startup
        /// The body's media type is not one this call takes (415).
        case unsupportedMediaType = "unsupported_media_type"
    }

    /// The bounded error code.
    public var code: Code
    /// Human-readable detail.
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
        case .unknownBackend: return 404
        case .tooLarge: return 413
        case .startup: return 500
        case .unsupportedMediaType: return 415
        }
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
