#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DDNS
import Foundation
import XCTest

/// `ddns.max_connections_per_ip` and `ddns.idle_timeout` reach the API listener (the rules
/// themselves are AdminAPI's, tested in AdminConnectionTests).
final class DDNSConnectionTests: XCTestCase {
    func testIdleConnectionsAreClosed() async throws {
        let h = try await DDNSHarness.start { $0.idleTimeout = .milliseconds(300) }
        let socket = try LoopbackSocket(port: h.port)
        let (text, closed) = socket.read(until: { _ in false })
        XCTAssertTrue(closed, "an idle connection was kept past ddns.idle_timeout")
        XCTAssertEqual(text, "")
        await h.stop()
    }

    func testPerAddressCapRefusesTheNextConnection() async throws {
        let h = try await DDNSHarness.start { $0.maxConnectionsPerIP = 2 }
        let held = [try LoopbackSocket(port: h.port), try LoopbackSocket(port: h.port)]
        // An answer on each proves both were admitted before the third comes.
        for socket in held {
            socket.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertTrue(socket.read(until: { $0.contains("PONG") }).text.contains("PONG"))
        }
        let refused = try LoopbackSocket(port: h.port)
        refused.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = refused.read(until: { _ in false })
        XCTAssertTrue(closed)
        XCTAssertEqual(text, "", "a connection over ddns.max_connections_per_ip was answered")
        _ = held
        await h.stop()
    }

    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        let h = try await DDNSHarness.start()
        let socket = try LoopbackSocket(port: h.port)
        // Three requests in one segment: each is answered, in order, on the one connection.
        socket.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ip HTTP/1.1\r\nHost: x\r\n\r\n"
                     + "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = socket.read(until: { $0.contains("no such call") })
        XCTAssertFalse(closed, text)
        let pong = try XCTUnwrap(text.range(of: "PONG"))
        let ip = try XCTUnwrap(text.range(of: #""ip":"127.0.0.1""#))
        let missing = try XCTUnwrap(text.range(of: "404 Not Found"))
        XCTAssertTrue(pong.upperBound < ip.lowerBound && ip.upperBound < missing.lowerBound, text)
        XCTAssertEqual(text.components(separatedBy: "HTTP/1.1 ").count - 1, 3, text)
        await h.stop()
    }

    func testExpectContinueGetsTheInterimReplyBeforeTheBody() async throws {
        let h = try await DDNSHarness.start()
        let socket = try LoopbackSocket(port: h.port)
        let body = #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.1"}]}"#
        // What curl sends for a body over 1 KiB: the head alone, then the body after `100 Continue`.
        socket.write("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(DDNSHarness.admin)\r\n"
                     + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
        let interim = socket.read(until: { $0.contains("\r\n\r\n") })
        XCTAssertTrue(interim.text.hasPrefix("HTTP/1.1 100 Continue\r\n"), interim.text)
        socket.write(body)
        let (text, _) = socket.read(until: { $0.contains("201 Created") && $0.contains("}") })
        XCTAssertTrue(text.contains("a.s1.dyn.example.test."), text)
        await h.stop()
    }

    /// The response's bytes (written by the handler, not NIO's encoder): status line, headers,
    /// body, and the connection rules `AdminHTTPGuard` applies to the admin API.
    func testResponsesAreWellFormedAndCloseWhenTheRequestAsks() async throws {
        let h = try await DDNSHarness.start()
        // HTTP/1.1, keep-alive by default: exact head, the connection stays open.
        let keep = try LoopbackSocket(port: h.port)
        keep.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        let ping = keep.read(until: { $0.contains("}\n") })
        XCTAssertFalse(ping.closed)
        XCTAssertEqual(ping.text, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                       + "Content-Length: 19\r\n\r\n{\"message\":\"PONG\"}\n")
        // `Connection: close` on 1.1: answered with it, then closed.
        keep.write("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let last = keep.read(until: { _ in false })
        XCTAssertTrue(last.closed)
        XCTAssertTrue(last.text.hasPrefix("HTTP/1.1 200 OK\r\n") && last.text.contains("\r\nConnection: close\r\n"), last.text)
        // HTTP/1.0 without keep-alive: a 1.0 status line, then closed.
        let old = try LoopbackSocket(port: h.port)
        old.write("GET /ping HTTP/1.0\r\n\r\n")
        let answer = old.read(until: { _ in false })
        XCTAssertTrue(answer.closed, "an HTTP/1.0 connection without keep-alive was left open")
        XCTAssertTrue(answer.text.hasPrefix("HTTP/1.0 200 OK\r\n") && answer.text.hasSuffix("{\"message\":\"PONG\"}\n"), answer.text)
        // HTTP/1.0 asking for keep-alive: kept.
        let alive = try LoopbackSocket(port: h.port)
        alive.write("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let kept = alive.read(until: { $0.contains("}\n") })
        XCTAssertFalse(kept.closed)
        XCTAssertFalse(kept.text.lowercased().contains("connection: close"), kept.text)
        // A reply header of the API's own (401's WWW-Authenticate) is written too.
        alive.write("GET /silos HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let unauthorized = alive.read(until: { $0.contains("}\n") })
        XCTAssertTrue(unauthorized.text.hasPrefix("HTTP/1.0 401 Unauthorized\r\n"), unauthorized.text)
        XCTAssertTrue(unauthorized.text.contains("\r\nWWW-Authenticate: Bearer realm=\"proxima-ddns\"\r\n"), unauthorized.text)
        await h.stop()
    }

    func testMalformedRequestIs400AndTheConnectionCloses() async throws {
        let h = try await DDNSHarness.start()
        let socket = try LoopbackSocket(port: h.port)
        socket.write("GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: nine\r\n\r\n")
        let (text, closed) = socket.read(until: { _ in false })
        XCTAssertTrue(closed)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), text)
        XCTAssertTrue(text.contains("malformed HTTP request"), text)
        XCTAssertTrue(text.lowercased().contains("connection: close"), text)
        await h.stop()
    }

    /// The listener's own parser over a real socket: a chunked body (extension and trailer
    /// included) is read whole, and a framing it refuses gets its status and a closed connection.
    func testChunkedBodiesAreReadAndRefusedFramingsClose() async throws {
        let h = try await DDNSHarness.start()
        let socket = try LoopbackSocket(port: h.port)
        let body = #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.1"}]}"#.utf8
        let first = String(decoding: body.prefix(10), as: UTF8.self)
        let rest = String(decoding: body.dropFirst(10), as: UTF8.self)
        socket.write("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(DDNSHarness.admin)\r\n"
                     + "Transfer-Encoding: chunked\r\n\r\n"
                     + String(10, radix: 16) + ";note=first\r\n" + first + "\r\n"
                     + String(rest.utf8.count, radix: 16) + "\r\n" + rest + "\r\n0\r\nX-Trailer: t\r\n\r\n")
        let created = socket.read(until: { $0.contains("}\n") })
        XCTAssertFalse(created.closed)
        XCTAssertTrue(created.text.hasPrefix("HTTP/1.1 201 Created\r\n"), created.text)
        XCTAssertTrue(created.text.contains("a.s1.dyn.example.test."), created.text)
        for (request, status) in [
            ("GET /ping HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported"),
            ("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501 Not Implemented"),
            ("GET /ping HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n", "431 Request Header Fields Too Large"),
            ("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request"),
        ] {
            let refused = try LoopbackSocket(port: h.port)
            refused.write(request)
            let (text, closed) = refused.read(until: { _ in false })
            XCTAssertTrue(closed, text)
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 \(status)\r\n"), text)
            XCTAssertTrue(text.contains("Connection: close\r\n"), text)
        }
        await h.stop()
    }

    func testWrongMethodIs405NamingTheAllowedOnes() async throws {
        let h = try await DDNSHarness.start()
        let socket = try LoopbackSocket(port: h.port)
        socket.write("POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let (text, closed) = socket.read(until: { $0.contains("}") })
        XCTAssertFalse(closed)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"), text)
        XCTAssertTrue(text.contains("Allow: GET\r\n"), text)
        await h.stop()
    }

    func testOversizedBodyIsRefusedBeforeItIsSentAndTheConnectionCloses() async throws {
        let h = try await DDNSHarness.start()
        // Unauthorized: 401, whatever the size (sizes are nobody's business without a token).
        let stranger = try LoopbackSocket(port: h.port)
        stranger.write("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        let refused = stranger.read(until: { _ in false })
        XCTAssertTrue(refused.closed)
        XCTAssertTrue(refused.text.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), refused.text)
        // The admin: 413 at once, without the 100 MB being sent, and the connection closes.
        let admin = try LoopbackSocket(port: h.port)
        admin.write("PUT /silos/s1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(DDNSHarness.admin)\r\nContent-Length: 100000000\r\n\r\n")
        let (text, closed) = admin.read(until: { _ in false })
        XCTAssertTrue(closed)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), text)
        XCTAssertTrue(text.contains("body: 100000000 bytes, at most 65536"), text)
        await h.stop()
    }
}

/// A blocking loopback TCP client whose reads give up after 30 s (a broken server cannot hang
/// the suite; the tests assert on what arrived, not on time).
final class LoopbackSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let e = errno
            close(fd)
            throw HarnessError("connect: errno \(e)")
        }
    }

    deinit { close(fd) }

    @discardableResult
    func write(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count
    }

    /// Reads until `done` holds for what arrived, the peer closes, or the 30 s receive timeout.
    func read(until done: (String) -> Bool) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return (String(decoding: received, as: UTF8.self), true) }
            if n < 0 { return (String(decoding: received, as: UTF8.self), errno == ECONNRESET) }
            received += buffer[0..<n]
            let text = String(decoding: received, as: UTF8.self)
            if done(text) { return (text, false) }
        }
    }
}
