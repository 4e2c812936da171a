/// The one error type of the DNSServer module (STYLE §4): a small bounded `code` usable as a metric
/// label, plus the failing system call, `errno` and the endpoint involved.
public struct DNSServerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a bounded set.
    public enum Code: String, Sendable, Hashable {
        /// socket(2) failed.
        case socketCreation
        /// setsockopt(2) failed (SO_REUSEPORT, IPV6_V6ONLY, buffers, timeouts).
        case socketOption
        /// bind(2) failed (address in use, address not available, permission).
        case bind
        /// getsockname(2) failed while reading back the bound port.
        case addressReadback
        /// A worker thread could not be started.
        case threadCreation
        /// The server was started twice, or used after stop.
        case invalidState
        /// The TCP listener could not be bound (SwiftNIO reported the error in `context`).
        case tcpBind
        /// io_uring was required (`UDPServer.IOMode.uring`) but could not be set up; `context`
        /// names the failing step.
        case ioUring
    }

    /// The bounded error code.
    public var code: Code
    /// The endpoint being set up, when there is one.
    public var endpoint: ServerEndpoint?
    /// `errno` at the failing system call, or 0.
    public var errno: Int32
    /// Free-form context: the system call or the underlying error.
    public var context: String

    /// Creates an error.
    public init(code: Code, endpoint: ServerEndpoint? = nil, errno: Int32 = 0, context: String = "") {
        self.code = code
        self.endpoint = endpoint
        self.errno = errno
        self.context = context
    }

    /// `bind: 127.0.0.1:53: errno 98 (bind)`.
    public var description: String {
        var s = code.rawValue
        if let endpoint { s += ": \(endpoint)" }
        if errno != 0 { s += ": errno \(errno)" }
        if !context.isEmpty { s += " (\(context))" }
        return s
    }
}
