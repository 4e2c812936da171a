import XCTest
@testable import ProximaApp

/// The reload state machine (issue #8 item 6): one reload at a time, any number of requests during
/// it fold into one more, nothing starts after shutdown.
final class ReloadCoalescerTests: XCTestCase {
    func testIdleRequestStartsAtOnce() {
        var c = ReloadCoalescer()
        XCTAssertEqual(c.request(reason: "SIGHUP"), .start(reason: "SIGHUP"))
        XCTAssertEqual(c.state, .running(pending: []))
        XCTAssertEqual(c.finished(), .none)
        XCTAssertEqual(c.state, .idle)
    }

    func testStormDuringAReloadCausesExactlyOneMore() {
        var c = ReloadCoalescer()
        XCTAssertEqual(c.request(reason: "SIGHUP"), .start(reason: "SIGHUP"))
        for _ in 0..<150 { XCTAssertEqual(c.request(reason: "SIGHUP"), .none) }
        XCTAssertEqual(c.request(reason: "changed: a.zone"), .none)
        XCTAssertEqual(c.finished(), .start(reason: "SIGHUP; changed: a.zone"))
        XCTAssertEqual(c.finished(), .none, "nothing arrived during the second reload")
        XCTAssertEqual(c.state, .idle)
        XCTAssertEqual(c.started, 2)
        XCTAssertEqual(c.coalesced, 150)
    }

    func testRequestsDuringTheFollowUpQueueOneMoreAgain() {
        var c = ReloadCoalescer()
        _ = c.request(reason: "a")
        _ = c.request(reason: "b")
        XCTAssertEqual(c.finished(), .start(reason: "b"))
        XCTAssertEqual(c.request(reason: "c"), .none)
        XCTAssertEqual(c.finished(), .start(reason: "c"))
        XCTAssertEqual(c.finished(), .none)
        XCTAssertEqual(c.request(reason: "d"), .start(reason: "d"))
    }

    func testReasonsAreBounded() {
        var c = ReloadCoalescer()
        _ = c.request(reason: "first")
        for i in 0..<100 { _ = c.request(reason: "changed: \(i)") }
        guard case .running(let pending) = c.state else { return XCTFail("\(c.state)") }
        XCTAssertEqual(pending.count, ReloadCoalescer.maxReasons)
    }

    func testShutdownDropsPendingAndRefusesNew() {
        var c = ReloadCoalescer()
        _ = c.request(reason: "a")
        _ = c.request(reason: "b")
        c.shutdown()
        XCTAssertEqual(c.finished(), .none, "the queued reload does not start during shutdown")
        XCTAssertEqual(c.request(reason: "c"), .none)
        XCTAssertEqual(c.state, .stopped)
    }
}
