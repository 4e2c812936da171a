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
