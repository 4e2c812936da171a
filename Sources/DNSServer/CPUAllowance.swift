#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CProximaNet

/// How many CPUs the process can really use (issue #8.7): the smallest of the online CPUs, the
/// CPUs in its affinity mask (`taskset`, `sched_setaffinity`, systemd `CPUAffinity=`) and its
/// cgroup CPU quota rounded up (containers, systemd `CPUQuota=`). One UDP thread per online CPU
/// on a 64-core host limited to 2 CPUs would be 62 threads fighting for 2 CPUs, each with its
/// own memory.
///
/// The parsing is pure and takes the file contents, so tests inject them; `current()` reads them.
public struct CPUAllowance: Sendable, Hashable {
    /// CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`).
    public var online: Int
    /// CPUs in the affinity mask; nil when unknown.
    public var affinity: Int?
    /// CPUs' worth of time the cgroup quota allows (e.g. 1.5); nil when unlimited or unknown.
    public var quota: Double?

    public init(online: Int, affinity: Int? = nil, quota: Double? = nil) {
        self.online = online
        self.affinity = affinity
        self.quota = quota
    }

    /// The usable CPU count: min(online, affinity, ⌈quota⌉), at least 1.
    public var count: Int {
        var n = max(1, online)
        if let affinity, affinity > 0 { n = min(n, affinity) }
        if let quota, quota > 0, quota.isFinite { n = min(n, Int(quota.rounded(.up))) }
        return max(1, n)
    }

    /// cgroup v2 `cpu.max`: `"$MAX $PERIOD"` in microseconds, `MAX` = `max` for no limit
    /// (kernel Documentation/admin-guide/cgroup-v2.rst). Returns the quota in CPUs, nil for no
    /// limit or text that is not in that form.
    public static func quota(cgroupV2CPUMax text: String) -> Double? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard let first = fields.first, first != "max", let max = Double(first), max > 0 else { return nil }
        let period = fields.count > 1 ? Double(fields[1]) ?? 100_000 : 100_000
        guard period > 0 else { return nil }
        return max / period
    }

    /// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` (quota -1 = no limit). Returns the
    /// quota in CPUs, nil for no limit or unreadable values.
    public static func quota(cgroupV1Quota quotaText: String, period periodText: String) -> Double? {
        let trim: (String) -> Substring = { $0.split(whereSeparator: { $0 == "\n" || $0 == " " }).first ?? "" }
        guard let quota = Double(trim(quotaText)), quota > 0,
              let period = Double(trim(periodText)), period > 0 else { return nil }
        return quota / period
    }

    /// The cgroup v2 directories that limit a process whose `/proc/self/cgroup` is `text` (the
    /// `0::/path` line), innermost first, ending at the root; empty when there is no v2 entry.
    public static func cgroupV2Directories(procSelfCgroup text: String, mount: String = "/sys/fs/cgroup") -> [String] {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else { return [] }
        var components = line.dropFirst(3).split(separator: "/").map(String.init)
        var out: [String] = []
        while true {
            out.append(components.isEmpty ? mount : mount + "/" + components.joined(separator: "/"))
            if components.isEmpty { break }
            components.removeLast()
        }
        return out
    }

    /// The smallest quota among `cpu.max` texts (nil entries: file missing); nil when none limits.
    public static func tightestQuota(_ texts: [String?]) -> Double? {
        texts.compactMap { $0.flatMap { quota(cgroupV2CPUMax: $0) } }.min()
    }

    /// Reads the online CPUs, the affinity mask and the cgroup (v2, else v1) quota.
    public static func current() -> CPUAllowance {
        let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let affinity = Int(cproxima_affinity_cpu_count())
        var quota: Double?
        if let cgroup = readSmallFile("/proc/self/cgroup") {
            let dirs = cgroupV2Directories(procSelfCgroup: cgroup)
            quota = tightestQuota(dirs.map { readSmallFile($0 + "/cpu.max") })
        }
        if quota == nil {
            for dir in ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"] {
                if let q = readSmallFile(dir + "/cpu.cfs_quota_us"), let p = readSmallFile(dir + "/cpu.cfs_period_us") {
                    quota = CPUAllowance.quota(cgroupV1Quota: q, period: p)
                    break
                }
            }
        }
        return CPUAllowance(online: online, affinity: affinity > 0 ? affinity : nil, quota: quota)
    }

    /// The first 4 KiB of a (proc or sysfs) file as text, or nil when it cannot be read.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: bytes[0..<n], as: UTF8.self)
    }
}
