#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the process's file descriptors are shared out (issue #14.1): a reserve for zone and
/// database files, health probes, reloads and the runtime's own descriptors; what is left is
/// split between DNS TCP connections (all listeners together) and the admin HTTP listener, so
/// that neither can exhaust the descriptors the other (or a reload) needs.
///
/// Pure: the shell passes the limit and the descriptors already open.
public struct DescriptorBudget: Sendable, Hashable {
    /// The soft RLIMIT_NOFILE in effect.
    public var limit: Int
    /// Descriptors kept back: already open at start, the listening and UDP sockets, and the reserve.
    public var reserved: Int
    /// Connections each DNS TCP listener may hold.
    public var tcpPerListener: Int
    /// Connections the admin listener may hold (0 without an admin listener).
    public var admin: Int

    /// What the process needs besides connections.
    public struct Needs: Sendable, Hashable {
        /// Descriptors open now (runtime, event loops, log, already-open files).
        public var openNow: Int
        /// DNS listen addresses (each: one TCP listening socket).
        public var listeners: Int
        /// UDP sockets: one per UDP thread per listen address.
        public var udpSockets: Int
        /// Whether an admin listener runs.
        public var adminEnabled: Bool
        /// `tcp.max_connections` (per listener).
        public var tcpWanted: Int
        /// The admin listener's own cap.
        public var adminWanted: Int

        public init(openNow: Int, listeners: Int, udpSockets: Int, adminEnabled: Bool, tcpWanted: Int, adminWanted: Int) {
            self.openNow = openNow
            self.listeners = listeners
            self.udpSockets = udpSockets
            self.adminEnabled = adminEnabled
            self.tcpWanted = tcpWanted
            self.adminWanted = adminWanted
        }
    }

    /// The reserve for files, probes and reloads: an eighth of the limit, 16...256. A reload opens
    /// every zone file and the database while the old ones are still mapped.
    public static func reserve(limit: Int) -> Int { min(256, max(16, limit / 8)) }

    /// Shares out `limit` descriptors. Each TCP listener also keeps one descriptor spare, so a
    /// full table can accept the connection that evicts an idle one. The admin listener gets up to
    /// a quarter of what is left (at least 4 while anything is left); DNS TCP the rest, split
    /// evenly between listeners. Every share is capped by what was asked for and is at least 1
    /// (a listener that cannot accept anything is useless; the log then says the limit is too low).
    public static func compute(limit: Int, needs: Needs) -> DescriptorBudget {
        let listeners = max(1, needs.listeners)
        let fixed = needs.openNow + listeners + needs.udpSockets + (needs.adminEnabled ? 1 : 0) + reserve(limit: limit)
        var available = max(0, limit - fixed - listeners)
        var admin = 0
        if needs.adminEnabled {
            admin = max(1, min(needs.adminWanted, max(min(4, available), available / 4)))
            available = max(0, available - admin)
        }
        let tcp = max(1, min(needs.tcpWanted, available / listeners))
        return DescriptorBudget(limit: limit, reserved: fixed + listeners, tcpPerListener: tcp, admin: admin)
    }
}

/// The process's descriptor limit and the descriptors it has open (the IO half of
/// `DescriptorBudget`).
enum DescriptorLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit is taken as
    /// 1048576, the kernel's default `fs.nr_open`). Returns (soft before, soft after, hard).
    static func raiseSoftToHard() -> (before: Int, after: Int, hard: Int) {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return (1024, 1024, 1024) }
        let before = Int(clamping: rl.rlim_cur)
        let hardIsInfinite = rl.rlim_max == rlim_t.max  // RLIM_INFINITY (a macro of -1 Swift cannot import as unsigned)
        let target: rlim_t = hardIsInfinite ? 1 << 20 : rl.rlim_max
        let hard = hardIsInfinite ? Int.max : Int(clamping: rl.rlim_max)
        guard rl.rlim_cur < target else { return (before, before, hard) }
        var raised = rl
        raised.rlim_cur = target
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return (before, Int(clamping: target), hard) }
        return (before, before, hard)
    }

    /// Descriptors open now (entries of /proc/self/fd, less the one used to list them).
    static func openCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 32 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0.first ?? 0 }
            if first != UInt8(ascii: ".") { n += 1 }
        }
        return max(0, n - 1)
    }
}
