#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import Dispatch
import XCTest
@testable import DNSServer

/// Stopping promptly (#14.4) and running out of descriptors (#14.1), over real sockets.
final class ShutdownAndDescriptorTests: XCTestCase {
    /// #14.4: stop() does not wait for a worker's receive timeout: with a one-hour poll interval
    /// the threads blocked in recvmmsg must still be woken (shutdown(2) on the socket), and the
    /// port is free afterwards.
    func testUDPStopWakesBlockedWorkersAndFreesThePort() throws {
        let server = UDPServer(endpoint: ServerEndpoint(address: IPAddress("127.0.0.1")!, port: 0),
                               handler: TestQueryHandler(),
                               configuration: .init(threads: 2, stopPollInterval: .seconds(3600)))
        let bound = try server.start()
        let client = try UDPClient(server: bound)
        XCTAssertNotNil(client.exchange(TestDNS.query(id: 1, name: "www.example.test")))
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            server.stop()
            stopped.signal()
        }
        // Generous: the point is "not an hour"; the condition is stop() returning.
        XCTAssertEqual(stopped.wait(timeout: .now() + 30), .success, "stop() waited for the receive timeout")
        let again = UDPServer(endpoint: bound, handler: TestQueryHandler(), configuration: .init(threads: 1))
        XCTAssertNoThrow(try again.start(), "the port is released once stop() returns")
        again.stop()
    }

    /// #14.1: when accept(2) fails for lack of descriptors the listener backs off instead of
    /// spinning, counts the failure, and accepts again once descriptors are free.
    func testAcceptOutOfDescriptorsIsCountedAndRecovers() async throws {
        let server = TCPServer(endpoint: ServerEndpoint(address: IPAddress("127.0.0.1")!, port: 0),
                               handler: TestQueryHandler(),
                               configuration: .init(maxConnectionsPerAddress: 10_000, acceptBackoff: .milliseconds(20)))
        let bound = try await server.start()
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved), 0)
        var clients: [TCPClient] = []
        do {
            // Lower this process's soft limit to a little above what is open, then connect until
            // socket(2) itself fails: the server has no descriptor left to accept with.
            var low = saved
            low.rlim_cur = rlim_t(openDescriptorCount() + 16)
            XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low), 0)
            defer { _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) }
            for _ in 0..<64 {
                guard let client = try? TCPClient(server: bound, timeoutMilliseconds: 5000) else { break }
                clients.append(client)
            }
            var counted = false
            for _ in 0..<1000 where !counted {
                counted = server.statistics.acceptFailures > 0
                if !counted { usleep(10_000) }
            }
            XCTAssertTrue(counted, "accept(2) failing with EMFILE must be counted")
        }
        // Descriptors are back: the connections waiting in the backlog are accepted and served.
        let last = try XCTUnwrap(clients.last)
        let query = TestDNS.query(id: 9, name: "www.example.test")
        last.write(TCPClient.frame(query))
        XCTAssertEqual(last.readFrame().flatMap { TestDNS.answerAddress($0, query: query) }, [192, 0, 2, 1])
        clients = []
        await server.stop()
    }

    private func openDescriptorCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 64 }
        defer { closedir(dir) }
        var n = 0
        while readdir(dir) != nil { n += 1 }
        return n
    }
}
