import CoreMetrics
import DNSWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// UDP (fast path) and TCP listeners for a list of endpoints, run as one swift-service-lifecycle
/// `Service`: `run()` binds everything, serves until graceful shutdown (or cancellation), then
/// stops all listeners.
///
/// For each endpoint UDP binds first; when the port is 0 TCP then binds the port UDP got, so both
/// transports of one endpoint share a port (another ephemeral port is tried when TCP finds it
/// taken). Call `start()` first to learn the bound endpoints before handing the group to a
/// `ServiceGroup` (`run()` then serves what `start()` bound).
public final class DNSServerGroup: Service, Sendable {
    /// What to listen on and how.
    public struct Configuration: Sendable, Hashable {
        /// Addresses and ports to serve (port 0: ephemeral, shared by UDP and TCP).
        public var endpoints: [ServerEndpoint]
        /// UDP fast-path tuning, per endpoint.
        public var udp: UDPServer.Configuration
        /// TCP limits, per endpoint.
        public var tcp: TCPServer.Configuration
        /// Whether to serve TCP at all (RFC 7766 §5 says authoritative servers must; tests and
        /// benchmarks may turn it off).
        public var tcpEnabled: Bool

        /// Creates a configuration.
        public init(endpoints: [ServerEndpoint], udp: UDPServer.Configuration = .init(),
                    tcp: TCPServer.Configuration = .init(), tcpEnabled: Bool = true) {
            self.endpoints = endpoints
            self.udp = udp
            self.tcp = tcp
            self.tcpEnabled = tcpEnabled
        }
    }

    private enum Lifecycle {
        case idle
        case starting
        case running(udp: [UDPServer], tcp: [TCPServer], bound: [ServerEndpoint])
        case stopped
    }

    /// The configuration in effect.
    public let configuration: Configuration
    private let handler: any QueryHandler
    private let tcpHandler: any QueryHandler
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics: (any MetricsFactory)?
    private let state = Mutex<Lifecycle>(.idle)
    private let stopStarted = Mutex<ContinuousClock.Instant?>(nil)

    /// When `stop()` was first called (shutdown began), else nil.
    public var stopBegan: ContinuousClock.Instant? { stopStarted.withLock { $0 } }

