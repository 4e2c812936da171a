#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import Logging
import Synchronization
import XCTest
@testable import DNSServer

/// The two UDP IO paths (issue #12): io_uring (multishot receive over provided buffers, replies
/// sent with the next wait) and `recvmmsg`/`sendmmsg`, each checked for the same behaviour, plus the
/// choice between them: a forced io_uring that cannot be set up fails `start()`, `auto` falls back
/// and says why. These need a kernel with io_uring enabled (5.19+, `io_uring_disabled` = 0), as
/// the machines this project runs on have; without it the `.uring` cases fail rather than skip.
final class UDPServerIOTests: XCTestCase {
    static let paths: [UDPServer.IOMode] = [.uring, .mmsg]

    private func start(_ io: UDPServer.IOMode, threads: Int = 1, handler: TestQueryHandler = TestQueryHandler(),
                       configure: (inout UDPServer.Configuration) -> Void = { _ in }) throws -> (UDPServer, ServerEndpoint) {
        var configuration = UDPServer.Configuration(threads: threads, io: io)
        configure(&configuration)
        let server = UDPServer(endpoint: ServerEndpoint(address: .v4(0x7f00_0001), port: 0), handler: handler,
                               configuration: configuration)
        let bound = try server.start()
        return (server, bound)
    }

    /// Sends `total` queries keeping at most `window` outstanding; returns how many were answered
    /// with a known ID before a receive timed out.
    private func exchangeMany(_ client: UDPClient, total: Int, window: Int) -> Int {
        var sent = 0, answered = 0
        var outstanding = Set<UInt16>()
        while answered < total {
            while sent < total && outstanding.count < window {
                let id = UInt16(truncatingIfNeeded: sent)
                client.send(TestDNS.query(id: id, name: "n\(sent % 7).example.test"))
                outstanding.insert(id)
                sent += 1
            }
            guard let response = client.receive(), let id = TestDNS.id(response),
                  outstanding.remove(id) != nil else { return answered }
            answered += 1
        }
        return answered
    }

    /// Each path runs as asked, answers over IPv4 and IPv6, and answers many queries on several
    /// threads, each with its own ID.
    func testBothPathsAnswerManyQueriesWithMatchingIDs() throws {
        for io in Self.paths {
            let (server, bound) = try start(io, threads: 2)
            defer { server.stop() }
            XCTAssertEqual(server.activeIO, io)
            XCTAssertNil(server.ioFallbackReason)
            let client = try UDPClient(server: bound)
            XCTAssertEqual(exchangeMany(client, total: 3000, window: 32), 3000, "\(io)")
            if ipv6LoopbackAvailable() {
                let v6 = UDPServer(endpoint: ServerEndpoint(address: IPAddress("::1")!, port: 0), handler: TestQueryHandler(),
                                   configuration: .init(threads: 1, io: io))
                let v6Bound = try v6.start()
                defer { v6.stop() }
                let query = TestDNS.query(id: 0x66, name: "www.example.test")
                let answer = try UDPClient(server: v6Bound).exchange(query)
                XCTAssertEqual(answer.flatMap { TestDNS.answerAddress($0, query: query) }, [192, 0, 2, 1], "\(io) over IPv6")
            }
        }
    }

    /// Batches narrower than what is in flight (`udp: {batch: N}`): each receive takes at most N
    /// datagrams and their replies go out before the next receive; nothing is lost or mismatched.
    func testNarrowBatchesAnswerEverythingInFlight() throws {
        for io in Self.paths {
            for batch in [1, 5] {
                let (server, bound) = try start(io) { $0.batchSize = batch }
                defer { server.stop() }
                let client = try UDPClient(server: bound)
                XCTAssertEqual(exchangeMany(client, total: 2000, window: 40), 2000, "\(io), batch \(batch)")
            }
        }
    }

    /// A datagram longer than the query buffer is cut by the kernel and must be dropped unseen
    /// (never answered from a prefix); the next query on the same flow is answered first.
    func testTruncatedAndOversizedDatagramsAreDroppedUnseen() throws {
        for io in Self.paths {
            let handler = TestQueryHandler()
            let (server, bound) = try start(io, handler: handler) { $0.queryBufferSize = 512 }
            defer { server.stop() }
            let client = try UDPClient(server: bound)
            // A valid query padded past 512 bytes: answered if the server saw only a prefix.
            client.send(TestDNS.query(id: 1, name: "long.example.test") + [UInt8](repeating: 0, count: 600))
            client.send(TestDNS.query(id: 2, name: "huge.example.test") + [UInt8](repeating: 0, count: 9000))
            let query = TestDNS.query(id: 3, name: "www.example.test")
            let first = try XCTUnwrap(client.exchange(query), "\(io): no answer after oversized datagrams")
            XCTAssertEqual(TestDNS.id(first), 3, "\(io): a truncated datagram was answered")
            XCTAssertEqual(handler.log.clients.count, 1, "\(io): the handler saw a truncated datagram")
            // Exactly 512 bytes fits and is answered.
            let exact = TestDNS.query(id: 4, name: "fit.example.test")
            let fits = exact + [UInt8](repeating: 0, count: 512 - exact.count)
            XCTAssertEqual(client.exchange(fits).flatMap(TestDNS.id), 4, "\(io): a 512-byte datagram was dropped")
        }
    }

