import DNSWire
import NIOCore
import NIOPosix
import Synchronization

/// Counters of the forwarder, summed on scrape (all relaxed atomics).
public final class ForwarderStats: Sendable {
    /// Questions sent to upstreams (UDP and TCP), per attempt.
    public let upstreamQueries = Atomic<Int>(0)
    /// Replies dropped because their source, ID or question did not match the query (RFC 5452 §9.1).
    public let mismatchedReplies = Atomic<Int>(0)
    /// Replies from the right upstream that could not be parsed or relayed (the upstream is skipped).
    public let garbageReplies = Atomic<Int>(0)
    /// Upstream attempts that timed out.
    public let timeouts = Atomic<Int>(0)
    /// Upstream answers of SERVFAIL/REFUSED/NOTIMP (the next upstream is tried).
    public let upstreamFailures = Atomic<Int>(0)
    /// Retries over TCP after a truncated UDP reply.
    public let tcpRetries = Atomic<Int>(0)
    /// Answered from the cache.
    public let cacheHits = Atomic<Int>(0)
    /// Clients answered SERVFAIL because every upstream failed or the pending bound was reached.
    public let servFails = Atomic<Int>(0)
    /// Questions refused a pending slot (counted in `servFails` too).
    public let overloaded = Atomic<Int>(0)

    public init() {}

    /// Counts one SERVFAIL sent to a client.
    public func countServFail() { servFails.add(1, ordering: .relaxed) }

    @inline(__always) static func bump(_ a: borrowing Atomic<Int>) { a.add(1, ordering: .relaxed) }
}

/// Sends one question to one upstream and returns its validated reply bytes.
///
/// Each UDP attempt uses a fresh socket bound to port 0, so the kernel draws a random source port
/// (Linux picks ephemeral UDP ports at random), and a random query ID (RFC 5452 §9.2); a reply
/// counts only when it comes from the upstream's address and port with our ID and question
/// (RFC 5452 §9.1). Anything else is dropped and counted, and we keep waiting until the timeout.
struct UpstreamClient: Sendable {
    let group: any EventLoopGroup
    let stats: ForwarderStats

    /// The query we send: ID, RD=1, the question, EDNS with a 1232-byte payload (RFC 6891; the
    /// DNS flag day 2020 size) and no options.
    static func query(id: UInt16, question: Question) -> [UInt8] {
        Message(header: Header(id: id, recursionDesired: true), questions: [question],
                edns: EDNS(udpPayloadSize: 1232)).serialized()
    }

    /// True when `bytes` is a response to our `id` and `question` (QR=1, same ID, one question
    /// equal case-insensitively).
    static func matches(_ bytes: [UInt8], id: UInt16, question: Question) -> Bool {
        guard bytes.count >= 12, UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == id, bytes[2] & 0x80 != 0,
              bytes[4] == 0, bytes[5] == 1 else { return false }
        var r = WireReader(bytes: bytes, offset: 12)
        guard let q = try? r.question() else { return false }
        return q.name == question.name && q.type == question.type && q.qclass == question.qclass
    }

    func udp(_ question: Question, to upstream: SocketAddress, timeout: TimeAmount) async throws -> [UInt8] {
        let id = UInt16.random(in: 0...UInt16.max)
        let packet = Self.query(id: id, question: question)
        let stats = self.stats
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let bootstrap = DatagramBootstrap(group: loop).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    UDPReplyHandler(expected: upstream, id: id, question: question, promise: promise, stats: stats))
            }
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: upstream.protocol == .inet6 ? "::" : "0.0.0.0", port: 0).get()
        } catch {
            throw ForwarderError(.socket, "UDP bind: \(error)")
        }
        let timer = loop.scheduleTask(in: timeout) { promise.fail(ForwarderError(.timeout, "no UDP reply from \(upstream)")) }
        var buffer = channel.allocator.buffer(capacity: packet.count)
        buffer.writeBytes(packet)
        ForwarderStats.bump(stats.upstreamQueries)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: buffer)).whenFailure { error in
            promise.fail(ForwarderError(.socket, "UDP send to \(upstream): \(error)"))
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    func tcp(_ question: Question, to upstream: SocketAddress, timeout: TimeAmount) async throws -> [UInt8] {
        let id = UInt16.random(in: 0...UInt16.max)
        let packet = Self.query(id: id, question: question)
        let stats = self.stats
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let timer = loop.scheduleTask(in: timeout) { promise.fail(ForwarderError(.timeout, "no TCP reply from \(upstream)")) }
        defer { timer.cancel() }
        let bootstrap = ClientBootstrap(group: loop).connectTimeout(timeout).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    TCPReplyHandler(query: packet, id: id, question: question, promise: promise, stats: stats))
            }
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(to: upstream).get()
        } catch {
            promise.fail(ForwarderError(.socket, "TCP connect to \(upstream): \(error)"))
            throw ForwarderError(.socket, "TCP connect to \(upstream): \(error)")
        }
        ForwarderStats.bump(stats.upstreamQueries)
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }
}

/// Takes the first datagram from the upstream's address and port that answers our ID and
/// question; counts and ignores the rest.
final class UDPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let expected: SocketAddress
    let id: UInt16
    let question: Question
    let promise: EventLoopPromise<[UInt8]>
    let stats: ForwarderStats

    init(expected: SocketAddress, id: UInt16, question: Question, promise: EventLoopPromise<[UInt8]>, stats: ForwarderStats) {
        self.expected = expected
        self.id = id
        self.question = question
        self.promise = promise
        self.stats = stats
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let bytes = Array(envelope.data.readableBytesView)
        guard envelope.remoteAddress == expected, UpstreamClient.matches(bytes, id: id, question: question) else {
            ForwarderStats.bump(stats.mismatchedReplies)
            return
        }
        promise.succeed(bytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP errors (e.g. port unreachable) surface here on some kernels: keep waiting for the
        // timeout rather than let an unauthenticated ICMP packet decide (RFC 5927 spirit).
    }
}

/// Writes the length-prefixed query when connected (RFC 1035 §4.2.2) and takes one framed reply.
final class TCPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let query: [UInt8]
    let id: UInt16
    let question: Question
    let promise: EventLoopPromise<[UInt8]>
    let stats: ForwarderStats
    var received: [UInt8] = []

    init(query: [UInt8], id: UInt16, question: Question, promise: EventLoopPromise<[UInt8]>, stats: ForwarderStats) {
        self.query = query
        self.id = id
        self.question = question
        self.promise = promise
        self.stats = stats
    }

    func channelActive(context: ChannelHandlerContext) {
        var b = context.channel.allocator.buffer(capacity: query.count + 2)
        b.writeInteger(UInt16(query.count))
        b.writeBytes(query)
        context.writeAndFlush(wrapOutboundOut(b), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.append(contentsOf: buffer.readableBytesView)
        while received.count >= 2 {
            let length = Int(received[0]) << 8 | Int(received[1])
            guard received.count >= 2 + length else { return }
            let message = Array(received[2..<(2 + length)])
            received.removeFirst(2 + length)
            if UpstreamClient.matches(message, id: id, question: question) {
                promise.succeed(message)
                context.close(promise: nil)
                return
            }
            ForwarderStats.bump(stats.mismatchedReplies)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ForwarderError(.garbage, "TCP connection closed before a reply"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(ForwarderError(.socket, "TCP: \(error)"))
        context.close(promise: nil)
    }
}
