#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CProximaNet
import DNSWire
import Synchronization

/// The UDP fast path (DESIGN §5): one OS thread per core, each with its own `SO_REUSEPORT` socket
/// bound to the same address, answering batches of up to 64 datagrams per `recvmmsg`/`sendmmsg`
/// pair, or (issue #12, `IOMode`) per io_uring submission: a multishot receive over provided
/// buffers whose replies go out in the same `io_uring_enter` that waits for the next batch.
/// SwiftNIO's datagram pipeline costs more per packet than all of gdnsd, so UDP does not go
/// through NIO; TCP does (`TCPServer`).
///
/// Each thread owns one `QueryWorker` (from `QueryHandler.makeWorker()`, called on that thread)
/// and preallocated receive/response buffers, so the loop takes no locks and allocates nothing
/// per packet. `stop()` wakes the threads with shutdown(2), joins them and closes the sockets.
public final class UDPServer: Sendable {
    /// How the worker threads move datagrams.
    public enum IOMode: String, Sendable, Hashable, CaseIterable {
        /// io_uring where the kernel offers it, else `recvmmsg`/`sendmmsg` (the reason is logged).
        case auto
        /// io_uring only: `start()` fails when it cannot be set up.
        case uring
        /// `recvmmsg`/`sendmmsg` only.
        case mmsg
    }

    /// Tuning for the UDP fast path.
    public struct Configuration: Sendable, Hashable {
        /// Worker threads (and sockets) for the endpoint; 0 means one per usable CPU
        /// (`CPUAllowance`: online, affinity mask and cgroup quota).
        public var threads: Int
        /// Datagrams per `recvmmsg`/`sendmmsg` call.
        public var batchSize: Int
        /// Receive buffer per datagram. Longer queries are truncated by the kernel and dropped.
        public var queryBufferSize: Int
        /// Response buffer per datagram handed to the worker (it caps answers to the client's EDNS
        /// payload size; this only has to be at least the configured maximum UDP payload).
        public var responseBufferSize: Int
        /// Requested SO_RCVBUF / SO_SNDBUF in bytes (the kernel may clamp them).
        public var socketBufferBytes: Int
        /// How long a blocked receive waits before re-checking the stop flag (SO_RCVTIMEO).
        public var stopPollInterval: Duration
        /// io_uring, `recvmmsg`/`sendmmsg`, or the first that works.
        public var io: IOMode
        /// Coalesce the replies of one batch that go to the same client address and have the same
        /// length into one UDP generic segmentation offload send (`UDP_SEGMENT`, Linux 4.18+): the
        /// kernel walks its send path once for the group and cuts it into datagrams at the end.
        /// Pays when one client address sends many queries at once (a DNS proxy or load balancer
        /// in front, a forwarder with a few sockets); costs a few comparisons per reply otherwise.
        /// A send the kernel refuses (no checksum offload on the route, an MTU below the segment)
        /// is resent datagram by datagram; a thread stops grouping when the refusal says it cannot
        /// work or after 16 refusals. `recvmmsg` path only.
        public var gso: Bool
        /// Test hook: SO_NO_CHECK on the sockets, which makes the kernel refuse segmented sends
        /// (a real refusal, to exercise the fallback).
        package var refuseSegmentation: Bool = false
        /// io_uring receive buffers per thread (each `queryBufferSize` bytes plus a reply area of
        /// `responseBufferSize` bytes, touched only as far as replies reach): the bound on datagrams
        /// a thread holds. The kernel wants a power of two up to 32768; anything else makes the
        /// ring's setup fail (and `auto` fall back).
        public var uringBuffers: Int

        /// Defaults: one thread per CPU, 64 per batch, 4 KiB queries, 64 KiB responses, 8 MiB
        /// socket buffers, 200 ms stop latency, `recvmmsg`/`sendmmsg` (io_uring cost more CPU per
        /// query on the benchmark, docs/benchmarks.md) with 256 buffers should io_uring be chosen.
        public init(threads: Int = 0, batchSize: Int = 64, queryBufferSize: Int = 4096,
                    responseBufferSize: Int = 65535, socketBufferBytes: Int = 8 << 20,
                    stopPollInterval: Duration = .milliseconds(200), io: IOMode = .mmsg, uringBuffers: Int = 256,
                    gso: Bool = true) {
            self.io = io
            self.gso = gso
            self.uringBuffers = uringBuffers
            self.threads = threads
            self.batchSize = batchSize
            self.queryBufferSize = queryBufferSize
            self.responseBufferSize = responseBufferSize
            self.socketBufferBytes = socketBufferBytes
            self.stopPollInterval = stopPollInterval
        }
    }

