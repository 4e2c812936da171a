#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import NIOCore
import NIOPosix
import XCTest
@testable import DNSServer

/// DNS over TCP, RFC 1035 §4.2.2 and RFC 7766, over real loopback sockets.
final class TCPServerTests: XCTestCase {
    private func startServer(_ address: String = "127.0.0.1", handler: TestQueryHandler = TestQueryHandler(),
                             configuration: TCPServer.Configuration = .init()) async throws -> (TCPServer, ServerEndpoint) {
        let ip = try XCTUnwrap(IPAddress(address), "bad address \(address)")
        let server = TCPServer(endpoint: ServerEndpoint(address: ip, port: 0), handler: handler,
                               configuration: configuration)
        let bound = try await server.start()
        XCTAssertNotEqual(bound.port, 0)
        return (server, bound)
    }

    func testRFC7766_QueryIsAnsweredOverIPv4AndIPv6() async throws {
        for address in ["127.0.0.1", "::1"] {
            if address == "::1" { try requireIPv6Loopback() }
            let handler = TestQueryHandler()
            let (server, bound) = try await startServer(address, handler: handler)
            let client = try TCPClient(server: bound)
            let query = TestDNS.query(id: 0x2222, name: "www.example.test")
            client.write(TCPClient.frame(query))
            let response = try XCTUnwrap(client.readFrame())
            XCTAssertEqual(TestDNS.answerAddress(response, query: query), [192, 0, 2, 1])
            XCTAssertEqual(handler.log.clients.last?.transport, .tcp)
            XCTAssertEqual(handler.log.clients.last?.address, IPAddress(address))
            await server.stop()
        }
    }

    /// RFC 7766 §6.2.1.1: several pipelined queries in one segment are all answered (in order).
    func testRFC7766_6_2_1_1_PipelinedQueriesInOneSegment() async throws {
        let (server, bound) = try await startServer()
        let client = try TCPClient(server: bound)
        let queries = (0..<10).map { TestDNS.query(id: UInt16(100 + $0), name: "q\($0).example.test") }
        client.write(queries.flatMap(TCPClient.frame))
        for query in queries {
            let response = try XCTUnwrap(client.readFrame())
            XCTAssertEqual(TestDNS.id(response), TestDNS.id(query))
            XCTAssertNotNil(TestDNS.answerAddress(response, query: query))
        }
        await server.stop()
    }

    /// RFC 1035 §4.2.2: the length prefix and the message may arrive split across segments.
    func testRFC1035_4_2_2_FramesSplitByteByByte() async throws {
        let (server, bound) = try await startServer()
        let client = try TCPClient(server: bound)
        let queries = (0..<3).map { TestDNS.query(id: UInt16(7 + $0), name: "split\($0).example.test") }
        for byte in queries.flatMap(TCPClient.frame) {
            client.write([byte])
            usleep(300)
        }
        for query in queries {
            let response = try XCTUnwrap(client.readFrame())
            XCTAssertNotNil(TestDNS.answerAddress(response, query: query))
        }
        await server.stop()
    }

    /// RFC 7766 §6.2.3: the server closes connections idle past its timeout.
    func testRFC7766_6_2_3_IdleConnectionIsClosed() async throws {
        let (server, bound) = try await startServer(configuration: .init(idleTimeout: .milliseconds(300)))
        // Started before connecting, so the server's idle timer cannot have started earlier: the
        // close comes at least the idle timeout later however busy the machine (a lower bound only).
        let started = ContinuousClock.now
        let client = try TCPClient(server: bound, timeoutMilliseconds: 30_000)
        let query = TestDNS.query(id: 1, name: "www.example.test")
        client.write(TCPClient.frame(query))
        XCTAssertNotNil(client.readFrame())
        XCTAssertTrue(client.waitForClose())
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(300), "closed before the idle timeout")
        await server.stop()
    }

    /// Over the connection cap, a new connection is closed at once; existing ones keep working.
    func testConnectionOverTheCapIsClosedImmediately() async throws {
        let (server, bound) = try await startServer(configuration: .init(maxConnections: 2))
        let first = try TCPClient(server: bound)
        let second = try TCPClient(server: bound)
        for (i, client) in [first, second].enumerated() {
            let query = TestDNS.query(id: UInt16(i), name: "www.example.test")
            client.write(TCPClient.frame(query))
            XCTAssertNotNil(client.readFrame().flatMap { TestDNS.answerAddress($0, query: query) })
        }
        XCTAssertEqual(server.connectionCount, 2)
        let third = try TCPClient(server: bound, timeoutMilliseconds: 2000)
        third.write(TCPClient.frame(TestDNS.query(id: 3, name: "www.example.test")))
        XCTAssertTrue(third.waitForClose())
        let query = TestDNS.query(id: 4, name: "www.example.test")
        first.write(TCPClient.frame(query))
        XCTAssertNotNil(first.readFrame().flatMap { TestDNS.answerAddress($0, query: query) })
        await server.stop()
    }

    /// A zero-length frame (no DNS message) closes the connection.
    func testZeroLengthFrameClosesTheConnection() async throws {
        let (server, bound) = try await startServer()
        let client = try TCPClient(server: bound)
        client.write([0, 0])
        XCTAssertTrue(client.waitForClose())
        await server.stop()
    }

    /// `.later` over TCP: the reply is written as a frame through the TCP `ReplySink`; `.drop`
    /// sends nothing and the connection stays usable.
    func testLaterReplyAndDropOverTCP() async throws {
        let (server, bound) = try await startServer()
        let client = try TCPClient(server: bound)
        let later = TestDNS.query(id: 0x5151, name: "later.example.test")
        let drop = TestDNS.query(id: 0x5252, name: "drop.example.test")
        let now = TestDNS.query(id: 0x5353, name: "www.example.test")
        client.write(TCPClient.frame(later) + TCPClient.frame(drop) + TCPClient.frame(now))
        let a = try XCTUnwrap(client.readFrame())
        let b = try XCTUnwrap(client.readFrame())
        // The immediate answer comes first; the deferred one follows ~50 ms later.
        XCTAssertEqual(TestDNS.answerAddress(a, query: now), [192, 0, 2, 1])
        XCTAssertEqual(TestDNS.answerAddress(b, query: later), [192, 0, 2, 99])
        await server.stop()
    }

    /// Garbage frames are handed to the worker, which drops them; the connection keeps serving.
    func testGarbageFramesDoNotBreakTheConnection() async throws {
        let (server, bound) = try await startServer()
        let client = try TCPClient(server: bound)
        var bytes: [UInt8] = []
        for n in 1...50 { bytes += TCPClient.frame((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 0x80) }) }
        let query = TestDNS.query(id: 0x6161, name: "www.example.test")
        client.write(bytes + TCPClient.frame(query))
        XCTAssertEqual(client.readFrame().flatMap { TestDNS.answerAddress($0, query: query) }, [192, 0, 2, 1])
        await server.stop()
    }

    /// stop() closes the listener and open connections.
    func testStopClosesListenerAndConnections() async throws {
        let (server, bound) = try await startServer()
        let client = try TCPClient(server: bound)
        let query = TestDNS.query(id: 1, name: "www.example.test")
        client.write(TCPClient.frame(query))
        XCTAssertNotNil(client.readFrame())
        await server.stop()
        XCTAssertTrue(client.waitForClose())
        XCTAssertThrowsError(try TCPClient(server: bound))
        XCTAssertEqual(server.connectionCount, 0)
    }
}
