import DNSWire
import GeoRouting
import XCTest
@testable import QueryEngine

/// The status page's answer-flow recorder: per-thread (cell, backend) counts taken from routed
/// fast-path replies, summed and windowed on read.
final class AnswerFlowTests: XCTestCase {
    func testGridCells() {
        XCTAssertEqual(AnswerFlow.cell(latitude: -90, longitude: -180), 0)
        XCTAssertEqual(AnswerFlow.cell(latitude: 90, longitude: 180), 36 * 72 - 1, "the edges clamp into the grid")
        XCTAssertNil(AnswerFlow.cell(latitude: .nan, longitude: 0))
        XCTAssertNil(AnswerFlow.cell(latitude: 0, longitude: .infinity))
        let london = try! XCTUnwrap(AnswerFlow.cell(latitude: 51.5, longitude: -0.1))
        let centre = try! XCTUnwrap(AnswerFlow.centre(ofCell: london))
        XCTAssertEqual(centre.latitude, 52.5)
        XCTAssertEqual(centre.longitude, -2.5)
        XCTAssertNil(AnswerFlow.centre(ofCell: -1))
        XCTAssertNil(AnswerFlow.centre(ofCell: 36 * 72))
        XCTAssertEqual(AnswerFlow.fold(IPAddress("192.0.2.1")!), 0xC000_0201)
        XCTAssertNotEqual(AnswerFlow.fold(IPAddress("2001:db8::1")!), AnswerFlow.fold(IPAddress("2001:db8::2")!))
    }

    func testTableCountsAndOverflowsWithinItsBound() {
        let recorder = AnswerFlowRecorder(retention: 60, sampleInterval: 10)
        let table = try! XCTUnwrap(recorder.makeTable())
        let a = IPAddress("192.0.2.1")!, b = IPAddress("2001:db8::2")!
        for _ in 0..<5 { table.count(cell: 100, address: a) }
        table.count(cell: 100, address: b)
        table.count(cell: 7, address: a)
        var window = recorder.window(seconds: 60, now: 0)
        XCTAssertEqual(Set(window.flows), [
            .init(cell: 100, fold: AnswerFlow.fold(a), count: 5),
            .init(cell: 100, fold: AnswerFlow.fold(b), count: 1),
            .init(cell: 7, fold: AnswerFlow.fold(a), count: 1),
        ])
        XCTAssertEqual(window.flows.first?.count, 5, "largest first")
        // Far more keys than slots: memory stays fixed, the rest is counted as overflow.
        var sent = 0
        for cell in 0..<2592 {
            for host in 0..<2 {
                table.count(cell: cell, address: .v4(0x0A00_0000 | UInt32(host)))
                sent += 1
            }
        }
        window = recorder.window(seconds: 60, now: 0)
        let counted = window.flows.reduce(UInt64(0)) { $0 + $1.count }
        XCTAssertEqual(counted + window.overflow, UInt64(sent + 7))
        XCTAssertLessThanOrEqual(window.flows.count, AnswerFlowTable.slots)
        XCTAssertGreaterThan(window.overflow, 0)
    }

    func testWindowSubtractsTheOldestSampleInside() {
        let recorder = AnswerFlowRecorder(retention: 30, sampleInterval: 10)
        let t1 = try! XCTUnwrap(recorder.makeTable()), t2 = try! XCTUnwrap(recorder.makeTable())
        let a = IPAddress("192.0.2.1")!
        recorder.sample(now: 0)
        t1.count(cell: 1, address: a)
        recorder.sample(now: 10)
        t2.count(cell: 1, address: a)
        t2.count(cell: 1, address: a)
        recorder.sample(now: 20)
        t1.count(cell: 1, address: a)
        XCTAssertEqual(recorder.window(seconds: 30, now: 25).flows.map(\.count), [4], "summed over threads since t=0")
        XCTAssertEqual(recorder.window(seconds: 30, now: 25).seconds, 25)
        XCTAssertEqual(recorder.window(seconds: 10, now: 25).flows.map(\.count), [1], "since the sample at t=20")
        XCTAssertEqual(recorder.window(seconds: 20, now: 25).flows.map(\.count), [3], "since the sample at t=10")
        // Old samples are dropped: at t=100 the t=0 sample is gone, the window starts later.
        recorder.sample(now: 100)
        XCTAssertEqual(recorder.window(seconds: 300, now: 100).flows, [], "nothing new since the t=100 sample")
    }

    /// Routed replies are counted by client cell and answered backend, the engine's first one
    /// included (the client is placed through the location table); static answers are not.
    func testFastPathRepliesAreCountedByCellAndBackend() throws {
        let snap = try FastPathEquivalenceTests.snapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1)
        let recorder = AnswerFlowRecorder()
        let table = try XCTUnwrap(recorder.makeTable())
        var out = [UInt8](repeating: 0, count: 65535)
        func ask(_ name: String, _ type: RecordType, ecs: String?) throws {
            let options: [EDNSOption] = ecs.map {
                [.clientSubnet(ClientSubnet(address: IPAddress($0)!, sourcePrefixLength: 24))]
            } ?? []
            let q = Message(header: Header(id: 7, recursionDesired: true),
                            questions: [Question(name: try DomainName(parsing: name), type: type)],
                            edns: EDNS(udpPayloadSize: 1232, options: options)).serialized()
            q.withUnsafeBytes { qb in
                out.withUnsafeMutableBytes { ob in
                    let source = IPAddress("127.0.0.1")!
                    guard case .reply(let n) = cache.answer(query: qb, source: source, transport: .udp, now: 100,
                                                            states: BackendStates(), statesGeneration: 1, output: ob)
                    else { return XCTFail("no reply") }
                    cache.noteAnswerFlow(query: qb, response: UnsafeRawBufferPointer(rebasing: ob[0..<n]), source: source,
                                         now: 100, into: table)
                }
            }
        }
        for _ in 0..<4 { try ask("www.fp.test.", .a, ecs: "81.2.69.0") }     // London → 192.0.2.1
        for _ in 0..<2 { try ask("www.fp.test.", .a, ecs: "126.16.5.0") }    // Tokyo → 192.0.2.2
        for _ in 0..<3 { try ask("fp.test.", .soa, ecs: nil) }               // static: never counted
        let window = recorder.window(seconds: 60, now: 100)
        let london = try XCTUnwrap(AnswerFlow.cell(latitude: 51.5, longitude: -0.1))
        let tokyo = try XCTUnwrap(AnswerFlow.cell(latitude: 35.7, longitude: 139.7))
        XCTAssertEqual(Set(window.flows), [
            .init(cell: london, fold: AnswerFlow.fold(IPAddress("192.0.2.1")!), count: 4),
            .init(cell: tokyo, fold: AnswerFlow.fold(IPAddress("192.0.2.2")!), count: 2),
        ])
        XCTAssertEqual(window.overflow, 0)
    }
}
