import AdminAPI
import DNSServer
import Logging
import NIOCore
import ProximaConfig
import QueryEngine

extension ProximaServer {
    /// Limits derived at start from the host rather than configured per host (#8.7, #14.1).
    struct ResourceLimits {
        /// UDP threads per listen address (`udp_threads`, or the usable CPUs).
        var udpThreads: Int
        /// How file descriptors are shared out.
        var descriptors: DescriptorBudget
        /// Bytes of each UDP thread's location table.
        var udpTableBytes: Int
        /// Bytes of each TCP event loop's location table.
        var tcpTableBytes: Int
    }

    /// Raises the descriptor limit, sizes the connection caps and the per-thread tables, and logs
    /// what it decided (one line each) so an operator can see why a cap is lower than configured.
    static func resourceLimits(_ config: ProximaConfiguration, logger: Logger) -> ResourceLimits {
        let cpus = CPUAllowance.current()
        let udpThreads = config.udpThreads > 0 ? config.udpThreads : cpus.count
        let fd = DescriptorLimit.raiseSoftToHard()
        logger.info("file descriptor limit", metadata: [
            "soft": "\(fd.after)", "soft_at_start": "\(fd.before)", "hard": "\(fd.hard == .max ? "unlimited" : "\(fd.hard)")",
        ])
        let listeners = config.listen.count
        let budget = DescriptorBudget.compute(limit: fd.after, needs: .init(
            // The forwarder holds at most one upstream socket per pending question (`max_pending`).
            openNow: DescriptorLimit.openCount(), listeners: listeners,
            udpSockets: listeners * udpThreads + (config.forward?.maxPending ?? 0),
            adminEnabled: config.admin != nil, tcpWanted: config.tcp.maxConnections,
            adminWanted: config.admin?.maxConnections ?? 0))
        if budget.tcpPerListener < config.tcp.maxConnections {
            logger.warning("tcp.max_connections lowered to fit the file descriptor limit", metadata: [
                "configured": "\(config.tcp.maxConnections)", "effective": "\(budget.tcpPerListener)",
                "descriptor_limit": "\(fd.after)",
            ])
        }
        logger.info("file descriptor budget", metadata: [
            "tcp_per_listener": "\(budget.tcpPerListener)", "listeners": "\(listeners)", "admin": "\(budget.admin)",
            "reserved": "\(budget.reserved)", "limit": "\(budget.limit)",
        ])
        let tables = FastPathMemory.split(config.fastPath.memory, udpThreads: listeners * udpThreads,
                                          tcpLoops: System.coreCount)
        logger.info("fast path", metadata: [
            "cpus": "\(cpus.count)", "cpus_online": "\(cpus.online)", "udp_threads_per_listener": "\(udpThreads)",
            "tcp_loops": "\(System.coreCount)", "memory": "\(config.fastPath.memory.byteSizeConfigText)",
            "udp_table": "\((AnswerCache.locationSlots(forBytes: tables.udp) * 64).byteSizeConfigText)",
            "tcp_table": "\((AnswerCache.locationSlots(forBytes: tables.tcp) * 64).byteSizeConfigText)",
        ])
        return ResourceLimits(udpThreads: udpThreads, descriptors: budget, udpTableBytes: tables.udp, tcpTableBytes: tables.tcp)
    }
}

/// How `fast_path.memory` is divided among the per-thread location tables (#8.7).
public enum FastPathMemory {
    /// A TCP event loop's share relative to a UDP thread's: TCP carries a small part of the
    /// queries and allocates its table only on its first routed query, so it gets a quarter.
    public static let tcpWeight = 1
    public static let udpWeight = 4

    /// Bytes per UDP thread and per TCP loop; together never more than `memory`.
    public static func split(_ memory: Int, udpThreads: Int, tcpLoops: Int) -> (udp: Int, tcp: Int) {
        let units = max(1, udpThreads * udpWeight + tcpLoops * tcpWeight)
        let unit = memory / units
        return (unit * udpWeight, unit * tcpWeight)
    }
}

extension UDPIO {
    /// The DNS server's spelling of the same choice.
    var serverMode: UDPServer.IOMode {
        switch self {
        case .auto: .auto
        case .uring: .uring
        case .mmsg: .mmsg
        }
    }
}
