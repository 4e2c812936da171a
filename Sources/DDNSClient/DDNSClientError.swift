/// Why a DDNS client (`proxima ddns ...`) failed, with the exit status it ends the process with,
/// so cron jobs and systemd units can tell a wrong token from a server that is down.
public struct DDNSClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A small, bounded classification; each has its own exit status (sysexits.h numbers).
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Bad input on this side: options, config file, token file, interface, silo id. Exit 64.
        case usage
        /// The server refused the request's data (400, 404, 409, 413) or answered something the
        /// client cannot use; or the hosts file's managed block is malformed. Not retried. Exit 65.
        case refused
        /// The server could not be reached, timed out, or answered 429/5xx on every attempt. Exit 69.
        case unavailable
        /// A local file (hosts file, state file) could not be read or written. Exit 73.
        case localFile
        /// The token was refused (401) or does not allow this call (403). Not retried. Exit 77.
        case authentication
    }

    /// The kind of failure (and so the exit status).
    public var code: Code
    /// What failed, naming the file, call or field.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The process exit status for this error.
    public var exitStatus: Int32 {
        switch code {
        case .usage: return 64
        case .refused: return 65
        case .unavailable: return 69
        case .localFile: return 73
        case .authentication: return 77
        }
    }

    public var description: String { message }

    /// The exit statuses as `--help` lists them.
    public static let exitStatusHelp = """
        Exit status: 0 done (updated, written), or nothing to do; 64 bad options, config or token file; \
        65 the server refused the data (400/404/409/413) or the hosts file's managed block is malformed; \
        69 the server is unreachable or busy (timeouts, 429, 5xx) after every retry; \
        73 a local file (hosts or state file) cannot be written; \
        77 the token was refused (401/403), never retried.
        """
}
