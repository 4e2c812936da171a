#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CoreMetrics
import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// DNS over TCP (RFC 1035 §4.2.2, RFC 7766) on SwiftNIO: length-prefixed frames, several queries
/// per connection (pipelined, answered in order), and bounds on every cost a client can impose
/// (issue #8): an idle timeout, a deadline for each query frame, a per-address and a total
/// connection cap with longest-idle eviction (`TCPConnectionTable`), a cap on answers pending per
/// connection with reads paused while writes do not drain, and a back-off when accept(2) fails
/// for lack of descriptors.
///
/// One `QueryWorker` per event loop, created lazily on that loop; connections on a loop share it
/// and its 64 KiB response buffer.
public final class TCPServer: Sendable {
    /// Limits and timeouts for the TCP listener (STYLE §10: every cost a client can impose is bounded).
    public struct Configuration: Sendable, Hashable {
        /// A connection with no reads or writes for this long is closed (RFC 7766 §6.2.3).
        public var idleTimeout: Duration
        /// Concurrent connections allowed on this listener. When full, the longest-idle connection
        /// is closed to make room; a new one is refused only when all are busy.
        public var maxConnections: Int
        /// Largest DNS message accepted in one frame (at most 65535).
        public var maxFrameLength: Int
        /// listen(2) backlog.
        public var backlog: Int32
        /// A query frame must be complete this long after its first byte arrived, or the
        /// connection is closed (a client trickling bytes cannot hold a slot).
        public var queryTimeout: Duration
        /// Concurrent connections allowed from one client address.
        public var maxConnectionsPerAddress: Int
        /// Answers written but not yet handed to the kernel, per connection; at the cap (or while
        /// the channel is not writable) the connection is not read.
        public var maxPipelined: Int
        /// On stop, how long open connections may take to send answers already in flight.
        public var drainTimeout: Duration
        /// How long accepting pauses after accept(2) fails for lack of descriptors or memory.
        public var acceptBackoff: Duration

        /// Defaults: 10 s idle timeout, 1024 connections, 65535-byte frames, backlog 256, 5 s per
        /// query, 16 connections per address, 64 pipelined answers, 1 s drain, 100 ms accept back-off.
        public init(idleTimeout: Duration = .seconds(10), maxConnections: Int = 1024,
                    maxFrameLength: Int = 65535, backlog: Int32 = 256,
                    queryTimeout: Duration = .seconds(5), maxConnectionsPerAddress: Int = 16,
                    maxPipelined: Int = 64, drainTimeout: Duration = .seconds(1),
                    acceptBackoff: Duration = .milliseconds(100)) {
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
            self.maxFrameLength = maxFrameLength
            self.backlog = backlog
            self.queryTimeout = queryTimeout
            self.maxConnectionsPerAddress = maxConnectionsPerAddress
            self.maxPipelined = maxPipelined
            self.drainTimeout = drainTimeout
            self.acceptBackoff = acceptBackoff
        }
    }

    private enum Lifecycle {
        case idle
        case starting
        case running(bound: ServerEndpoint, channel: any Channel)
        case stopped
    }

    /// The endpoint as configured (port 0 = ephemeral).
    public let endpoint: ServerEndpoint
    /// The limits in effect.
    public let configuration: Configuration
    private let handler: any QueryHandler
    private let group: any EventLoopGroup
    private let state = Mutex<Lifecycle>(.idle)
    private let connections: TCPConnectionRegistry
    private let workers: TCPLoopWorkers
    private let acceptFailures: TCPAcceptFailures

    /// Bytes read from one connection per event-loop turn. 1 KiB holds 20 to 50 typical queries;
    /// a large frame (up to 65535 bytes) simply takes several turns.
    static let readChunkBytes = 1024

