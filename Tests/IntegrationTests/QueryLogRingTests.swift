import DNSServer
import DNSWire
import Foundation
@testable import ProximaApp
import QueryEngine
import XCTest

/// The query log's per-thread ring: a full ring drops and counts lines instead of blocking the
/// query thread, and `sample` keeps every Nth line. Driven deterministically by pausing the writer.
final class QueryLogRingTests: XCTestCase {
    let client = ClientEndpoint(address: IPAddress("192.0.2.7")!, port: 5353, transport: .udp)

    func exchange(_ name: String) -> ([UInt8], [UInt8]) {
        let q = Message(header: Header(id: 7), questions: [Question(name: try! DomainName(parsing: name), type: .a)])
        var h = Header(id: 7, isResponse: true)
        h.rcodeLow = 3
        let r = Message(header: h, questions: q.questions)
        return (q.serialized(), r.serialized())
    }

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func withLog(capacity: Int, sample: Int, _ body: (QueryLog, String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-ring-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("q.jsonl").path
        let log = QueryLog(target: .file(path), ringCapacity: capacity, sample: sample,
                           snapshot: { fatalError("no routed lines here") })
        log.paused.store(true, ordering: .relaxed)
        try log.start()
        defer { log.stop() }
        try body(log, path)
    }

    func testAFullRingDropsAndCountsInsteadOfBlocking() throws {
        try withLog(capacity: 16, sample: 1) { log, path in
            let ring = log.makeRing()
            let (q, r) = exchange("full.test.")
            for _ in 0..<20 {
                q.withUnsafeBytes { qb in r.withUnsafeBytes { rb in
                    ring.record(query: qb, response: rb, client: client, facts: AnswerFacts())
                } }
            }
            XCTAssertEqual(ring.dropped, 4, "16 slots: the last 4 lines are dropped, not waited for")
            XCTAssertEqual(log.dropped, 4)
            XCTAssertEqual(log.written, 0, "the writer is paused")
            log.paused.store(false, ordering: .relaxed)
            XCTAssertTrue(LiveServer.eventually(timeout: 10) { log.written == 16 })
            XCTAssertTrue(LiveServer.eventually(timeout: 10) { self.lines(path).count == 16 })
            // Room again: the next line is kept.
            q.withUnsafeBytes { qb in r.withUnsafeBytes { rb in
                ring.record(query: qb, response: rb, client: client, facts: AnswerFacts())
            } }
            XCTAssertTrue(LiveServer.eventually(timeout: 10) { self.lines(path).count == 17 })
            XCTAssertEqual(ring.dropped, 4)
            for line in lines(path) {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                XCTAssertEqual(object?["name"] as? String, "full.test.")
                XCTAssertEqual(object?["rcode"] as? String, "NXDOMAIN")
                XCTAssertEqual(object?["client"] as? String, "192.0.2.7")
                XCTAssertEqual(object?["port"] as? Int, 5353)
            }
        }
    }

    func testSampleKeepsEveryNthLine() throws {
        try withLog(capacity: 64, sample: 3) { log, path in
            let ring = log.makeRing()
            let (q, r) = exchange("sample.test.")
            for _ in 0..<10 {
                q.withUnsafeBytes { qb in r.withUnsafeBytes { rb in
                    ring.record(query: qb, response: rb, client: client, facts: AnswerFacts())
                } }
            }
            log.paused.store(false, ordering: .relaxed)
            XCTAssertTrue(LiveServer.eventually(timeout: 10) { log.written == 3 }, "lines 3, 6 and 9 of 10")
            XCTAssertEqual(ring.dropped, 0)
            XCTAssertEqual(lines(path).count, 3)
        }
    }

    func testTimesAreRFC3339UTCWithMilliseconds() throws {
        var f = QueryLogFormatter()
        // The second and third lines share a second (its text is cached), the fourth does not.
        for (s, ns) in [(Int64(0), Int64(5_000_000)), (1_700_000_000, 999_999_999), (1_700_000_000, 42_000_000),
                        (1_700_000_001, 120_000_000)] {
            f.append(QueryLogEntry(seconds: s, nanoseconds: ns, client: client.address, port: client.port, tcp: false,
                                   placement: .none, routeNameHash: 0, query: UnsafeRawBufferPointer(start: nil, count: 0),
                                   response: UnsafeRawBufferPointer(start: nil, count: 0), responseCut: false),
                     labels: nil)
        }
        let times = try String(decoding: f.bytes, as: UTF8.self).split(separator: "\n").map { line in
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["time"] as? String
        }
        XCTAssertEqual(times, ["1970-01-01T00:00:00.005Z", "2023-11-14T22:13:20.999Z", "2023-11-14T22:13:20.042Z",
                               "2023-11-14T22:13:21.120Z"])
    }

    func testJSONStringsAreEscaped() {
        XCTAssertEqual(String(decoding: QueryLogFormatter.jsonQuoted("a\"b\\c\n\u{1}"), as: UTF8.self), #""a\"b\\c\n\u0001""#)
    }
}
