import DNSWire
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test upstreams for the forwarder: knotd serving a zone on a loopback port, a counting UDP relay
/// in front of it, and a scripted UDP "upstream" that can spoof. Every loop is bounded by socket
/// timeouts and a stop flag.
enum TestUpstreams {
    /// The upstream zone: a positive name, an SOA whose minimum sets the NXDOMAIN cache time, and a
    /// TXT too large for 1232 bytes (the UDP reply is truncated; the forwarder retries over TCP).
    static func zone() -> String {
        let chunk = String(repeating: "x", count: 250)
        let txt = (0..<8).map { _ in "\"\(chunk)\"" }.joined(separator: " ")
        return """
        $ORIGIN upstream.test.
        $TTL 300
        @     IN SOA ns hostmaster 1 7200 3600 1209600 120
              NS  ns
        ns    A   192.0.2.53
        www   A   198.51.100.7
        mixed A   198.51.100.8
        big   TXT \(txt)
        """
    }

    /// Starts knotd for `upstream.test.` on a free loopback port; nil (with a failure already
    /// reported by the caller) when knotd is missing or does not come up.
    final class Knot {
        let process: Process
        let port: UInt16
        let directory: URL

        init() throws {
            guard let knotd = KnotReferenceTests.knotd() else {
                throw DNSTestClient.Failure(description: "knotd is not installed (Scripts/setup --for-tests installs it)")
            }
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("knot-fwd-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let zoneFile = directory.appendingPathComponent("upstream.zone")
            try Data(TestUpstreams.zone().utf8).write(to: zoneFile)
            port = KnotReferenceTests.freePort()
            let conf = """
            server:
                listen: 127.0.0.1@\(port)
                rundir: \(directory.path)
            database:
                storage: \(directory.path)/db
            zone:
              - domain: upstream.test.
                file: \(zoneFile.path)
                zonefile-load: whole
                journal-content: none
            log:
              - target: stderr
                any: error
            """
            try Data(conf.utf8).write(to: directory.appendingPathComponent("knot.conf"))
            process = Process()
            process.executableURL = URL(fileURLWithPath: knotd)
            process.arguments = ["-c", directory.appendingPathComponent("knot.conf").path]
            try process.run()
            let localhost = IPAddress("127.0.0.1")!
            let port = self.port
            let up = LiveServer.eventually(timeout: 10) {
                (try? DNSTestClient.udp("upstream.test.", .soa, server: localhost, port: port))?.rcode == .noError
            }
            guard up else {
                stop()
                throw DNSTestClient.Failure(description: "knotd did not start on port \(port)")
            }
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// A UDP socket bound to `address`:0 with a receive timeout; returns (fd, port).
    static func boundUDP(_ address: IPAddress = IPAddress("127.0.0.1")!) throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw DNSTestClient.Failure(description: "socket: \(errno)") }
        var (ss, len) = DNSTestClient.makeSockaddr(for: address, port: 0)
        let rc = withUnsafePointer(to: &ss) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0 else { close(fd); throw DNSTestClient.Failure(description: "bind: \(errno)") }
        var sin = sockaddr_in()
        var sl = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &sl) } }
        DNSTestClient.setTimeout(fd, 0.1)
        return (fd, UInt16(bigEndian: sin.sin_port))
    }

    /// Sends `query` over UDP from `source` (e.g. 127.0.0.2, a client outside `forward.allow`).
    static func udp(from source: IPAddress, _ query: [UInt8], to port: UInt16, timeout: Double = 5) throws -> Message? {
        let (fd, _) = try boundUDP(source)
        defer { close(fd) }
        DNSTestClient.setTimeout(fd, timeout)
        var (ss, len) = DNSTestClient.makeSockaddr(for: IPAddress("127.0.0.1")!, port: port)
        _ = withUnsafePointer(to: &ss) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, query, query.count, 0, $0, len) } }
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = recv(fd, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        return try Message(parsing: Array(buf[0..<n]))
    }

    /// A UDP server thread on 127.0.0.1: `respond` gets each datagram and a send function to the
    /// datagram's source (and may use `spoofFD` to answer from another port). Counts datagrams.
    final class ScriptedUDP: @unchecked Sendable {
        let fd: Int32
        let spoofFD: Int32
        let port: UInt16
        private let lock = NSLock()
        private var received = 0
        private var stopped = false
        private let done = DispatchSemaphore(value: 0)

        var count: Int { lock.lock(); defer { lock.unlock() }; return received }

        init(respond: @escaping @Sendable (_ query: [UInt8], _ reply: (Int32, [UInt8]) -> Void, _ spoofFD: Int32) -> Void) throws {
            (fd, port) = try TestUpstreams.boundUDP()
            (spoofFD, _) = try TestUpstreams.boundUDP()
            let fd = self.fd, spoof = self.spoofFD
            Thread.detachNewThread { [self] in
                var buf = [UInt8](repeating: 0, count: 65535)
                while true {
                    self.lock.lock(); let stop = self.stopped; self.lock.unlock()
                    if stop { break }
                    var from = sockaddr_storage()
                    var fl = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    let n = withUnsafeMutablePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &fl) }
                    }
                    guard n > 0 else { continue }
                    self.lock.lock(); self.received += 1; self.lock.unlock()
                    let query = Array(buf[0..<n])
                    respond(query, { sendFD, bytes in
                        let sendFD = sendFD < 0 ? fd : sendFD
                        _ = withUnsafePointer(to: &from) { p in
                            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sendFD, bytes, bytes.count, 0, $0, fl) }
                        }
                    }, spoof)
                }
                self.done.signal()
            }
        }

        func stop() {
            lock.lock(); stopped = true; lock.unlock()
            _ = done.wait(timeout: .now() + 5)
            close(fd)
            close(spoofFD)
        }

        /// A relay that forwards each query to `127.0.0.1:upstreamPort` and returns the reply
        /// (UDP only): counts the packets the forwarder sends upstream.
        static func relay(to upstreamPort: UInt16) throws -> ScriptedUDP {
            try ScriptedUDP { query, reply, _ in
                guard let r = try? DNSTestClient.udpRaw(query, to: IPAddress("127.0.0.1")!, port: upstreamPort, timeout: 2) else { return }
                reply(-1, r)
            }
        }
    }
}