    private enum Lifecycle {
        case idle
        case running(bound: ServerEndpoint, threads: [UDPWorkerThread], io: IOMode, fallback: String?)
        case stopped
    }

    /// The endpoint as configured (port 0 = ephemeral).
    public let endpoint: ServerEndpoint
    /// The tuning in effect.
    public let configuration: Configuration
    private let handler: any QueryHandler
    private let state = Mutex<Lifecycle>(.idle)

    /// Creates a server for `endpoint`; nothing is bound until `start()`.
    public init(endpoint: ServerEndpoint, handler: any QueryHandler,
                configuration: Configuration = Configuration()) {
        self.endpoint = endpoint
        self.handler = handler
        self.configuration = configuration
    }

    /// The address and real port once started (port 0 resolved), else nil.
    public var boundEndpoint: ServerEndpoint? {
        state.withLock { state in
            if case .running(let bound, _, _, _) = state { return bound }
            return nil
        }
    }

    /// What the running threads use: `.uring` or `.mmsg` (never `.auto`); nil when not running.
    public var activeIO: IOMode? {
        state.withLock { state in
            if case .running(_, _, let io, _) = state { return io }
            return nil
        }
    }

    /// Why `auto` fell back to `recvmmsg`/`sendmmsg` (the failing step and errno), when it did.
    public var ioFallbackReason: String? {
        state.withLock { state in
            if case .running(_, _, _, let reason) = state { return reason }
            return nil
        }
    }

    /// The errno of the first segmented (GSO) send the kernel refused on any thread; nil while none
    /// was refused.
    public var gsoRefusal: Int32? {
        state.withLock { state in
            guard case .running(_, let threads, _, _) = state else { return nil }
            return threads.lazy.map { $0.gsoRefusal.load(ordering: .relaxed) }.first { $0 != 0 }
        }
    }

    /// Segmented sends the kernel refused, summed over the threads (each refused group was sent
    /// datagram by datagram).
    public var gsoRefusals: Int {
        state.withLock { state in
            guard case .running(_, let threads, _, _) = state else { return 0 }
            return threads.reduce(0) { $0 + $1.gsoRefusals.load(ordering: .relaxed) }
        }
    }

    /// Datagrams sent as members of segmented sends (UDP GSO groups of two or more) since start.
    public var segmentedDatagrams: Int {
        state.withLock { state in
            guard case .running(_, let threads, _, _) = state else { return 0 }
            return threads.reduce(0) { $0 + $1.segmentedDatagrams.load(ordering: .relaxed) }
        }
    }

    /// Number of worker threads currently running.
    public var threadCount: Int {
        state.withLock { state in
            if case .running(_, let threads, _, _) = state { return threads.count }
            return 0
        }
    }

    /// Binds the sockets and starts the worker threads; returns the bound endpoint. When the
    /// configured port is 0 the first socket takes an ephemeral port and the others bind to it.
    @discardableResult
    public func start() throws -> ServerEndpoint {
        try state.withLock { state in
            guard case .idle = state else {
                throw DNSServerError(code: .invalidState, endpoint: endpoint, context: "start")
            }
            let count = configuration.threads > 0 ? configuration.threads : CPUAllowance.current().count
            var sockets: [UDPSocket] = []
            var bound = endpoint
            for _ in 0..<count {
                let socket = try UDPSocket(endpoint: bound, configuration: configuration)
                if bound.port == 0 { bound.port = try socket.localPort(endpoint: bound) }
                sockets.append(socket)
            }
            var threads: [UDPWorkerThread] = []
            func abandon() {
                for t in threads { t.requestStop() }
                for t in threads { t.wake() }
                for t in threads { t.join() }
            }
            for socket in sockets {
                let thread = UDPWorkerThread(socket: socket, handler: handler, configuration: configuration)
                do {
                    try thread.start()
                } catch {
                    abandon()
                    throw error
                }
                threads.append(thread)
                if let failure = thread.uringFailure, configuration.io == .uring {
                    abandon()
                    throw DNSServerError(code: .ioUring, endpoint: bound, errno: failure.errno, context: failure.step)
                }
            }
            let fallback = threads.lazy.compactMap(\.uringFailure).first.map { "\($0.step): errno \($0.errno)" }
            state = .running(bound: bound, threads: threads, io: threads.first?.io ?? .mmsg, fallback: fallback)
            return bound
        }
    }

