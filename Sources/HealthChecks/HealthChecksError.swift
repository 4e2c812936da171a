/// The one error type of the HealthChecks module (STYLE §4): a small bounded `code` usable as a
/// metric label, plus a human message with the context.
public struct HealthChecksError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a bounded set.
    public enum Code: String, Hashable, Sendable {
        /// `/proc/stat` could not be read or parsed.
        case procStat = "proc_stat"
        /// The local address to report for could not be determined.
        case noLocalAddress = "no_local_address"
        /// A URL or argument given by the caller is unusable.
        case invalidArgument = "invalid_argument"
        /// The admin server answered a load report with a non-2xx status.
        case rejected
        /// The admin server could not be reached (after retries).
        case unreachable
    }

    /// The bounded error code.
    public var code: Code
    /// Human-readable detail (URL, status, underlying error).
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
