#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CoreMetrics
import DNSWire
import Logging
import NIOCore
import Synchronization

/// Open TCP connections of one listener: the shell around `TCPConnectionTable` (admission,
/// per-address cap, longest-idle eviction), its counters and rate-limited log lines, and closing
/// everything on stop.
final class TCPConnectionRegistry: Sendable {
    private struct State {
        var table: TCPConnectionTable
        var channels: [ObjectIdentifier: any Channel] = [:]
        var statistics = TCPServerStatistics()
        var refusals = RateLimitedCounter(interval: .seconds(10))
        var evictions = RateLimitedCounter(interval: .seconds(10))
        var draining = false
    }

    private enum LogLine {
        case none
        case refused(TCPConnectionTable.RefusalReason, UInt64)
        case evicted(UInt64)
    }

    private let state: Mutex<State>
    private let logger: Logger
    private let heapTrimmer: HeapTrimmer
    private let metrics: TCPMetrics?

    init(table: TCPConnectionTable, logger: Logger, heapTrimmer: HeapTrimmer = HeapTrimmer(), metrics: TCPMetrics? = nil) {
        self.state = Mutex(State(table: table))
        self.logger = logger
        self.heapTrimmer = heapTrimmer
        self.metrics = metrics
    }

    /// A connection that was held up by back-pressure (so it had answers and reads buffered)
    /// closed: the heap it freed is handed back to the kernel soon (rate-limited, off the loop).
    func connectionThatBufferedALotClosed() {
        heapTrimmer.request()
    }

    var count: Int { state.withLock { $0.table.count } }

    var statistics: TCPServerStatistics { state.withLock { $0.statistics } }

    /// Registers `channel` (closing the longest-idle connection when the table is full); false
    /// means the caller must close it.
    func admit(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let address = ClientEndpoint(tcpPeer: channel.remoteAddress)?.address
        let now = NIODeadline.now().uptimeNanoseconds
        var draining = false
        let (action, evicted, log) = state.withLock { s -> (TCPConnectionTable.AdmitAction, (any Channel)?, LogLine) in
            if s.draining {
                draining = true
                return (.refuse(.tableFull), nil, .none)
            }
            let action = s.table.admit(id, address: address, now: now)
            switch action {
            case .admit:
                s.channels[id] = channel
                return (action, nil, .none)
            case .admitEvicting(let victim):
                s.channels[id] = channel
                s.statistics.evictedIdle += 1
                let log = s.evictions.record(now: now).map { LogLine.evicted($0) } ?? .none
                return (action, s.channels.removeValue(forKey: victim), log)
            case .refuse(let reason):
                switch reason {
                case .perAddressLimit: s.statistics.refusedPerAddress += 1
                case .tableFull: s.statistics.refusedFull += 1
                }
                let log = s.refusals.record(now: now).map { LogLine.refused(reason, $0) } ?? .none
                return (action, nil, log)
            }
        }
        evicted?.close(promise: nil)
        if !draining { metrics?.record(action) }   // closing at shutdown is not a refusal
        switch log {
        case .none:
            break
        case .refused(let reason, let n):
            logger.warning("TCP connections refused", metadata: [
                "reason": "\(reason.rawValue)", "refused": "\(n)", "client": "\(address.map { "\($0)" } ?? "?")",
                "open": "\(count)",
            ])
        case .evicted(let n):
            logger.notice("TCP connection table full: closed the longest-idle connections to admit new ones", metadata: [
                "evicted": "\(n)", "open": "\(count)",
            ])
        }
        if case .refuse = action { return false }
        channel.closeFuture.whenComplete { [self] _ in
            self.state.withLock { s in
                s.table.remove(id)
                _ = s.channels.removeValue(forKey: id)
            }
            self.metrics?.open.decrement(by: 1.0)
        }
        return true
    }

    /// The connection is busy (partial query or answers pending) or idle.
    func update(_ id: ObjectIdentifier, busy: Bool) {
        let now = NIODeadline.now().uptimeNanoseconds
        state.withLock { $0.table.update(id, busy: busy, now: now) }
    }

    /// A connection was closed for not completing a query frame in time.
    func recordQueryTimeout() {
        state.withLock { $0.statistics.queryTimeouts += 1 }
        metrics?.queryTimeouts.increment()
    }

    /// Tells every connection to stop reading and close once its pending answers are written,
    /// waits for that at most `timeout`, then closes whatever is still open.
    func drainAndCloseAll(timeout: Duration) async {
        let channels = state.withLock { s -> [any Channel] in
            s.draining = true
            return Array(s.channels.values)
        }
        guard let loop = channels.first?.eventLoop else { return }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(TCPDrainEvent())
        }
        let all = EventLoopFuture.andAllComplete(channels.map(\.closeFuture), on: loop)
        let force = loop.scheduleTask(in: .nanoseconds(timeout.clampedNanoseconds)) {
            for channel in channels { channel.close(promise: nil) }
        }
        try? await all.get()
        force.cancel()
    }
}