    /// More datagrams in flight than the ring has buffers: the kernel ends the multishot receive
    /// when the buffers run out, the worker re-arms it once one is back, and nothing is lost (the
    /// socket buffer holds the rest). Garbage between queries costs no buffer for good.
    func testMoreQueriesInFlightThanBuffersAreAllAnswered() throws {
        let (server, bound) = try start(.uring) { $0.uringBuffers = 4; $0.batchSize = 64 }
        defer { server.stop() }
        XCTAssertEqual(server.activeIO, .uring)
        let client = try UDPClient(server: bound)
        for round in 0..<3 {
            for _ in 0..<20 { client.send([0x12, 0x34]) }  // too short to be a query: dropped, buffer back
            XCTAssertEqual(exchangeMany(client, total: 1000, window: 48), 1000, "round \(round)")
        }
    }

    /// `io: uring` when the ring cannot be set up (here: a buffer count the kernel rejects, a real
    /// io_uring_register(2) EINVAL) fails `start()` with the step, and leaves no thread or port behind.
    func testForcedUringThatCannotBeSetUpFailsStart() throws {
        let server = UDPServer(endpoint: ServerEndpoint(address: .v4(0x7f00_0001), port: 0), handler: TestQueryHandler(),
                               configuration: .init(threads: 2, io: .uring, uringBuffers: 3))
        XCTAssertThrowsError(try server.start()) { error in
            let e = error as? DNSServerError
            XCTAssertEqual(e?.code, .ioUring)
            XCTAssertEqual(e?.errno, EINVAL)
            XCTAssertEqual(e?.context, "io_uring_register PBUF_RING")
        }
        XCTAssertNil(server.boundEndpoint)
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 0)
    }

    /// `io: auto` when the ring cannot be set up answers over `recvmmsg`/`sendmmsg`, reports why,
    /// and the server group logs it as a warning.
    func testAutoFallsBackToMmsgAndLogsWhy() async throws {
        let records = LogRecords()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(records: records) }
        let group = DNSServerGroup(
            configuration: .init(endpoints: [ServerEndpoint(address: .v4(0x7f00_0001), port: 0)],
                                 udp: .init(threads: 1, io: .auto, uringBuffers: 3), tcpEnabled: false),
            handler: TestQueryHandler(), logger: logger)
        let bound = try await group.start()
        let task = Task { try await group.run() }
        defer { task.cancel() }
        let query = TestDNS.query(id: 5, name: "www.example.test")
        XCTAssertEqual(try UDPClient(server: bound[0]).exchange(query).flatMap { TestDNS.answerAddress($0, query: query) },
                       [192, 0, 2, 1])
        let warning = records.lines.first { $0.hasPrefix("warning io_uring unavailable") }
        XCTAssertNotNil(warning, "no fallback warning in \(records.lines)")
        XCTAssertTrue(warning?.contains("io_uring_register PBUF_RING: errno \(EINVAL)") ?? false, warning ?? "")
        XCTAssertTrue(records.lines.contains { $0.contains("DNS listening") && $0.contains("udp_io=mmsg") }, "\(records.lines)")
        task.cancel()
        try await task.value
    }

    /// `auto` with io_uring available runs io_uring; `mmsg` never touches it.
    func testAutoPrefersUringAndMmsgIsHonoured() throws {
        let (auto, _) = try start(.auto)
        defer { auto.stop() }
        XCTAssertEqual(auto.activeIO, .uring)
        let (mmsg, _) = try start(.mmsg, configure: { $0.uringBuffers = 3 })
        defer { mmsg.stop() }
        XCTAssertEqual(mmsg.activeIO, .mmsg)
        XCTAssertNil(mmsg.ioFallbackReason)
    }

    /// stop() wakes a thread blocked in io_uring_enter and joins it; the port is free after.
    func testUringStopJoinsThreadsAndReleasesThePort() throws {
        let (server, bound) = try start(.uring, threads: 3)
        XCTAssertEqual(server.activeIO, .uring)
        server.stop()
        XCTAssertEqual(threadNames().filter { $0 == "proxima-udp" }.count, 0)
        XCTAssertTrue(udpPortIsFree(bound))
    }
}

/// Log lines as `level message key=value...`, from any thread.
final class LogRecords: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        records.append("\(event.level) \(event.message) \(fields)")
    }
}
