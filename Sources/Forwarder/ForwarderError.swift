/// Why the forwarder could not use an upstream or a setting (one error type for the module,
/// STYLE.md §4): a small code usable as a metric label, plus context.
public struct ForwarderError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The upstream did not answer within the timeout.
        case timeout
        /// The upstream's reply could not be parsed or relayed.
        case garbage
        /// The upstream answered SERVFAIL, REFUSED or another failure.
        case upstreamFailure
        /// A socket could not be opened or used.
        case socket
        /// No upstream is configured (e.g. resolv.conf lists none but ourselves).
        case noUpstream
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}
