/// The one error type of the GeoIP module: a small bounded `code` (usable as a metric label) plus
/// a human-readable message naming the file, network or request involved.
///
/// Messages never contain the ipstack access key: every message built from a URL or a library
/// error passes through ``IPStackClient``'s redaction first.
public struct GeoIPError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, as a bounded set.
    public enum Code: String, Sendable, Equatable {
        /// The `.mmdb` file does not exist or cannot be read.
        case databaseNotFound
        /// The file exists but is not a valid MaxMind DB (bad metadata, truncated, wrong format).
        case databaseCorrupt
        /// libmaxminddb failed while walking the tree or decoding a record.
        case databaseLookup
        /// An override entry is invalid (bad CIDR, coordinate out of range, duplicate network).
        case invalidOverride
        /// The ipstack request failed at the transport level (refused, reset, DNS).
        case ipstackTransport
        /// The ipstack request did not complete within its timeout.
        case ipstackTimeout
        /// ipstack answered with a non-2xx HTTP status.
        case ipstackHTTPStatus
        /// ipstack answered with its `{"success": false, "error": {...}}` form.
        case ipstackAPIError
        /// The ipstack response body was not the JSON we expect.
        case ipstackDecode
        /// The ipstack configuration is unusable (empty key, bad base URL, bad limits).
        case ipstackConfiguration
        /// Not sent: `max_per_minute` requests were already made in the last minute.
        case ipstackRateLimited
        /// Not sent: this calendar month's `monthly_quota` is used up.
        case ipstackQuotaExhausted
    }

    /// The bounded error code.
    public var code: Code
    /// Context: file path, network, HTTP status or API error type, without secrets.
    public var message: String

    /// Creates an error with a code and a context message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
