#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import XCTest
@testable import DNSServer

final class DNSServerGroupTests: XCTestCase {
    /// UDP and TCP of each endpoint share the port chosen for port 0, on IPv4 and IPv6; `run()`
    /// serves until its task is cancelled, then stops everything.
    func testGroupServesUDPAndTCPOnOnePortPerEndpointUntilCancelled() async throws {
        var endpoints = [ServerEndpoint(address: IPAddress("127.0.0.1")!, port: 0)]
        try requireIPv6Loopback()
        endpoints.append(ServerEndpoint(address: IPAddress("::1")!, port: 0))
        let group = DNSServerGroup(configuration: .init(endpoints: endpoints, udp: .init(threads: 2)),
                                   handler: TestQueryHandler())
        let bound = try await group.start()
        XCTAssertEqual(bound.count, endpoints.count)
        XCTAssertEqual(group.boundEndpoints, bound)
        let task = Task { try await group.run() }
        for endpoint in bound {
            XCTAssertNotEqual(endpoint.port, 0)
            let query = TestDNS.query(id: 9, name: "www.example.test")
            let udp = try UDPClient(server: endpoint)
            XCTAssertEqual(udp.exchange(query).flatMap { TestDNS.answerAddress($0, query: query) }, [192, 0, 2, 1])
            let tcp = try TCPClient(server: endpoint)
            tcp.write(TCPClient.frame(query))
            XCTAssertEqual(tcp.readFrame().flatMap { TestDNS.answerAddress($0, query: query) }, [192, 0, 2, 1])
        }
        task.cancel()
        try await task.value
        XCTAssertEqual(group.boundEndpoints, [])
        try await group.run()  // already stopped: returns at once instead of waiting for shutdown
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 0)
        for endpoint in bound {
            // Released, not merely silent: a plain socket can bind the port again.
            XCTAssertTrue(udpPortIsFree(endpoint), "\(endpoint) is still bound after the group stopped")
        }
    }

    /// A second start is refused; a failing bind stops what was already started.
    func testStartFailureLeavesNothingRunning() async throws {
        let first = DNSServerGroup(configuration: .init(endpoints: [ServerEndpoint(address: .v4(0x7f00_0001), port: 0)],
                                                        udp: .init(threads: 1)), handler: TestQueryHandler())
        let bound = try await first.start()
        await XCTAssertThrowsErrorAsync(try await first.start())
        // TCP on the same port is taken by `first`, so the second group's TCP bind fails after
        // its UDP bind succeeded (SO_REUSEPORT); its UDP must be stopped again.
        let second = DNSServerGroup(configuration: .init(endpoints: bound, udp: .init(threads: 1)),
                                    handler: TestQueryHandler())
        await XCTAssertThrowsErrorAsync(try await second.start())
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 1)
        await first.stop()
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 0)
    }
}

func XCTAssertThrowsErrorAsync<T>(_ expression: @autoclosure () async throws -> T,
                                  file: StaticString = #filePath, line: UInt = #line) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {}
}
