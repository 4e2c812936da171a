import NIOCore
import XCTest
@testable import DNSServer

/// RFC 1035 §4.2.2 / RFC 7766 §8: two-byte length framing.
final class TCPFrameDecoderTests: XCTestCase {
    private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    /// Feeds `chunks` and collects every action up to `.needMoreData` after each chunk.
    private func run(_ chunks: [[UInt8]], maxFrameLength: Int = 65535) -> [TCPFrameDecoder.Action] {
        var decoder = TCPFrameDecoder(maxFrameLength: maxFrameLength)
        var actions: [TCPFrameDecoder.Action] = []
        for chunk in chunks {
            decoder.receive(buffer(chunk))
            while true {
                let action = decoder.next()
                actions.append(action)
                if case .frame = action { continue }
                break
            }
        }
        return actions
    }

    func testRFC1035_4_2_2_FramingTable() {
        let cases: [(name: String, chunks: [[UInt8]], expected: [TCPFrameDecoder.Action])] = [
            ("one frame in one read", [[0, 3, 1, 2, 3]],
             [.frame(buffer([1, 2, 3])), .needMoreData]),
            ("partial length prefix", [[0], [3, 1, 2, 3]],
             [.needMoreData, .frame(buffer([1, 2, 3])), .needMoreData]),
            ("partial body", [[0, 3, 1], [2], [3]],
             [.needMoreData, .needMoreData, .frame(buffer([1, 2, 3])), .needMoreData]),
            ("several frames in one read (RFC 7766 §6.2.1.1 pipelining)", [[0, 1, 9, 0, 2, 7, 8, 0, 1]],
             [.frame(buffer([9])), .frame(buffer([7, 8])), .needMoreData]),
            ("frame boundary inside the next prefix", [[0, 1, 9, 0], [2, 7, 8]],
             [.frame(buffer([9])), .needMoreData, .frame(buffer([7, 8])), .needMoreData]),
            ("zero-length frame closes", [[0, 0, 0, 1, 5]],
             [.close(.zeroLengthFrame)]),
            ("frame over the limit closes", [[0x01, 0x00]],
             [.close(.frameTooLarge(length: 256))]),
            ("closed decoder ignores later input", [[0, 0], [0, 1, 5]],
             [.close(.zeroLengthFrame), .close(.zeroLengthFrame)]),
        ]
        for c in cases {
            XCTAssertEqual(run(c.chunks, maxFrameLength: 255), c.expected, c.name)
        }
    }

    func testByteByByteDeliveryOfPipelinedFrames() {
        var stream: [UInt8] = []
        var expected: [[UInt8]] = []
        for n in 1...20 {
            let body = (0..<n * 13).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ n) }
            expected.append(body)
            stream += [UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
        }
        var decoder = TCPFrameDecoder()
        var frames: [[UInt8]] = []
        for byte in stream {
            decoder.receive(buffer([byte]))
            while case .frame(let frame) = decoder.next() { frames.append(Array(frame.readableBytesView)) }
        }
        XCTAssertEqual(frames, expected)
        XCTAssertEqual(decoder.bufferedBytes, 0)
    }

    func testMaximumFrameOf65535Bytes() {
        var decoder = TCPFrameDecoder()
        decoder.receive(buffer([0xff, 0xff] + [UInt8](repeating: 1, count: 65534)))
        XCTAssertEqual(decoder.next(), .needMoreData)
        XCTAssertEqual(decoder.bufferedBytes, 65534)
        decoder.receive(buffer([2]))
        guard case .frame(let frame) = decoder.next() else { return XCTFail("no frame") }
        XCTAssertEqual(frame.readableBytes, 65535)
        XCTAssertEqual(decoder.next(), .needMoreData)
    }

    /// The query deadline runs from the first length byte until the frame is complete, so the
    /// decoder must say a frame is in progress at every point in between — in particular right
    /// after the two-byte prefix, when no byte is buffered (the gap that let a trickling client
    /// restart the deadline with its first body byte).
    func testFrameInProgressFromFirstLengthByteUntilFrameIsReturned() {
        var decoder = TCPFrameDecoder()
        var seen: [(String, Bool)] = [("fresh", decoder.frameInProgress)]
        decoder.receive(buffer([0]))
        _ = decoder.next()
        seen.append(("first length byte", decoder.frameInProgress))
        decoder.receive(buffer([3]))
        XCTAssertEqual(decoder.next(), .needMoreData)
        seen.append(("length prefix complete, no body byte", decoder.frameInProgress))
        decoder.receive(buffer([1, 2]))
        XCTAssertEqual(decoder.next(), .needMoreData)
        seen.append(("partial body", decoder.frameInProgress))
        decoder.receive(buffer([3, 0]))
        XCTAssertEqual(decoder.next(), .frame(buffer([1, 2, 3])))
        seen.append(("frame returned, next prefix begun", decoder.frameInProgress))
        XCTAssertEqual(decoder.next(), .needMoreData)
        decoder.receive(buffer([1, 9]))
        XCTAssertEqual(decoder.next(), .frame(buffer([9])))
        seen.append(("frame returned, nothing buffered", decoder.frameInProgress))
        decoder.receive(buffer([0, 0]))
        _ = decoder.next()
        seen.append(("closed", decoder.frameInProgress))
        let expected = [false, true, true, true, true, false, false]
        XCTAssertEqual(seen.map(\.1), expected, "\(seen)")
    }
}