    /// Creates a TCP listener for `endpoint` on `group`; nothing is bound until `start()`.
    /// Refusals and accept failures are logged to `logger` at most once per 10 s, with counts.
    /// With `metrics`, open connections, refusals, evictions and query timeouts are also
    /// recorded there (`TCPMetrics`).
    public init(endpoint: ServerEndpoint, handler: any QueryHandler,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "proxima.dns.tcp"), metrics: (any MetricsFactory)? = nil) {
        self.endpoint = endpoint
        self.handler = handler
        self.group = group
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "endpoint"] = "\(endpoint)"
        self.connections = TCPConnectionRegistry(
            table: TCPConnectionTable(maxConnections: configuration.maxConnections,
                                      maxPerAddress: configuration.maxConnectionsPerAddress,
                                      stalledAfter: min(configuration.queryTimeout, .seconds(1))),
            logger: logger, metrics: metrics.map { TCPMetrics(factory: $0) })
        self.workers = TCPLoopWorkers(handler: handler)
        self.acceptFailures = TCPAcceptFailures(logger: logger)
    }

    /// The address and real port once started, else nil.
    public var boundEndpoint: ServerEndpoint? {
        state.withLock { state in
            if case .running(let bound, _) = state { return bound }
            return nil
        }
    }

    /// Connections currently open (accepted and not yet closed, excluding refused ones).
    public var connectionCount: Int { connections.count }

    /// What this listener has refused, evicted and failed to accept since it started.
    public var statistics: TCPServerStatistics {
        var s = connections.statistics
        s.acceptFailures = acceptFailures.total
        return s
    }

    /// Binds and starts accepting; returns the bound endpoint.
    @discardableResult
    public func start() async throws -> ServerEndpoint {
        try state.withLock { state in
            guard case .idle = state else {
                throw DNSServerError(code: .invalidState, endpoint: endpoint, context: "start")
            }
            state = .starting
        }
        let connections = self.connections
        let workers = self.workers
        let configuration = self.configuration
        let acceptFailures = self.acceptFailures
        let idle = TimeAmount.nanoseconds(configuration.idleTimeout.clampedNanoseconds)
        let backoff = TimeAmount.nanoseconds(configuration.acceptBackoff.clampedNanoseconds)
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // ServerBootstrap.bind(to:) adds no accept back-off: without one, accept(2)
                // failing with EMFILE leaves the listener readable and the loop spins (#14.1).
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptBackoffHandler(shouldForwardIOErrorCaught: false) { error in
                            acceptFailures.record(error)
                            return backoff
                        })
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Fairness (a client pipelining thousands of queries must not monopolise its event
            // loop and starve accepts and other connections): one read of at most
            // `readChunkBytes` per connection per event-loop turn, and every frame in it is
            // answered before the next read, so a connection costs at most that many bytes of
            // queries (≤ readChunkBytes / 19 frames) per turn; the rest waits in the kernel.
            // Small reads also keep the bytes a connection holds in user space small.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: TCPServer.readChunkBytes))
            .childChannelInitializer { channel in
                guard connections.admit(channel) else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    let worker = workers.worker(for: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(allTimeout: idle),
                        TCPQueryHandler(worker: worker, configuration: configuration, registry: connections),
                    ])
                }
            }
        if case .v6 = endpoint.address {
            bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only),
                                                   value: 1)
        }
        do {
            let address = try endpoint.socketAddress()
            let channel = try await bootstrap.bind(to: address).get()
            var bound = endpoint
            if let port = channel.localAddress?.port { bound.port = UInt16(clamping: port) }
            let stoppedMeanwhile = state.withLock { state -> Bool in
                if case .starting = state { state = .running(bound: bound, channel: channel); return false }
                return true
            }
            if stoppedMeanwhile {
                try? await channel.close()
                throw DNSServerError(code: .invalidState, endpoint: endpoint, context: "stopped during start")
            }
            return bound
        } catch let error as DNSServerError {
            throw error
        } catch {
            state.withLock { $0 = .stopped }
            throw DNSServerError(code: .tcpBind, endpoint: endpoint, context: "\(error)")
        }
    }

    /// Stops accepting: closes the listening socket, so new connections are refused by the kernel
    /// at once. Open connections keep being served until `stop()`. Safe to call more than once.
    public func closeListener() async {
        let channel: (any Channel)? = state.withLock { state in
            if case .running(_, let channel) = state { return channel }
            return nil
        }
        if let channel { try? await channel.close() }
    }

    /// Stops accepting, lets open connections finish writing the answers they owe (reads stop;
    /// at most `Configuration.drainTimeout`), then closes them all. Safe to call more than once.
    public func stop() async {
        await closeListener()
        state.withLock { $0 = .stopped }
        await connections.drainAndCloseAll(timeout: configuration.drainTimeout)
    }
}

/// What one TCP listener refused and failed since it started (counters for logs and metrics).
public struct TCPServerStatistics: Sendable, Hashable {
    /// New connections closed because their address held `maxConnectionsPerAddress`.
    public var refusedPerAddress: UInt64 = 0
    /// New connections closed because the table was full of busy connections.
    public var refusedFull: UInt64 = 0
    /// Idle connections closed to make room for a new one.
    public var evictedIdle: UInt64 = 0
    /// Connections closed because a query frame was not complete within the query timeout.
    public var queryTimeouts: UInt64 = 0
    /// accept(2) failures (EMFILE, ENFILE, ENOBUFS, ENOMEM), each followed by a back-off.
    public var acceptFailures: UInt64 = 0

    public init() {}
}

extension ServerEndpoint {
    /// The NIO socket address for this endpoint.
    func socketAddress() throws -> SocketAddress {
        var storage = sockaddr_storage()
        _ = address.encode(port: port, into: &storage)
        switch address {
        case .v4:
            let sin = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            return SocketAddress(sin, host: address.description)
        case .v6:
            let sin6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            return SocketAddress(sin6, host: address.description)
        }
    }
}

extension ClientEndpoint {
    /// The client as seen by a TCP channel, or nil when the channel has no IP peer address.
    init?(tcpPeer address: SocketAddress?) {
        guard let address else { return nil }
        let decoded: (IPAddress, UInt16)?
        switch address {
        case .v4(let a):
            var sin = a.address
            decoded = withUnsafeBytes(of: &sin) { IPAddress.decode(sockaddr: $0.baseAddress!) }
        case .v6(let a):
            var sin6 = a.address
            decoded = withUnsafeBytes(of: &sin6) { IPAddress.decode(sockaddr: $0.baseAddress!) }
        case .unixDomainSocket:
            decoded = nil
        }
        guard let (ip, port) = decoded else { return nil }
        self.init(address: ip, port: port, transport: .tcp)
    }
}

extension Duration {
    /// This duration in whole nanoseconds, saturating at the `Int64` range.
    var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : scaled + attoseconds / 1_000_000_000
    }
}
