#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import XCTest
@testable import DNSServer

final class UDPServerTests: XCTestCase {
    private func startServer(_ address: String = "127.0.0.1", threads: Int = 1,
                             handler: TestQueryHandler = TestQueryHandler()) throws -> (UDPServer, ServerEndpoint) {
        let ip = try XCTUnwrap(IPAddress(address), "bad address \(address)")
        if case .v6 = ip { try requireIPv6Loopback() }
        let server = UDPServer(endpoint: ServerEndpoint(address: ip, port: 0), handler: handler,
                               configuration: .init(threads: threads))
        let bound = try server.start()
        XCTAssertNotEqual(bound.port, 0)
        XCTAssertEqual(server.boundEndpoint, bound)
        return (server, bound)
    }

    /// RFC 1035 §4.1: a query gets a response with the same ID and question, over IPv4 and IPv6.
    func testRFC1035_4_1_QueryIsAnsweredOverIPv4AndIPv6() throws {
        for address in ["127.0.0.1", "::1"] {
            if address == "::1" { try requireIPv6Loopback() }
            let (server, bound) = try startServer(address)
            defer { server.stop() }
            let client = try UDPClient(server: bound)
            let query = TestDNS.query(id: 0x1234, name: "www.example.test")
            let response = try XCTUnwrap(client.exchange(query), "no answer from \(bound)")
            XCTAssertEqual(TestDNS.answerAddress(response, query: query), [192, 0, 2, 1])
        }
    }

    /// The worker sees the real source address and port of the client (IPv4 reported as IPv4).
    func testClientEndpointIsTheDatagramSource() throws {
        let handler = TestQueryHandler()
        let (server, bound) = try startServer(handler: handler)
        defer { server.stop() }
        let client = try UDPClient(server: bound)
        XCTAssertNotNil(client.exchange(TestDNS.query(id: 1, name: "a.example.test")))
        let seen = try XCTUnwrap(handler.log.clients.last)
        XCTAssertEqual(seen.address, IPAddress("127.0.0.1"))
        XCTAssertEqual(seen.port, client.localPort)
        XCTAssertEqual(seen.transport, .udp)
    }

    /// Many queries with a bounded window of outstanding ones are all answered, each with its ID.
    func testManyQueriesAreAllAnsweredWithMatchingIDs() throws {
        let (server, bound) = try startServer(threads: 2)
        defer { server.stop() }
        let client = try UDPClient(server: bound)
        let total = 3000, window = 32
        var sent = 0, answered = 0
        var outstanding = Set<UInt16>()
        while answered < total {
            while sent < total && outstanding.count < window {
                let id = UInt16(sent)
                client.send(TestDNS.query(id: id, name: "n\(sent % 7).example.test"))
                outstanding.insert(id)
                sent += 1
            }
            guard let response = client.receive(), let id = TestDNS.id(response) else {
                XCTFail("timed out after \(answered) answers"); return
            }
            XCTAssertNotNil(outstanding.remove(id), "unexpected id \(id)")
            answered += 1
        }
        XCTAssertTrue(outstanding.isEmpty)
    }

    /// DESIGN §5: one worker per thread, all threads' SO_REUSEPORT sockets share the port and the
    /// kernel spreads clients across them.
    func testEachThreadHasItsOwnWorkerAndSocketOnTheSamePort() throws {
        let handler = TestQueryHandler()
        let (server, bound) = try startServer(threads: 3, handler: handler)
        defer { server.stop() }
        XCTAssertEqual(server.threadCount, 3)
        var clients: [UDPClient] = []
        for i in 0..<48 {
            let client = try UDPClient(server: bound)
            let query = TestDNS.query(id: UInt16(i), name: "www.example.test")
            XCTAssertEqual(client.exchange(query).flatMap { TestDNS.answerAddress($0, query: query) }, [192, 0, 2, 1])
            clients.append(client)
        }
        XCTAssertEqual(handler.log.workersMade, 3)
        XCTAssertGreaterThanOrEqual(handler.log.workersThatHandled.count, 2,
                                    "48 source ports all hashed to one socket")
    }

