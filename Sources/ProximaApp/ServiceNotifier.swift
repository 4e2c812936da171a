#if canImport(Glibc)
import Glibc
#endif

/// The systemd readiness protocol (sd_notify(3), "Type=notify" in systemd.service(5)), spoken
/// directly: one `AF_UNIX` datagram of newline-separated `KEY=value` assignments to
/// `$NOTIFY_SOCKET`. No libsystemd. Without `$NOTIFY_SOCKET` (not started by systemd) every
/// call does nothing.
public struct ServiceNotifier: Sendable {
    let address: UnixDatagramAddress?

    /// Reads `NOTIFY_SOCKET` from `environment`.
    public init(environment: [String: String]) {
        address = environment["NOTIFY_SOCKET"].flatMap { UnixDatagramAddress($0) }
    }

    /// Whether a notification socket is configured.
    public var isEnabled: Bool { address != nil }

    /// Sends the assignments (e.g. `["READY=1", "STATUS=serving"]`); returns errno (0: sent or
    /// nothing to send). A failure is not fatal: systemd then treats the start as timed out.
    @discardableResult
    public func notify(_ assignments: [String]) -> Int32 {
        guard let address else { return 0 }
        // Values are single-line by protocol; a newline inside one would start a new assignment.
        let text = assignments.map { $0.replacingNewlines() }.joined(separator: "\n")
        return address.send(Array(text.utf8))
    }

    /// `READY=1`: every listener is bound and the data is loaded.
    @discardableResult
    public func ready(status: String) -> Int32 { notify(["READY=1", "STATUS=" + status]) }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd 253 and later require for
    /// `Type=notify-reload` (and accept for `notify`), then `ready` when done.
    @discardableResult
    public func reloading(status: String) -> Int32 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(clamping: ts.tv_sec) &* 1_000_000 &+ UInt64(clamping: ts.tv_nsec / 1000)
        return notify(["RELOADING=1", "MONOTONIC_USEC=\(usec)", "STATUS=" + status])
    }

    /// `STOPPING=1`: shutdown began.
    @discardableResult
    public func stopping() -> Int32 { notify(["STOPPING=1", "STATUS=stopping"]) }
}

extension String {
    func replacingNewlines() -> String {
        String(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }
}