/// Sent to every connection when the listener stops: finish the answers owed, then close.
struct TCPDrainEvent: Sendable {}

/// accept(2) failures of one listener (EMFILE, ENFILE, ENOBUFS, ENOMEM): counted, and logged at
/// most once per 10 s with the count; `AcceptBackoffHandler` pauses accepting after each.
final class TCPAcceptFailures: Sendable {
    private let counter = Mutex(RateLimitedCounter(interval: .seconds(10)))
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var total: UInt64 { counter.withLock { $0.total } }

    func record(_ error: IOError) {
        let now = NIODeadline.now().uptimeNanoseconds
        guard let n = counter.withLock({ $0.record(now: now) }) else { return }
        let reason = error.errnoCode == EMFILE || error.errnoCode == ENFILE ? "out of file descriptors" : "accept failed"
        logger.error("TCP accept failed (\(reason)); pausing accepts", metadata: [
            "errno": "\(error.errnoCode)", "error": "\(error)", "failures": "\(n)",
        ])
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
/// worker and writes the framed replies in order.
///
/// Bounds (issue #8): a frame must be complete `queryTimeout` after the first byte of its length
/// prefix; at most `maxPipelined` answers wait to be written, and while at that cap or while the
/// channel is not writable (the client does not read) no frame is answered and the socket is not
/// read, so a client that never reads costs a bounded amount of memory. Reads are at most
/// `TCPServer.readChunkBytes`, one per event-loop turn, and the next read waits until every frame
/// of the last one is answered: a deep pipeline is served a bounded slice per turn and cannot
/// starve accepts or other connections. The connection tells the registry when it turns busy or
/// idle, so a full table evicts idle connections only.
final class TCPQueryHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let loopWorker: TCPLoopWorker
    private let configuration: TCPServer.Configuration
    private let registry: TCPConnectionRegistry
    private var decoder: TCPFrameDecoder
    private var client: ClientEndpoint?
    private var sink: TCPReplySink?
    /// Answers written and not yet completed (handed to the kernel, or failed).
    private var pending = 0
    /// A read was withheld because of back-pressure; issue it when that ends.
    private var readWithheld = false
    private var frameDeadline: Scheduled<Void>?
    private var busy = false
    private var active = false
    private var draining = false
    private var inputClosed = false
    /// While draining: false while the socket may still hold unread queries. Closing a socket
    /// with unread input makes the kernel send an RST and discard the answers not yet
    /// transmitted, so a drained connection reads (and discards) until a read comes back short.
    private var inputDrained = true
    /// Back-pressure held this connection up at least once (answers piled up to the cap or the
    /// client stopped reading): it buffered a lot, so its close asks for a heap trim.
    private var wasHeldBack = false

    init(worker: TCPLoopWorker, configuration: TCPServer.Configuration, registry: TCPConnectionRegistry) {
        self.loopWorker = worker
        self.configuration = configuration
        self.registry = registry
        self.decoder = TCPFrameDecoder(maxFrameLength: configuration.maxFrameLength)
    }

    func channelActive(context: ChannelHandlerContext) {
        active = true
        client = ClientEndpoint(tcpPeer: context.remoteAddress)
        sink = TCPReplySink(channel: context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        frameDeadline?.cancel()
        frameDeadline = nil
        if wasHeldBack { registry.connectionThatBufferedALotClosed() }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !draining else {
            // Discarded: nothing more is answered once draining; reading empties the receive queue.
            inputDrained = unwrapInboundIn(data).readableBytes < TCPServer.readChunkBytes
            if pending == 0 && inputDrained { context.close(promise: nil) }
            return
        }
        decoder.receive(unwrapInboundIn(data))
        answerFrames(context: context)
    }

    /// Answers complete frames while back-pressure allows, then arms or cancels the frame
    /// deadline and reports busy/idle to the registry.
    private func answerFrames(context: ChannelHandlerContext) {
        guard active, !draining else { return }
        guard let client, let sink else {
            context.close(promise: nil)
            return
        }
        var wrote = false
        var waitingForClient = false
        defer { if wrote { context.flush() } }
        decoding: while pending < configuration.maxPipelined && context.channel.isWritable {
            switch decoder.next() {
            case .needMoreData:
                waitingForClient = true
                break decoding
            case .close:
                context.close(promise: nil)
                return
            case .frame(let frame):
                frameDeadline?.cancel()
                frameDeadline = nil
                let output = loopWorker.output
                let disposition = frame.withUnsafeReadableBytes { query in
                    loopWorker.worker.handle(query: query, client: client, output: output, sink: sink)
                }
                guard case .reply(let length) = disposition, length > 0, length <= output.count else { continue }
                var buffer = context.channel.allocator.buffer(capacity: length + 2)
                buffer.writeInteger(UInt16(length))
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: output[0..<length]))
                let promise = context.eventLoop.makePromise(of: Void.self)
                pending += 1
                context.write(wrapOutboundOut(buffer), promise: promise)
                promise.futureResult.assumeIsolated().whenComplete { [self] _ in
                    self.pending -= 1
                    self.writeCompleted(context: context)
                }
                wrote = true
            }
        }
        // A partial frame is the client's to finish, within the query timeout of the first byte
        // of its length prefix (`frameInProgress` stays true between the prefix and the body, so
        // the deadline is not restarted by the first body byte). It is cancelled only when a
        // frame completes (above) or none is in progress.
        if waitingForClient && decoder.frameInProgress {
            if frameDeadline == nil {
                frameDeadline = context.eventLoop.assumeIsolated().scheduleTask(
                    in: .nanoseconds(configuration.queryTimeout.clampedNanoseconds)
                ) { [self] in
                    self.frameDeadline = nil
                    self.registry.recordQueryTimeout()
                    context.close(promise: nil)
                }
            }
        } else {
            frameDeadline?.cancel()
            frameDeadline = nil
        }
        reportBusy(context: context)
    }

