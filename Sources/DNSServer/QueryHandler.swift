import DNSWire

/// The transport a query arrived on.
public enum Transport: Sendable, Hashable {
    case udp
    case tcp
}

/// Who sent a query: the source address and port as the socket saw them.
public struct ClientEndpoint: Sendable, Hashable {
    public var address: IPAddress
    public var port: UInt16
    public var transport: Transport

    public init(address: IPAddress, port: UInt16, transport: Transport) {
        self.address = address
        self.port = port
        self.transport = transport
    }
}

/// What a handler did with one query.
public enum QueryDisposition: Sendable, Equatable {
    /// The response was written to the start of the output buffer; this many bytes.
    case reply(length: Int)
    /// No response (RFC 1035 / DESIGN: e.g. QR=1 or a header that cannot be trusted).
    case drop
    /// The handler copied what it needs and will answer later through the `ReplySink` it was given
    /// (e.g. waiting a bounded time for an ipstack lookup). The transport must not answer.
    case later
}

/// Sends a response that is produced after `handle` returned (`QueryDisposition.later`).
/// Implementations must be safe to call from any thread, once per deferred query.
public protocol ReplySink: Sendable {
    /// Sends `response` (a complete DNS message, no TCP length prefix) to `client`.
    func send(_ response: [UInt8], to client: ClientEndpoint)
}

/// Per-thread query processor. One instance is used by exactly one thread (a UDP worker) or one
/// event loop (TCP), so it may keep mutable caches without locks.
public protocol QueryWorker: AnyObject {
    /// Answers one query. `output` is the response buffer (at least 65535 bytes for TCP, at least
    /// the configured maximum UDP payload for UDP); the handler decides the size limit from the
    /// query's EDNS and `client.transport`. Must not block.
    func handle(query: UnsafeRawBufferPointer, client: ClientEndpoint,
                output: UnsafeMutableRawBufferPointer, sink: ReplySink) -> QueryDisposition

    /// The UDP fast path received a batch: called once before `prepare` and `handle` run for its
    /// queries (e.g. to read the clock once per batch). TCP never calls it. Default: nothing.
    func beginBatch()

    /// Called for every query of a UDP batch before any of them is handled, so the worker can start
    /// memory loads it will need (prefetch) and the batch's cache misses overlap. Must not change
    /// what `handle` answers. Default: nothing.
    func prepare(query: UnsafeRawBufferPointer, client: ClientEndpoint)

    /// A UDP worker's receive timed out with no query (every `stopPollInterval` while idle): a
    /// chance to drop data it holds that has been replaced (e.g. an old snapshot after a reload),
    /// so an idle thread does not keep it alive. Must not block. Default: nothing.
    func idle()
}

extension QueryWorker {
    public func beginBatch() {}
    public func prepare(query: UnsafeRawBufferPointer, client: ClientEndpoint) {}
    public func idle() {}
}

/// Makes one `QueryWorker` per transport thread / event loop.
public protocol QueryHandler: Sendable {
    func makeWorker() -> QueryWorker
}
