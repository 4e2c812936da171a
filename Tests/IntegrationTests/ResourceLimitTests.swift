import DNSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// The real `proxima` binary under resource pressure (issues #8.3, #14.1, #14.4): memory with
/// clients that never read, file descriptors under a low RLIMIT_NOFILE, and shutdown.
final class ResourceLimitTests: XCTestCase {
    static let zone = """
        $ORIGIN limits.test.
        $TTL 300
        @    SOA ns hostmaster 1 7200 3600 1209600 60
             NS  ns
        ns   A   192.0.2.53
        www  A   192.0.2.10
        \((0..<12).map { "fat  TXT \"\(String(repeating: Character(UnicodeScalar(UInt8(97 + $0))), count: 200))\"" }.joined(separator: "\n"))
        """

    /// A scratch directory with the zone and a config; `extra` is appended to the config.
    static func makeDirectory(extra: String = "") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(zone.utf8).write(to: dir.appendingPathComponent("limits.zone"))
        let config = """
            listen:
              - 127.0.0.1:0
            udp_threads: 2
            log_level: info
            zones:
              - origin: limits.test.
                file: limits.zone
            admin:
              listen: 127.0.0.1:0
            \(extra)
            """
        try Data(config.utf8).write(to: dir.appendingPathComponent("proxima.yaml"))
        return dir
    }

    /// The admin port from the "admin API listening" log line.
    static func adminPort(_ proc: ServerProcess) -> Int? {
        var port: Int?
        _ = LiveServer.eventually(timeout: 20) {
            // swift-log's stream handler writes the metadata before the message.
            for line in proc.stderr.split(separator: "\n") where line.contains("admin API listening") {
                if let r = line.range(of: #"port=\d+"#, options: .regularExpression), let n = Int(line[r].dropFirst(5)) {
                    port = n
                    return true
                }
            }
            return false
        }
        return port
    }

    /// `GET /health` over a fresh connection; the status line, or nil when nothing came back.
    static func health(port: Int, timeout: Double = 3) -> String? {
        guard let fd = connectTCP(IPAddress("127.0.0.1")!, UInt16(port)) else { return nil }
        defer { close(fd) }
        DNSTestClient.setTimeout(fd, timeout)
        let request = Array("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\r\n").first.map(String.init)
    }

    /// A connected TCP socket (blocking connect) from `source` when given, with a small receive
    /// buffer when `receiveBuffer` is given; nil when the connect fails.
    static func connectTCP(_ address: IPAddress, _ port: UInt16, source: IPAddress? = nil,
                           receiveBuffer: Int32? = nil) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        if var size = receiveBuffer {  // before connect, so the advertised window stays small
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var (local, length) = DNSTestClient.makeSockaddr(for: source, port: 0)
            _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        }
        var (ss, len) = DNSTestClient.makeSockaddr(for: address, port: port)
        let rc = withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        guard rc == 0 else { close(fd); return nil }
        return fd
    }

    /// Resident set size of `pid` in bytes (VmRSS in /proc/PID/status).
    static func rss(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kb * 1024
    }

    // MARK: D. Shutdown (#14.4)

    /// SIGTERM: the process exits 0 without waiting on idle UDP threads or poll loops, and says
    /// so in one line.
    func testSIGTERMExitsPromptlyAndLogsOneStoppedLine() throws {
        let dir = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        let port = try XCTUnwrap(proc.waitForPort(), "no listen line in: \(proc.stderr)")
        XCTAssertNotNil(Self.adminPort(proc), proc.stderr)
        let lo = IPAddress("127.0.0.1")!
        XCTAssertEqual(try DNSTestClient.tcp("www.limits.test.", .a, server: lo, port: port).rcode, .noError)
        proc.signal(SIGTERM)
        // Generous: the bound is the condition, not the speed (the log line carries the duration).
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0, proc.stderr)
        let stopped = proc.stderr.split(separator: "\n").filter { $0.contains("proxima stopped") }
        XCTAssertEqual(stopped.count, 1, "exactly one line says the server stopped:\n\(proc.stderr)")
        XCTAssertTrue(stopped.first?.contains("shutdown_ms=") ?? false, proc.stderr)
        // The DNS listeners close before anything else shuts down.
        let dnsStopped = proc.stderr.range(of: "DNS listeners stopped")
        XCTAssertNotNil(dnsStopped, proc.stderr)
    }

    // MARK: A. Lock-out (#8.2)

    /// The report of #8.2: with `max_connections: 50`, 50 connections trickling a byte every
    /// 3 s (each byte restarting the idle timer) held every slot and every legitimate TCP query
    /// was refused. Now a legitimate query gets in: a trickling connection is evicted once it
    /// has been stuck for a second, and closed outright at the query timeout.
    func testTricklingConnectionsCannotLockOutTCP() throws {
        let dir = try Self.makeDirectory(extra: "tcp: {max_connections: 50}")
        defer { try? FileManager.default.removeItem(at: dir) }
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        let port = try XCTUnwrap(proc.waitForPort(), "no listen line in: \(proc.stderr)")
        let lo = IPAddress("127.0.0.1")!
        var trickling: [Int32] = []
        defer { for fd in trickling { close(fd) } }
        // One connection per address (so the per-address cap plays no part); the first byte of a
        // length prefix announcing 0x80xx bytes, a frame that is never finished.
        var trickleByte: UInt8 = 0x80
        func trickle() {
            for fd in trickling { _ = send(fd, &trickleByte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            trickleByte = 0x41
        }
        for i in 0..<50 {
            if let fd = Self.connectTCP(lo, port, source: IPAddress("127.0.0.\(2 + i)")!) { trickling.append(fd) }
        }
        XCTAssertEqual(trickling.count, 50)
        trickle()
        var answered = false
        var attempts = 0
        while !answered && attempts < 60 {
            attempts += 1
            answered = (try? DNSTestClient.tcp("www.limits.test.", .a, server: lo, port: port))?.rcode == .noError
            if !answered {
                usleep(250_000)
                if attempts % 12 == 0 { trickle() }  // a byte every 3 s, as in the report
            }
        }
        XCTAssertTrue(answered, "a legitimate TCP query must get through:\n\(proc.stderr.suffix(2000))")
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0)
    }

    // MARK: B. Memory (#8.3)

    /// 40 connections pipelining 10,000 ANY queries each and never reading: the server stops
    /// reading them (back-pressure), so its memory grows by a bounded number of bytes, and it
    /// gives most of it back once the connections close.
    func testClientsThatNeverReadCostBoundedMemory() throws {
        let dir = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        let port = try XCTUnwrap(proc.waitForPort(), "no listen line in: \(proc.stderr)")
        let pid = proc.process.processIdentifier
        let lo = IPAddress("127.0.0.1")!
        // Warm up (event loops, workers, the answer cache) so "before" is the steady state.
        for _ in 0..<20 { _ = try DNSTestClient.tcp("fat.limits.test.", .any, server: lo, port: port) }
        let answer = try DNSTestClient.tcpRaw([DNSTestClient.query("fat.limits.test.", .any)], to: lo, port: port)[0]
        XCTAssertGreaterThan(answer.count, 2000, "ANY for fat.limits.test. should be a big answer")
        let before = try XCTUnwrap(Self.rss(pid))

        let query = DNSTestClient.query("fat.limits.test.", .any, id: 7)
        let frame = [UInt8(query.count >> 8), UInt8(query.count & 0xff)] + query
        let stream = [UInt8]((0..<10_000).flatMap { _ in frame })
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for i in 0..<40 {  // two per address, under the per-address cap
            let source = IPAddress("127.0.0.\(1 + i % 20)")!
            sockets.append(try XCTUnwrap(Self.connectTCP(lo, port, source: source, receiveBuffer: 4096)))
        }
        // Push the 10,000 queries per connection as far as the server takes them, never reading.
        // Each round writes what the sockets accept; stop when a round moves no byte at all
        // (every connection's path is full) or everything is sent.
        var sent = [Int](repeating: 0, count: sockets.count)
        var peak = before
        var stalledRounds = 0
        for _ in 0..<5000 where stalledRounds < 5 && sent.contains(where: { $0 < stream.count }) {
            var moved = 0
            for (i, fd) in sockets.enumerated() where sent[i] < stream.count {
                let n = stream[sent[i]...].withUnsafeBytes {
                    send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                if n > 0 { sent[i] += n; moved += n }
            }
            peak = max(peak, Self.rss(pid) ?? 0)
            stalledRounds = moved == 0 ? stalledRounds + 1 : 0
            usleep(moved == 0 ? 50_000 : 2_000)
        }
        // Then until the server's memory stops growing: no new peak above 256 KiB for 60 samples
        // in a row (or it passed the bound: no need to wait for the rest). A debug build takes
        // seconds to fill every connection up to its caps.
        var quiet = 0
        for _ in 0..<1200 where quiet < 60 && peak - before < 48 << 20 {
            usleep(50_000)
            let now = Self.rss(pid) ?? 0
            quiet = now > peak + (256 << 10) ? 0 : quiet + 1
            peak = max(peak, now)
        }
        let growth = peak - before
        let sentQueries = sent.reduce(0, +) / frame.count
        print("rss before \(before >> 10) KiB, peak \(peak >> 10) KiB (+\(growth >> 10) KiB); queries sent \(sentQueries)")
        // Without back-pressure every query sent is answered into memory: about
        // sentQueries × answer bytes. With it, each connection holds at most 64 answers and a
        // few reads' worth of queries: 48 MiB for all 40 is generous.
        XCTAssertLessThan(growth, 48 << 20, "RSS grew by \(growth >> 20) MiB for 40 connections that never read")

        for fd in sockets { close(fd) }
        sockets = []
        // Memory comes back once the connections are gone (bounded by bytes; waits on the
        // condition). glibc keeps freed heap in its arenas unless trimmed; the server trims after
        // connections that were held up by back-pressure close. Untrimmed, about 5 MiB stayed
        // here (22 MB in the black-box check, whose debug server had filled up for longer; the
        // old 16 MiB bound let both pass); trimmed, under 1 MiB.
        var after = Int.max
        let returned = LiveServer.eventually(timeout: 30) {
            after = Self.rss(pid) ?? .max
            return after <= before + (2 << 20)
        }
        print("rss after close \(after >> 10) KiB (\((after - before) >> 10) KiB over before)")
        XCTAssertTrue(returned, "RSS after close \(after >> 10) KiB, before \(before >> 10) KiB")
        // And the server still answers.
        XCTAssertEqual(try DNSTestClient.tcp("www.limits.test.", .a, server: lo, port: port).rcode, .noError)
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0)
    }

    // MARK: C. File descriptors (#14.1)

    /// Started with RLIMIT_NOFILE 64 (soft and hard), hundreds of idle DNS TCP connections from
    /// 20 addresses cannot take the descriptors TCP queries and the admin API need: the TCP cap
    /// comes from the descriptor budget, a full table evicts the longest-idle connection, and
    /// /health keeps answering.
    func testIdleConnectionsCannotExhaustFileDescriptors() throws {
        let prlimit = "/usr/bin/prlimit"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: prlimit), "prlimit (util-linux) is required")
        let dir = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let proc = try ServerProcess(executable: URL(fileURLWithPath: prlimit), arguments: [
            "--nofile=64:64", ServerProcess.binary.path, "serve", "--config", dir.appendingPathComponent("proxima.yaml").path,
        ])
        let port = try XCTUnwrap(proc.waitForPort(), "no listen line in: \(proc.stderr)")
        let admin = try XCTUnwrap(Self.adminPort(proc), proc.stderr)
        XCTAssertEqual(Self.health(port: admin), "HTTP/1.1 200 OK")
        XCTAssertTrue(proc.stderr.contains("file descriptor limit"), proc.stderr)

        // 200 idle connections: 10 from each of 127.0.0.1...127.0.0.20 (under the per-address cap).
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for i in 0..<200 {
            let source = IPAddress("127.0.0.\(1 + i % 20)")!
            if let fd = Self.connectTCP(IPAddress("127.0.0.1")!, port, source: source) { idle.append(fd) }
        }
        XCTAssertGreaterThan(idle.count, 100, "the kernel accepts the connections into the backlog at least")
        let lo = IPAddress("127.0.0.1")!
        // A new query is answered (an idle connection makes room); retried while evictions settle.
        var answered = false
        for _ in 0..<20 where !answered {
            answered = (try? DNSTestClient.tcp("www.limits.test.", .a, server: lo, port: port, edns: nil))?
                .rcode == .noError
        }
        XCTAssertTrue(answered, "TCP queries must still be answered:\n\(proc.stderr.suffix(2000))")
        XCTAssertEqual(Self.health(port: admin), "HTTP/1.1 200 OK", "/health must still answer")
        XCTAssertEqual(try DNSTestClient.udp("www.limits.test.", .a, server: lo, port: port).rcode, .noError)
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0)
    }
}
