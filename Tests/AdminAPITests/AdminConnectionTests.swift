#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import AdminAPI

/// #14.2: the admin listener closes connections that idle, dribble headers, never finish a body,
/// or asked for HTTP/1.0 without keep-alive; caps concurrent connections; answers malformed
/// framing with 400. Every test uses raw sockets on 127.0.0.1:0 and waits for the server's close
/// with a generous bound, never on a clock threshold.
final class AdminConnectionTests: XCTestCase {
    private let token = "t0ken-admin"

    func testIdleConnectionIsClosed() async throws {
        let h = try await AdminHarness.start(.testing(token: token, idle: .milliseconds(300)))
        let socket = try RawSocket(port: h.port)
        let (text, closed) = socket.readUntilClosed(limit: .seconds(30))
        XCTAssertTrue(closed, "idle connection still open")
        XCTAssertEqual(text, "")
        await h.stop()
    }

    func testConnectionIsClosedAfterAnAnsweredRequestThenIdles() async throws {
        let h = try await AdminHarness.start(.testing(token: token, idle: .milliseconds(300)))
        // If this thread stalls past the idle timeout between connect and send, the server rightly
        // closes first; try again (boundedly) until a request gets in.
        var answered: RawSocket?
        for _ in 0..<10 where answered == nil {
            let socket = try RawSocket(port: h.port)
            socket.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            if RawSocket.status(of: socket.readResponse()) == 200 { answered = socket }
        }
        let socket = try XCTUnwrap(answered, "no request was answered")
        XCTAssertTrue(socket.readUntilClosed(limit: .seconds(30)).closed)
        await h.stop()
    }

    func testSlowHeadersAreCutOff() async throws {
        let h = try await AdminHarness.start(.testing(token: token, header: .milliseconds(500)))
        let socket = try RawSocket(port: h.port)
        // One byte at a time; the server must give up before the request line is complete.
        let request = Array("GET /health HTTP/1.1\r\nHost: example\r\nX-Padding: " + String(repeating: "a", count: 400))
        var closed = false
        for ch in request {
            if !socket.send(String(ch)) { closed = true; break }
            var pfd = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) > 0 {  // readable: the server closed (or answered, which is also wrong)
                let (text, gone) = socket.readUntilClosed(limit: .seconds(30))
                XCTAssertEqual(RawSocket.status(of: text) ?? 408, 408, text)
                closed = gone
                break
            }
        }
        XCTAssertTrue(closed, "a request dribbled over \(request.count) × 100 ms was never cut off")
        await h.stop()
    }

    func testHTTP09RequestIsClosed() async throws {
        let h = try await AdminHarness.start(.testing(token: token, header: .milliseconds(300)))
        let socket = try RawSocket(port: h.port)
        socket.send("GET /health\r\n")
        let (text, closed) = socket.readUntilClosed(limit: .seconds(30))
        XCTAssertTrue(closed, "HTTP/0.9 request held open")
        XCTAssertFalse(text.contains("\"ok\""), text)
        await h.stop()
    }

    func testBodyThatNeverArrivesIsCutOff() async throws {
        let h = try await AdminHarness.start(.testing(token: token, body: .milliseconds(300)))
        for framing in ["Content-Length: 100\r\n\r\nip=192.0", "Transfer-Encoding: chunked\r\n\r\n40\r\nip=192"] {
            let socket = try RawSocket(port: h.port)
            socket.send("POST /load HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n"
                        + "Content-Type: application/json\r\n" + framing)
            let (_, closed) = socket.readUntilClosed(limit: .seconds(30))
            XCTAssertTrue(closed, "\(framing): a promised body that never came held the connection")
        }
        XCTAssertNil(h.store.status(of: AdminHarness.nyc).lastLoad)
        await h.stop()
    }

    func testHTTP10WithoutKeepAliveIsClosedAfterTheReply() async throws {
        let h = try await AdminHarness.start(.testing(token: token))  // long idle timeout
        let socket = try RawSocket(port: h.port)
        socket.send("GET /health HTTP/1.0\r\n\r\n")
        let (text, closed) = socket.readUntilClosed(limit: .seconds(20))
        XCTAssertEqual(RawSocket.status(of: text), 200, text)
        XCTAssertTrue(closed, "HTTP/1.0 connection without keep-alive left open after the reply")
        await h.stop()
    }

    func testInvalidChunkSizeIs400NotTooLarge() async throws {
        let h = try await AdminHarness.start(.testing(token: token))
        let socket = try RawSocket(port: h.port)
        socket.send("POST /load HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n"
                    + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
        let text = socket.readResponse()
        XCTAssertEqual(RawSocket.status(of: text), 400, text)
        XCTAssertTrue(socket.readUntilClosed(limit: .seconds(20)).closed, "connection kept after a framing error")
        await h.stop()
    }

    /// With the total cap reached by idle connections, a new connection still gets `/health`: it
    /// evicts the oldest idle connection (an attacker holding idle sockets cannot lock the
    /// operator out; a request in progress is never cut).
    func testHealthAnswersWhileHundredsOfIdleConnectionsAreHeld() async throws {
        let cap = 200
        let h = try await AdminHarness.start(.testing(token: token, maxConnections: cap, perIP: cap + 10))
        var held: [RawSocket] = []
        for _ in 0..<cap { held.append(try RawSocket(port: h.port)) }
        for _ in 0..<3 {
            let socket = try RawSocket(port: h.port)
            socket.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(RawSocket.status(of: socket.readResponse()), 200)
        }
        // Each new connection over the cap closed a held idle connection (the close travels
        // asynchronously, so wait for it — boundedly — on all held sockets at once).
        var fds = held.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        let deadline = ContinuousClock.now + .seconds(30)
        var ready: Int32 = 0
        while ready == 0 && ContinuousClock.now < deadline {
            ready = poll(&fds, nfds_t(fds.count), 100)
        }
        let closed = zip(held, fds).filter { $1.revents != 0 && $0.readUntilClosed(limit: .seconds(5)).closed }
        XCTAssertGreaterThanOrEqual(closed.count, 1, "no idle connection was evicted to make room")
        await h.stop()
    }

    /// Over the per-address cap, new connections are refused (closed unanswered); the address's
    /// existing connections keep working.
    func testPerAddressCapRefusesNewConnections() async throws {
        let h = try await AdminHarness.start(.testing(token: token, maxConnections: 100, perIP: 3))
        let first = try RawSocket(port: h.port)
        let others = [try RawSocket(port: h.port), try RawSocket(port: h.port)]
        // An answer on each proves the server has admitted all three before the fourth comes.
        for socket in [first] + others {
            socket.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(RawSocket.status(of: socket.readResponse()), 200)
        }
        let refused = try RawSocket(port: h.port)
        refused.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = refused.readUntilClosed(limit: .seconds(30))
        XCTAssertTrue(closed)
        XCTAssertEqual(text, "", "a connection over the per-address cap was answered")
        first.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(RawSocket.status(of: first.readResponse()), 200)
        _ = others
        await h.stop()
    }
}
