import NIOCore

/// DNS-over-TCP message framing (RFC 1035 §4.2.2, RFC 7766 §8): every message is preceded by a
/// two-byte, network-order length. A state machine value (STYLE §5): the shell feeds bytes with
/// `receive(_:)` and pulls `Action`s with `next()` until `.needMoreData`.
///
/// Several frames in one read, a frame split across reads (even inside the length prefix) and
/// pipelined queries (RFC 7766 §6.2.1.1) all decode the same way. A zero-length frame cannot hold
/// a DNS header and a frame over `maxFrameLength` exceeds what we accept; both end the connection.
public struct TCPFrameDecoder: Sendable {
    /// Why the connection must be closed.
    public enum CloseReason: Sendable, Hashable {
        /// The length prefix was 0 (no DNS message is empty).
        case zeroLengthFrame
        /// The length prefix exceeded `maxFrameLength`.
        case frameTooLarge(length: Int)
    }

    /// What the shell should do next.
    public enum Action: Sendable, Equatable {
        /// One complete DNS message (without the length prefix).
        case frame(ByteBuffer)
        /// Nothing more until more bytes arrive.
        case needMoreData
        /// Close the connection; the decoder stays closed and ignores further input.
        case close(CloseReason)
    }

    private enum State: Sendable {
        case awaitingLength
        case awaitingBody(length: Int)
        case closed(CloseReason)
    }

    /// The largest message accepted (the 16-bit prefix caps it at 65535 anyway).
    public let maxFrameLength: Int
    private var state: State = .awaitingLength
    private var buffer: ByteBuffer?

    /// Creates a decoder; `maxFrameLength` is clamped to 1...65535.
    public init(maxFrameLength: Int = 65535) {
        self.maxFrameLength = max(1, min(65535, maxFrameLength))
    }

    /// Bytes buffered but not yet returned as a frame (including a partial length prefix).
    public var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    /// True from the first byte of a frame's two-byte length prefix until the frame is returned:
    /// the span a query deadline covers (RFC 7766 §8 framing). Unlike `bufferedBytes`, it stays
    /// true once the length prefix has been consumed and no body byte has arrived yet.
    public var frameInProgress: Bool {
        switch state {
        case .awaitingLength: return bufferedBytes > 0
        case .awaitingBody: return true
        case .closed: return false
        }
    }

    /// Appends bytes read from the connection.
    public mutating func receive(_ bytes: ByteBuffer) {
        if case .closed = state { return }
        if var existing = buffer, existing.readableBytes > 0 {
            buffer = nil  // keep the storage uniquely referenced so the append does not copy it
            existing.writeImmutableBuffer(bytes)
            buffer = existing
        } else {
            buffer = bytes
        }
    }

    /// Returns the next action: a complete frame, a request for more data, or a close.
    public mutating func next() -> Action {
        switch state {
        case .closed(let reason):
            return .close(reason)
        case .awaitingLength:
            guard var buf = buffer, let length = buf.readInteger(as: UInt16.self) else { return .needMoreData }
            buffer = buf
            if length == 0 { return close(.zeroLengthFrame) }
            if Int(length) > maxFrameLength { return close(.frameTooLarge(length: Int(length))) }
            state = .awaitingBody(length: Int(length))
            return next()
        case .awaitingBody(let length):
            guard var buf = buffer, let frame = buf.readSlice(length: length) else { return .needMoreData }
            buffer = buf.readableBytes > 0 ? buf : nil
            state = .awaitingLength
            return .frame(frame)
        }
    }

    private mutating func close(_ reason: CloseReason) -> Action {
        state = .closed(reason)
        buffer = nil
        return .close(reason)
    }
}