    /// Creates the group; nothing is bound until `start()` or `run()`. `tcpHandler`, when given,
    /// makes the TCP event loops' workers (e.g. with smaller caches than the UDP threads').
    /// `metrics` receives the TCP listeners' connection metrics (`TCPServer`).
    public init(configuration: Configuration, handler: any QueryHandler,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "proxima.dns"), tcpHandler: (any QueryHandler)? = nil,
                metrics: (any MetricsFactory)? = nil) {
        self.metrics = metrics
        self.configuration = configuration
        self.handler = handler
        self.tcpHandler = tcpHandler ?? handler
        self.group = eventLoopGroup
        self.logger = logger
    }

    /// The endpoints actually bound (ports resolved), in configuration order; empty before start.
    public var boundEndpoints: [ServerEndpoint] {
        state.withLock { state in
            if case .running(_, _, let bound) = state { return bound }
            return []
        }
    }

    /// Replies the UDP threads sent inside segmented sends (UDP GSO groups of two or more).
    public var udpSegmentedDatagrams: Int {
        state.withLock { state in
            guard case .running(let udp, _, _) = state else { return 0 }
            return udp.reduce(0) { $0 + $1.segmentedDatagrams }
        }
    }

    /// Whether the kernel refused a segmented send on any UDP thread (which then sends replies one
    /// by one).
    public var udpSegmentationRefused: Bool {
        state.withLock { state in
            guard case .running(let udp, _, _) = state else { return false }
            return udp.contains { $0.gsoRefusal != nil }
        }
    }

    /// Binds UDP then TCP for every endpoint and starts serving; returns the bound endpoints.
    /// On any failure, whatever was already started is stopped and the error is rethrown.
    @discardableResult
    public func start() async throws -> [ServerEndpoint] {
        try state.withLock { state in
            guard case .idle = state else { throw DNSServerError(code: .invalidState, context: "start") }
            state = .starting
        }
        var udpServers: [UDPServer] = []
        var tcpServers: [TCPServer] = []
        var bound: [ServerEndpoint] = []
        do {
            for endpoint in configuration.endpoints {
                let (udp, tcp, udpBound) = try await bindPair(endpoint)
                udpServers.append(udp)
                if let tcp { tcpServers.append(tcp) }
                bound.append(udpBound)
                logger.info("DNS listening", metadata: [
                    "endpoint": "\(udpBound)", "udp_threads": "\(udp.threadCount)",
                    "udp_io": "\(udp.activeIO?.rawValue ?? "-")", "tcp": "\(configuration.tcpEnabled)",
                ])
                if let reason = udp.ioFallbackReason {
                    logger.warning("io_uring unavailable, UDP uses recvmmsg/sendmmsg", metadata: [
                        "endpoint": "\(udpBound)", "reason": "\(reason)",
                    ])
                }
            }
        } catch {
            for udp in udpServers { udp.stop() }
            for tcp in tcpServers { await tcp.stop() }
            state.withLock { $0 = .stopped }
            throw error
        }
        let stoppedMeanwhile = state.withLock { state -> Bool in
            guard case .starting = state else { return true }
            state = .running(udp: udpServers, tcp: tcpServers, bound: bound)
            return false
        }
        if stoppedMeanwhile {
            for udp in udpServers { udp.stop() }
            for tcp in tcpServers { await tcp.stop() }
            throw DNSServerError(code: .invalidState, context: "stopped during start")
        }
        return bound
    }

    /// How many ephemeral ports to try before giving up on an endpoint configured with port 0.
    static let ephemeralAttempts = 16

    /// Binds UDP, then TCP on the port UDP got. With port 0 the kernel picks a port free for UDP
    /// only; when TCP then finds it taken (an outgoing connection may hold it), both are released
    /// and another ephemeral port is tried. A configured port gets exactly one attempt.
    private func bindPair(_ endpoint: ServerEndpoint) async throws -> (UDPServer, TCPServer?, ServerEndpoint) {
        var attempt = 0
        while true {
            attempt += 1
            let udp = UDPServer(endpoint: endpoint, handler: handler, configuration: configuration.udp)
            let udpBound = try udp.start()
            guard configuration.tcpEnabled else { return (udp, nil, udpBound) }
            let tcp = TCPServer(endpoint: udpBound, handler: tcpHandler, group: group, configuration: configuration.tcp,
                                logger: logger, metrics: metrics)
            do {
                try await tcp.start()
                return (udp, tcp, udpBound)
            } catch let error as DNSServerError where error.code == .tcpBind && endpoint.port == 0
                && attempt < Self.ephemeralAttempts {
                udp.stop()
                logger.debug("ephemeral port taken for TCP; trying another", metadata: [
                    "endpoint": "\(udpBound)", "error": "\(error)",
                ])
            } catch {
                udp.stop()
                throw error
            }
        }
    }

    /// `Service.run()`: starts (unless `start()` was called), serves until graceful shutdown or
    /// task cancellation, then stops every listener.
    public func run() async throws {
        enum Next { case start, serve, finished }
        let next = state.withLock { state -> Next in
            switch state {
            case .idle: return .start
            case .starting, .running: return .serve
            case .stopped: return .finished
            }
        }
        switch next {
        case .start: try await start()
        case .serve: break
        case .finished: return
        }
        // Returns on graceful shutdown; throws CancellationError on cancellation. Either way we stop.
        try? await gracefulShutdown()
        await stop()
    }

    /// Stops all listeners. Every listening socket closes first (TCP listeners, then UDP sockets,
    /// woken and closed at once), so from then on clients are refused by the kernel rather than
    /// left waiting; then open TCP connections get at most `tcp.drainTimeout` to write the answers
    /// they owe. Safe to call twice.
    public func stop() async {
        stopStarted.withLock { $0 = $0 ?? ContinuousClock.now }
        let servers: ([UDPServer], [TCPServer]) = state.withLock { state in
            defer { state = .stopped }
            if case .running(let udp, let tcp, _) = state { return (udp, tcp) }
            return ([], [])
        }
        for tcp in servers.1 { await tcp.closeListener() }
        for udp in servers.0 { udp.stop() }
        for tcp in servers.1 { await tcp.stop() }
        if !servers.0.isEmpty { logger.info("DNS listeners stopped") }
    }

    /// DNS TCP connections open now over every listener.
    public var tcpConnectionsOpen: Int {
        let servers = state.withLock { state -> [TCPServer] in
            if case .running(_, let tcp, _) = state { return tcp }
            return []
        }
        return servers.reduce(0) { $0 + $1.connectionCount }
    }

    /// What the TCP listeners refused and failed since they started, summed.
    public var tcpStatistics: TCPServerStatistics {
        let servers = state.withLock { state -> [TCPServer] in
            if case .running(_, let tcp, _) = state { return tcp }
            return []
        }
        var total = TCPServerStatistics()
        for s in servers.map(\.statistics) {
            total.refusedPerAddress += s.refusedPerAddress
            total.refusedFull += s.refusedFull
            total.evictedIdle += s.evictedIdle
            total.queryTimeouts += s.queryTimeouts
            total.acceptFailures += s.acceptFailures
        }
        return total
    }
}
