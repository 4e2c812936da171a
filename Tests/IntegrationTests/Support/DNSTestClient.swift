import DNSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking DNS client over real sockets for tests: UDP and TCP, loopback only, every
/// call bounded by a timeout.
enum DNSTestClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func makeSockaddr(for address: IPAddress, port: UInt16) -> (sockaddr_storage, socklen_t) {
        var ss = sockaddr_storage()
        switch address {
        case .v4(let v):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = v.bigEndian
            withUnsafeBytes(of: &sin) { src in
                withUnsafeMutableBytes(of: &ss) { $0.copyMemory(from: src) }
            }
            return (ss, socklen_t(MemoryLayout<sockaddr_in>.size))
        case .v6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            let b = address.bytes
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { for i in 0..<16 { $0[i] = b[i] } }
            withUnsafeBytes(of: &sin6) { src in
                withUnsafeMutableBytes(of: &ss) { $0.copyMemory(from: src) }
            }
            return (ss, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
    }

    static func setTimeout(_ fd: Int32, _ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends raw bytes over UDP and returns the raw reply, or nil on timeout.
    static func udpRaw(_ query: [UInt8], to address: IPAddress, port: UInt16, timeout: Double = 2) throws -> [UInt8]? {
        let fd = socket(address.family == 1 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        setTimeout(fd, timeout)
        var (ss, len) = makeSockaddr(for: address, port: port)
        let sent = withUnsafePointer(to: &ss) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, query, query.count, 0, $0, len) }
        }
        guard sent == query.count else { throw Failure(description: "sendto: \(errno)") }
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = recv(fd, &buf, buf.count, 0)
        if n < 0 { return nil }
        return Array(buf[0..<n])
    }

    /// Sends every query from one UDP socket at once, then collects replies until none arrives
    /// for `quiet` seconds (or `deadline` seconds pass in all); returns them in arrival order.
    static func udpBurst(_ queries: [[UInt8]], to address: IPAddress, port: UInt16, quiet: Double = 1,
                         deadline: Double = 10) throws -> [[UInt8]] {
        let fd = socket(address.family == 1 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        setTimeout(fd, quiet)
        var (ss, len) = makeSockaddr(for: address, port: port)
        for query in queries {
            let sent = withUnsafePointer(to: &ss) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, query, query.count, 0, $0, len) }
            }
            guard sent == query.count else { throw Failure(description: "sendto: \(errno)") }
        }
        var replies: [[UInt8]] = []
        let end = Date().addingTimeInterval(deadline)
        var buf = [UInt8](repeating: 0, count: 65535)
        while Date() < end, replies.count < 10_000 {
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 { break }
            replies.append(Array(buf[0..<n]))
        }
        return replies
    }

    /// Sends queries over one TCP connection (RFC 7766 framing) and reads one reply per query.
    static func tcpRaw(_ queries: [[UInt8]], to address: IPAddress, port: UInt16, timeout: Double = 3) throws -> [[UInt8]] {
        let fd = socket(address.family == 1 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        setTimeout(fd, timeout)
        var (ss, len) = makeSockaddr(for: address, port: port)
        let rc = withUnsafePointer(to: &ss) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) }
        }
        guard rc == 0 else { throw Failure(description: "connect: \(errno)") }
        var out: [UInt8] = []
        for q in queries { out += [UInt8(q.count >> 8), UInt8(q.count & 0xff)] + q }
        var off = 0
        while off < out.count {
            let n = out[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: \(errno)") }
            off += n
        }
        var replies: [[UInt8]] = []
        func readExactly(_ count: Int) throws -> [UInt8] {
            var b = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = b[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw Failure(description: "recv: \(n == 0 ? "closed" : "errno \(errno)")") }
                got += n
            }
            return b
        }
        for _ in queries {
            let l = try readExactly(2)
            replies.append(try readExactly(Int(l[0]) << 8 | Int(l[1])))
        }
        return replies
    }

    /// Builds a query message.
    static func query(_ name: String, _ type: RecordType, id: UInt16 = UInt16.random(in: 0...UInt16.max),
                      edns: EDNS? = EDNS(udpPayloadSize: 1232), rd: Bool = true) -> [UInt8] {
        let m = Message(header: Header(id: id, recursionDesired: rd),
                        questions: [Question(name: try! DomainName(parsing: name), type: type)], edns: edns)
        return m.serialized()
    }

    static func udp(_ name: String, _ type: RecordType, server: IPAddress, port: UInt16,
                    edns: EDNS? = EDNS(udpPayloadSize: 1232)) throws -> Message {
        let q = query(name, type, edns: edns)
        guard let r = try udpRaw(q, to: server, port: port) else { throw Failure(description: "timeout for \(name) \(type)") }
        let m = try Message(parsing: r)
        guard m.header.id == UInt16(q[0]) << 8 | UInt16(q[1]) else { throw Failure(description: "ID mismatch") }
        return m
    }

    static func tcp(_ name: String, _ type: RecordType, server: IPAddress, port: UInt16,
                    edns: EDNS? = EDNS(udpPayloadSize: 1232)) throws -> Message {
        let q = query(name, type, edns: edns)
        return try Message(parsing: try tcpRaw([q], to: server, port: port)[0])
    }
}