    /// Stops receiving, joins the worker threads and releases the sockets (a socket stays open
    /// while a `ReplySink` of a deferred answer still holds it). Safe to call more than once.
    public func stop() {
        let threads: [UDPWorkerThread] = state.withLock { state in
            defer { state = .stopped }
            if case .running(_, let threads, _, _) = state { return threads }
            return []
        }
        // Wake threads blocked in recvmmsg at once (shutdown(2) on the socket) instead of after
        // their receive timeout; the sockets close, freeing the port, when the threads are gone.
        for t in threads { t.requestStop() }
        for t in threads { t.wake() }
        for t in threads { t.join() }
    }

    deinit {
        stop()
    }
}

/// One bound UDP socket. The descriptor is closed when the last reference goes away, so a
/// `ReplySink` held by a deferred answer can never write to a reused descriptor number.
final class UDPSocket: Sendable {
    let fd: Int32
    let isIPv6: Bool

    init(endpoint: ServerEndpoint, configuration: UDPServer.Configuration) throws {
        let isIPv6: Bool
        if case .v6 = endpoint.address { isIPv6 = true } else { isIPv6 = false }
        let fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw DNSServerError(code: .socketCreation, endpoint: endpoint, errno: errno, context: "socket")
        }
        func setOption(_ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
            var v = value
            return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
        }
        func fail(_ code: DNSServerError.Code, _ what: String) -> DNSServerError {
            let e = errno
            close(fd)
            return DNSServerError(code: code, endpoint: endpoint, errno: e, context: what)
        }
        guard setOption(SOL_SOCKET, SO_REUSEPORT, 1) else { throw fail(.socketOption, "SO_REUSEPORT") }
        if isIPv6 {
            guard setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) else { throw fail(.socketOption, "IPV6_V6ONLY") }
        }
        // Large buffers absorb bursts between batches. The FORCE variants exceed rmem_max when
        // privileged; otherwise the kernel clamps the plain request. Neither failure is fatal.
        let bufferBytes = Int32(clamping: configuration.socketBufferBytes)
        if !setOption(SOL_SOCKET, SO_RCVBUFFORCE, bufferBytes) { _ = setOption(SOL_SOCKET, SO_RCVBUF, bufferBytes) }
        if !setOption(SOL_SOCKET, SO_SNDBUFFORCE, bufferBytes) { _ = setOption(SOL_SOCKET, SO_SNDBUF, bufferBytes) }
        // The receive timeout bounds how long a worker sleeps before it sees the stop flag; the
        // send timeout bounds a blocked send when the socket buffer is full.
        let (seconds, attoseconds) = configuration.stopPollInterval.components
        var tv = timeval(tv_sec: Int(max(0, seconds)), tv_usec: Int(max(0, attoseconds) / 1_000_000_000_000))
        if tv.tv_sec == 0 && tv.tv_usec == 0 { tv.tv_usec = 1000 }
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0,
              setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0
        else { throw fail(.socketOption, "SO_RCVTIMEO") }
        if configuration.refuseSegmentation {
            guard cproxima_set_udp_no_check(fd, 1) == 0 else { throw fail(.socketOption, "SO_NO_CHECK") }
        }

        var storage = sockaddr_storage()
        let length = endpoint.address.encode(port: endpoint.port, into: &storage)
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else { throw fail(.bind, "bind") }
        self.fd = fd
        self.isIPv6 = isIPv6
    }

    /// The port the kernel assigned (getsockname).
    func localPort(endpoint: ServerEndpoint) throws -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, let (_, port) = withUnsafeBytes(of: &storage, { IPAddress.decode(sockaddr: $0.baseAddress!) })
        else { throw DNSServerError(code: .addressReadback, endpoint: endpoint, errno: errno, context: "getsockname") }
        return port
    }

    deinit {
        close(fd)
    }
}

/// Sends deferred (`QueryDisposition.later`) UDP answers with `sendto(2)` on the socket the query
/// arrived on, so the client sees the reply from the address it asked. Safe from any thread.
struct UDPReplySink: ReplySink {
    let socket: UDPSocket

    func send(_ response: [UInt8], to client: ClientEndpoint) {
        var storage = sockaddr_storage()
        let length = client.address.encode(port: client.port, into: &storage, asIPv6: socket.isIPv6)
        _ = response.withUnsafeBytes { bytes in
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(socket.fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
    }
}