    private func writeCompleted(context: ChannelHandlerContext) {
        guard active else { return }
        answerFrames(context: context)
        if pending == 0 && ((draining && inputDrained) || inputClosed) {
            context.close(promise: nil)
            return
        }
        resumeReadingIfAllowed(context: context)
    }

    private var mayRead: Bool { !draining && !inputClosed && pending < configuration.maxPipelined }

    private func resumeReadingIfAllowed(context: ChannelHandlerContext) {
        guard readWithheld, mayRead, context.channel.isWritable else { return }
        readWithheld = false
        context.read()
    }

    private func reportBusy(context: ChannelHandlerContext) {
        let now = pending > 0 || decoder.frameInProgress
        guard now != busy else { return }
        busy = now
        registry.update(ObjectIdentifier(context.channel), busy: now)
    }

    func read(context: ChannelHandlerContext) {
        if draining {  // to discard (see `inputDrained`)
            context.read()
            return
        }
        guard mayRead, context.channel.isWritable else {
            readWithheld = true
            if !inputClosed { wasHeldBack = true }
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            answerFrames(context: context)
            resumeReadingIfAllowed(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else if event is TCPDrainEvent {
            // Shutdown: answer nothing more; close once the answers owed are written and, when
            // back-pressure had stopped reading, the queries left unread are read and discarded
            // (`inputDrained`; the drain timeout bounds the wait).
            draining = true
            frameDeadline?.cancel()
            frameDeadline = nil
            if readWithheld && !inputClosed {
                readWithheld = false
                inputDrained = false
                context.read()
            }
            if pending == 0 && inputDrained { context.close(promise: nil) }
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The client finished sending (RFC 7766 §6.2.1: it may half-close after its last
            // query); close once every complete query is answered and written.
            inputClosed = true
            answerFrames(context: context)
            if pending == 0 { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The TCP listeners' swift-metrics (README, "Operations"), recorded as connections come and go
/// (never per query). Listeners given the same factory share these series: the registry hands
/// out one handler per name and labels.
struct TCPMetrics: Sendable {
    let open: Meter
    let refusedPerAddress: Counter
    let refusedFull: Counter
    let evictedIdle: Counter
    let queryTimeouts: Counter

    init(factory: any MetricsFactory) {
        open = Meter(label: "proxima_tcp_connections_open", dimensions: [], factory: factory)
        refusedPerAddress = Counter(label: "proxima_tcp_connections_refused_total", dimensions: [("reason", "per_address")],
                                    factory: factory)
        refusedFull = Counter(label: "proxima_tcp_connections_refused_total", dimensions: [("reason", "full")], factory: factory)
        evictedIdle = Counter(label: "proxima_tcp_connections_evicted_total", factory: factory)
        queryTimeouts = Counter(label: "proxima_tcp_query_timeouts_total", factory: factory)
    }

    /// Counts one admission decision: an admitted connection is open until its close.
    func record(_ action: TCPConnectionTable.AdmitAction) {
        switch action {
        case .admit:
            open.increment(by: 1.0)
        case .admitEvicting:
            open.increment(by: 1.0)
            evictedIdle.increment()
        case .refuse(.perAddressLimit):
            refusedPerAddress.increment()
        case .refuse(.tableFull):
            refusedFull.increment()
        }
    }
}