    /// `.drop` sends nothing, and the server keeps answering afterwards.
    func testDropSendsNoResponse() throws {
        let handler = TestQueryHandler()
        let (server, bound) = try startServer(handler: handler)
        defer { server.stop() }
        let client = try UDPClient(server: bound)
        // Both from one socket (one flow, one worker, in order): the first datagram back must be
        // the answer to the second query, and the handler saw both (the drop was decided, not lost).
        client.send(TestDNS.query(id: 7, name: "drop.example.test"))
        let query = TestDNS.query(id: 8, name: "www.example.test")
        let first = try XCTUnwrap(client.exchange(query))
        XCTAssertEqual(TestDNS.id(first), 8, "a reply to the dropped query arrived")
        XCTAssertEqual(TestDNS.answerAddress(first, query: query), [192, 0, 2, 1])
        XCTAssertEqual(handler.log.clients.count, 2)
    }

    /// `.later`: the worker answers after `handle` returned, through the UDP `ReplySink`.
    func testLaterReplyArrivesThroughTheSink() throws {
        for address in ["127.0.0.1", "::1"] {
            if address == "::1" { try requireIPv6Loopback() }
            let (server, bound) = try startServer(address)
            defer { server.stop() }
            let client = try UDPClient(server: bound)
            let query = TestDNS.query(id: 0x4242, name: "later.example.test")
            let response = try XCTUnwrap(client.exchange(query))
            XCTAssertEqual(TestDNS.answerAddress(response, query: query), [192, 0, 2, 99])
        }
    }

    /// Garbage, empty, truncated and oversized datagrams never crash the server or stop it answering.
    func testMalformedDatagramsNeverCrashTheServer() throws {
        let (server, bound) = try startServer(threads: 2)
        defer { server.stop() }
        let client = try UDPClient(server: bound, timeoutMilliseconds: 1000)
        var generator = SystemRandomNumberGenerator()
        var garbage: [[UInt8]] = [[], [0], [0x12, 0x34], [UInt8](repeating: 0, count: 12),
                                  [UInt8](repeating: 0xff, count: 12),
                                  TestDNS.query(id: 1, name: "x.example.test").dropLast(3).map { $0 },
                                  [0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1],
                                  [UInt8](repeating: 0x3f, count: 9000)]
        for _ in 0..<500 {
            garbage.append((0..<Int.random(in: 0...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        for datagram in garbage { client.send(datagram) }
        // Whatever garbage drew a reply, a real query must still get its answer.
        let query = TestDNS.query(id: 0xBEEF, name: "www.example.test")
        client.send(query)
        var found = false
        while let response = client.receive() {
            if TestDNS.id(response) == 0xBEEF, TestDNS.answerAddress(response, query: query) != nil { found = true; break }
        }
        XCTAssertTrue(found)
    }

    /// stop() returns promptly, joins every worker thread and releases the port.
    func testStopJoinsThreadsAndReleasesThePort() throws {
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 0, "threads leaked by an earlier test")
        let (server, bound) = try startServer(threads: 4)
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 4)
        server.stop()  // returning at all is the check (a hang fails the run); no wall-clock bound
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 0)
        XCTAssertNil(server.boundEndpoint)
        server.stop()  // idempotent
        // The port is free again: a plain socket (no SO_REUSEPORT) can bind it.
        let again = UDPServer(endpoint: bound, handler: TestQueryHandler(), configuration: .init(threads: 1))
        XCTAssertEqual(try again.start(), bound)
        again.stop()
        XCTAssertThrowsError(try server.start())
    }

    /// Binding a port another socket holds without SO_REUSEPORT fails with a typed error.
    func testBindFailureIsReported() throws {
        let blocker = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(blocker) }
        var storage = sockaddr_storage()
        let length = IPAddress.v4(0x7f00_0001).encode(port: 0, into: &storage)
        _ = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(blocker, $0, length) } }
        var bound = sockaddr_storage()
        var boundLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(blocker, $0, &boundLength) } }
        let port = try XCTUnwrap(withUnsafeBytes(of: &bound) { IPAddress.decode(sockaddr: $0.baseAddress!)?.1 })
        let server = UDPServer(endpoint: ServerEndpoint(address: .v4(0x7f00_0001), port: port), handler: TestQueryHandler())
        XCTAssertThrowsError(try server.start()) { error in
            XCTAssertEqual((error as? DNSServerError)?.code, .bind)
        }
    }
}
