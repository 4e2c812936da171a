import DNSWire
import NIOCore
import Synchronization

/// Open TCP connections of one listener: enforces the connection cap and closes them all on stop.
final class TCPConnectionRegistry: Sendable {
    private let limit: Int
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var count: Int { open.withLock { $0.count } }

    /// Registers `channel` unless the cap is reached; false means the caller must close it.
    func admit(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = open.withLock { open -> Bool in
            guard open.count < limit else { return false }
            open[id] = channel
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { [self] _ in
                _ = self.open.withLock { $0.removeValue(forKey: id) }
            }
        }
        return admitted
    }

    /// Closes every registered connection and waits for the closes to finish.
    func closeAll() async {
        let channels = open.withLock { Array($0.values) }
        for channel in channels {
            try? await channel.close()
            // The registry's own closeFuture callback was registered first, so once this returns
            // the channel is no longer counted.
            try? await channel.closeFuture.get()
        }
    }
}

/// One `QueryWorker` and response buffer per event loop (DESIGN: a worker is used by exactly one
/// thread or loop, so it can keep lock-free caches). Created lazily on first use from that loop.
final class TCPLoopWorkers: Sendable {
    private let handler: any QueryHandler
    private let workers = Mutex<[ObjectIdentifier: TCPLoopWorker]>([:])

    init(handler: any QueryHandler) {
        self.handler = handler
    }

    /// The worker of `loop`; call only from `loop`.
    func worker(for loop: any EventLoop) -> TCPLoopWorker {
        let id = ObjectIdentifier(loop)
        if let existing = workers.withLock({ $0[id] }) { return existing }
        // Made outside the lock (makeWorker may be slow); only this loop creates its own entry.
        let created = TCPLoopWorker(worker: handler.makeWorker())
        return workers.withLock { workers in
            if let existing = workers[id] { return existing }
            workers[id] = created
            return created
        }
    }
}

/// A `QueryWorker` plus its 65535-byte response buffer, bound to one event loop.
///
/// `@unchecked Sendable` because it is stored in the shared per-loop table, but it is only ever
/// used from the event loop that created it (the table is keyed by loop).
final class TCPLoopWorker: @unchecked Sendable {
    let worker: any QueryWorker
    let output: UnsafeMutableRawBufferPointer

    init(worker: any QueryWorker) {
        self.worker = worker
        self.output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65535, alignment: 16)
    }

    deinit {
        output.deallocate()
    }
}

/// Writes a deferred (`QueryDisposition.later`) answer as one length-prefixed frame. Safe from
/// any thread (`Channel.writeAndFlush` is); a closed connection drops it.
struct TCPReplySink: ReplySink {
    let channel: any Channel

    func send(_ response: [UInt8], to client: ClientEndpoint) {
        guard !response.isEmpty, response.count <= 65535 else { return }
        var buffer = channel.allocator.buffer(capacity: response.count + 2)
        buffer.writeInteger(UInt16(response.count))
        buffer.writeBytes(response)
        channel.writeAndFlush(buffer, promise: nil)
    }
}

/// Per-connection handler: decodes frames with `TCPFrameDecoder`, hands each query to the loop's
/// worker and writes the framed replies in order, one flush per read.
final class TCPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let loopWorker: TCPLoopWorker
    private var decoder: TCPFrameDecoder
    private var client: ClientEndpoint?
    private var sink: TCPReplySink?
    private var lastWrite: EventLoopFuture<Void>?

    init(worker: TCPLoopWorker, maxFrameLength: Int) {
        self.loopWorker = worker
        self.decoder = TCPFrameDecoder(maxFrameLength: maxFrameLength)
    }

    func channelActive(context: ChannelHandlerContext) {
        client = ClientEndpoint(tcpPeer: context.remoteAddress)
        sink = TCPReplySink(channel: context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.receive(unwrapInboundIn(data))
        guard let client, let sink else {
            context.close(promise: nil)
            return
        }
        var wrote = false
        defer { if wrote { context.flush() } }
        while true {
            switch decoder.next() {
            case .needMoreData:
                return
            case .close:
                context.close(promise: nil)
                return
            case .frame(let frame):
                let output = loopWorker.output
                let disposition = frame.withUnsafeReadableBytes { query in
                    loopWorker.worker.handle(query: query, client: client, output: output, sink: sink)
                }
                guard case .reply(let length) = disposition, length > 0, length <= output.count else { continue }
                var buffer = context.channel.allocator.buffer(capacity: length + 2)
                buffer.writeInteger(UInt16(length))
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: output[0..<length]))
                lastWrite = context.write(wrapOutboundOut(buffer))
                wrote = true
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The client finished sending (RFC 7766 §6.2.1: it may half-close after its last
            // query); close once the replies already written have gone out.
            if let lastWrite {
                let channel = context.channel
                lastWrite.whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
