#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import DNSWire
import Synchronization
import XCTest
@testable import DNSServer

// MARK: - A small real DNS responder, built by hand from the query bytes

/// Builds DNS messages by hand (the DNSWire message types are not available to this target yet).
enum TestDNS {
    /// A query (RFC 1035 §4.1): header with RD, one question of `type` IN.
    static func query(id: UInt16, name: String, type: UInt16 = 1) -> [UInt8] {
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        out += [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
        return out
    }

    /// The ID of a message.
    static func id(_ message: [UInt8]) -> UInt16? {
        message.count >= 2 ? UInt16(message[0]) << 8 | UInt16(message[1]) : nil
    }

    /// Parses the question of a query: the first label (lowercased) and the end offset of the
    /// question section; nil when it is not a well-formed single-question query.
    static func question(_ q: UnsafeRawBufferPointer) -> (firstLabel: String, end: Int)? {
        guard q.count >= 12, q[2] & 0x80 == 0 else { return nil }          // QR must be 0
        guard q[4] == 0, q[5] == 1 else { return nil }                    // QDCOUNT == 1
        var offset = 12
        var first = ""
        while true {
            guard offset < q.count else { return nil }
            let length = Int(q[offset])
            if length == 0 { offset += 1; break }
            guard length < 64, offset + 1 + length <= q.count else { return nil }
            if first.isEmpty {
                first = String(decoding: UnsafeRawBufferPointer(rebasing: q[(offset + 1)..<(offset + 1 + length)]),
                               as: UTF8.self).lowercased()
            }
            offset += 1 + length
        }
        guard offset + 4 <= q.count else { return nil }
        return (first, offset + 4)
    }

    /// A response: ID and question copied, QR+AA, one A record (name pointer to offset 12).
    static func answer(to q: UnsafeRawBufferPointer, questionEnd: Int, address: [UInt8],
                       into out: UnsafeMutableRawBufferPointer) -> Int {
        let length = questionEnd + 16
        guard out.count >= length else { return 0 }
        for i in 0..<questionEnd { out[i] = q[i] }
        out[2] = 0x84 | (q[2] & 0x79)   // QR, opcode copied, AA, RD copied
        out[3] = 0x00                    // RA=0, RCODE NOERROR
        out[6] = 0; out[7] = 1           // ANCOUNT 1
        out[8] = 0; out[9] = 0; out[10] = 0; out[11] = 0
        let rr: [UInt8] = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4] + address
        for (i, b) in rr.enumerated() { out[questionEnd + i] = b }
        return length
    }

    /// Checks a response to `query`: same ID, QR set, one answer, and returns the A RDATA.
    static func answerAddress(_ response: [UInt8], query: [UInt8]) -> [UInt8]? {
        guard response.count == query.count + 16, response[0] == query[0], response[1] == query[1],
              response[2] & 0x80 != 0, response[7] == 1 else { return nil }
        return Array(response[(response.count - 4)...])
    }
}

/// What the test handler saw, shared by all its workers.
final class HandlerLog: Sendable {
    private let state = Mutex<(workers: Int, clients: [ClientEndpoint], handledBy: Set<Int>)>((0, [], []))
    func workerMade() -> Int { state.withLock { $0.workers += 1; return $0.workers } }
    func record(_ client: ClientEndpoint, worker: Int) {
        state.withLock { $0.clients.append(client); $0.handledBy.insert(worker) }
    }
    var workersMade: Int { state.withLock { $0.workers } }
    var clients: [ClientEndpoint] { state.withLock { $0.clients } }
    var workersThatHandled: Set<Int> { state.withLock { $0.handledBy } }
    /// Queries handled so far (without copying the log).
    var count: Int { state.withLock { $0.clients.count } }
    /// The position of the first query handled from `address`, if any.
    func firstIndex(of address: IPAddress) -> Int? {
        state.withLock { $0.clients.firstIndex { $0.address == address } }
    }
}

/// Answers `A 192.0.2.1` to every well-formed query; first label `drop` → `.drop`;
/// `later` → `.later` and a reply through the sink 50 ms later from another thread;
/// a first label starting `big` → a 60000-byte reply (the answer, then padding).
struct TestQueryHandler: QueryHandler {
    let log = HandlerLog()

    func makeWorker() -> QueryWorker {
        TestWorker(id: log.workerMade(), log: log)
    }
}

final class TestWorker: QueryWorker {
    let id: Int
    let log: HandlerLog
    init(id: Int, log: HandlerLog) { self.id = id; self.log = log }

    func handle(query: UnsafeRawBufferPointer, client: ClientEndpoint,
                output: UnsafeMutableRawBufferPointer, sink: ReplySink) -> QueryDisposition {
        guard let (label, end) = TestDNS.question(query) else { return .drop }
        log.record(client, worker: id)
        switch label {
        case "drop":
            return .drop
        case "later":
            let copy = Array(query)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                var reply = [UInt8](repeating: 0, count: end + 16)
                let n = copy.withUnsafeBytes { q in
                    reply.withUnsafeMutableBytes { TestDNS.answer(to: q, questionEnd: end, address: [192, 0, 2, 99], into: $0) }
                }
                sink.send(Array(reply[0..<n]), to: client)
            }
            return .later
        case _ where label.hasPrefix("big"):
            // The answer followed by padding: a 60000-byte reply (only the framing matters here).
            let n = TestDNS.answer(to: query, questionEnd: end, address: [192, 0, 2, 1], into: output)
            for i in n..<60000 { output[i] = 0 }
            return .reply(length: 60000)
        default:
            return .reply(length: TestDNS.answer(to: query, questionEnd: end, address: [192, 0, 2, 1], into: output))
        }
    }
}

