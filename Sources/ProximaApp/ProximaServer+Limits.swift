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
        /// Bytes of each worker's location table (`fast_path.memory` / workers).
        var locationTableBytes: Int
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
            openNow: DescriptorLimit.openCount(), listeners: listeners, udpSockets: listeners * udpThreads,
            adminEnabled: config.admin != nil, tcpWanted: config.tcp.maxConnections,
            adminWanted: AdminServerConfiguration().maxConnections))
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
        // One answer cache per UDP thread and per TCP event loop.
        let workers = listeners * udpThreads + System.coreCount
        let perWorker = config.fastPath.memory / max(1, workers)
        let slots = AnswerCache.locationSlots(forBytes: perWorker)
        logger.info("fast path", metadata: [
            "cpus": "\(cpus.count)", "cpus_online": "\(cpus.online)", "udp_threads_per_listener": "\(udpThreads)",
            "workers": "\(workers)", "memory": "\(config.fastPath.memory.byteSizeConfigText)",
            "table_per_worker": "\((slots * 64).byteSizeConfigText)",
        ])
        return ResourceLimits(udpThreads: udpThreads, descriptors: budget, locationTableBytes: perWorker)
    }
}
