#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire
import NIOCore
import NIOPosix
import Synchronization

/// DNS over TCP (RFC 1035 §4.2.2, RFC 7766) on SwiftNIO: length-prefixed frames, several queries
/// per connection (pipelined, answered in order), an idle timeout, and a cap on concurrent
/// connections (a connection over the cap is closed as soon as it is accepted).
///
/// One `QueryWorker` per event loop, created lazily on that loop; connections on a loop share it
/// and its 64 KiB response buffer.
public final class TCPServer: Sendable {
    /// Limits and timeouts for the TCP listener (STYLE §10: every cost a client can impose is bounded).
    public struct Configuration: Sendable, Hashable {
        /// A connection with no reads or writes for this long is closed (RFC 7766 §6.2.3).
        public var idleTimeout: Duration
        /// Concurrent connections allowed on this listener; new ones beyond it are closed at once.
        public var maxConnections: Int
        /// Largest DNS message accepted in one frame (at most 65535).
        public var maxFrameLength: Int
        /// listen(2) backlog.
        public var backlog: Int32

        /// Defaults: 10 s idle timeout, 1024 connections, 65535-byte frames, backlog 256.
        public init(idleTimeout: Duration = .seconds(10), maxConnections: Int = 1024,
                    maxFrameLength: Int = 65535, backlog: Int32 = 256) {
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
            self.maxFrameLength = maxFrameLength
            self.backlog = backlog
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

    /// Creates a TCP listener for `endpoint` on `group`; nothing is bound until `start()`.
    public init(endpoint: ServerEndpoint, handler: any QueryHandler,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                configuration: Configuration = Configuration()) {
        self.endpoint = endpoint
        self.handler = handler
        self.group = group
        self.configuration = configuration
        self.connections = TCPConnectionRegistry(limit: configuration.maxConnections)
        self.workers = TCPLoopWorkers(handler: handler)
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
        let idle = TimeAmount.nanoseconds(configuration.idleTimeout.clampedNanoseconds)
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                guard connections.admit(channel) else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    let worker = workers.worker(for: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(allTimeout: idle),
                        TCPQueryHandler(worker: worker, maxFrameLength: configuration.maxFrameLength),
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

    /// Stops accepting and closes every open connection. Safe to call more than once.
    public func stop() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .stopped }
            if case .running(_, let channel) = state { return channel }
            return nil
        }
        if let channel { try? await channel.close() }
        await connections.closeAll()
    }
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