/// A count several test threads add to.
final class AnswerCount: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var value: Int { count.withLock { $0 } }
}

// MARK: - Blocking loopback clients

/// A connected-less UDP client socket with a receive timeout.
final class UDPClient {
    let fd: Int32
    let server: ServerEndpoint

    /// Connects to `server`, from `source` (port 0) when given (e.g. another 127/8 address), with
    /// a small receive buffer when `receiveBuffer` is given.
    init(server: ServerEndpoint, timeoutMilliseconds: Int = 2000, source: IPAddress? = nil) throws {
        let family: Int32
        if case .v6 = server.address { family = AF_INET6 } else { family = AF_INET }
        fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket() failed: errno \(errno)") }
        self.server = server
        setTimeout(milliseconds: timeoutMilliseconds)
    }

    func setTimeout(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var storage = sockaddr_storage()
        let length = server.address.encode(port: server.port, into: &storage)
        _ = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, length) }
            }
        }
    }

    /// The next datagram, or nil on timeout.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65535)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Array(buffer[0..<n]) : nil
    }

    func exchange(_ bytes: [UInt8]) -> [UInt8]? {
        send(bytes)
        return receive()
    }

    /// The local port of this socket (after the first send).
    var localPort: UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return withUnsafeBytes(of: &storage) { IPAddress.decode(sockaddr: $0.baseAddress!)?.1 }
    }
}

/// A blocking TCP client with a receive timeout. Sendable: it is one descriptor, and a writer
/// and a reader thread may use it at once (as the socket allows).
final class TCPClient: @unchecked Sendable {
    let fd: Int32

    /// Connects to `server`, from `source` (port 0) when given (e.g. another 127/8 address), with
    /// a small receive buffer when `receiveBuffer` is given.
    init(server: ServerEndpoint, timeoutMilliseconds: Int = 2000, source: IPAddress? = nil,
         receiveBuffer: Int32? = nil) throws {
        let family: Int32
        if case .v6 = server.address { family = AF_INET6 } else { family = AF_INET }
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {  // before connect, so the advertised window stays small
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            var local = sockaddr_storage()
            let localLength = source.encode(port: 0, into: &local)
            _ = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, localLength) }
            }
        }
        var storage = sockaddr_storage()
        let length = server.address.encode(port: server.port, into: &storage)
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw DNSServerError(code: .bind, errno: e, context: "test connect")
        }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes all of `bytes`, blocking while the socket is full; stops early on an error.
    func writeAll(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return }
            written += n
        }
    }

    /// Writes as much of `bytes` as the socket takes without blocking; returns the count written.
    func writeNonBlocking(_ bytes: [UInt8]) -> Int {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + written, $0.count - written, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if n <= 0 { break }
            written += n
        }
        return written
    }

    static func frame(_ message: [UInt8]) -> [UInt8] {
        [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
    }

    /// Reads exactly `count` bytes; nil on EOF, error or timeout.
    func read(_ count: Int) -> [UInt8]? {
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: count)
        while out.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - out.count, 0) }
            if n <= 0 { return nil }
            out += buffer[0..<n]
        }
        return out
    }

    /// Reads one length-prefixed DNS message.
    func readFrame() -> [UInt8]? {
        guard let prefix = read(2) else { return nil }
        return read(Int(prefix[0]) << 8 | Int(prefix[1]))
    }

    /// True when the server closed the connection (EOF or reset) before the timeout.
    func waitForClose() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        if n == 0 { return true }
        return n < 0 && (errno == ECONNRESET || errno == EPIPE)
    }
}

/// Names of this process's threads (from /proc/self/task/*/comm).
func threadNames() -> [String] {
    guard let dir = opendir("/proc/self/task") else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard tid.first?.isNumber == true, let f = fopen("/proc/self/task/\(tid)/comm", "r") else { continue }
        var buf = [CChar](repeating: 0, count: 64)
        if fgets(&buf, 64, f) != nil {
            names.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                .filter { $0 != "\n" })
        }
        fclose(f)
    }
    return names
}

/// Fails (throws) unless `::1` can be bound: the IPv6 cases are part of the suite, not optional.
func requireIPv6Loopback() throws {
    guard ipv6LoopbackAvailable() else {
        throw TestSetupError("IPv6 loopback ::1 cannot be bound: enable IPv6 on lo (sysctl -w net.ipv6.conf.lo.disable_ipv6=0)")
    }
}

/// Why a test could not set up; it fails with this message (tests never skip silently).
struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// True when a plain UDP socket (no SO_REUSEPORT) can bind `endpoint`: nothing else holds it.
func udpPortIsFree(_ endpoint: ServerEndpoint) -> Bool {
    let fd = socket(endpoint.address.family == 1 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var storage = sockaddr_storage()
    let length = endpoint.address.encode(port: endpoint.port, into: &storage)
    return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    } == 0
}

/// True when the loopback IPv6 address can be bound here.
func ipv6LoopbackAvailable() -> Bool {
    let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var storage = sockaddr_storage()
    let length = IPAddress.v6(0, 1).encode(port: 0, into: &storage)
    return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    } == 0
}
