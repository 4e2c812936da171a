import XCTest
@testable import AdminAPI

/// `AdminConnectionTimeouts`: which deadline applies in which phase (times in nanoseconds).
final class AdminConnectionTimeoutsTests: XCTestCase {
    private func machine() -> AdminConnectionTimeouts {
        AdminConnectionTimeouts(idle: .nanoseconds(600), header: .nanoseconds(100), body: .nanoseconds(200), now: 0)
    }

    func testIdleThenHeadThenBodyThenResponding() {
        var m = machine()
        XCTAssertEqual(m.start(), .arm(deadline: 600))
        XCTAssertEqual(m.timerFired(now: 599), .arm(deadline: 600))
        XCTAssertEqual(m.bytesRead(now: 50), .arm(deadline: 150), "the first byte starts the header deadline")
        XCTAssertEqual(m.bytesRead(now: 60), .none, "later bytes do not extend it (slowloris)")
        XCTAssertEqual(m.timerFired(now: 150), .close(.header))
    }

    func testBodyDeadlineRunsFromTheHead() {
        var m = machine()
        _ = m.bytesRead(now: 10)
        XCTAssertEqual(m.requestHead(now: 20), .arm(deadline: 220))
        XCTAssertEqual(m.timerFired(now: 219), .arm(deadline: 220))
        XCTAssertEqual(m.timerFired(now: 220), .close(.body))
    }

    func testRespondingHasNoDeadlineAndTheResponseEndRestartsIdle() {
        var m = machine()
        _ = m.bytesRead(now: 10)
        _ = m.requestHead(now: 20)
        XCTAssertEqual(m.requestEnd(now: 30), .disarm)
        XCTAssertEqual(m.phase, .responding)
        XCTAssertFalse(m.isIdle)
        XCTAssertEqual(m.timerFired(now: 10_000), .none)
        XCTAssertEqual(m.responseEnd(now: 10_000), .arm(deadline: 10_600))
        XCTAssertTrue(m.isIdle)
    }

    func testAResponseBeforeTheBodyEndsKeepsTheBodyDeadline() {
        var m = machine()
        _ = m.requestHead(now: 0)
        XCTAssertEqual(m.responseEnd(now: 5), .none, "e.g. 401 sent before reading the body")
        XCTAssertEqual(m.phase, .readingBody)
        XCTAssertEqual(m.timerFired(now: 200), .close(.body))
        var n = machine()
        _ = n.requestHead(now: 0)
        _ = n.responseEnd(now: 5)
        XCTAssertEqual(n.requestEnd(now: 7), .arm(deadline: 607), "body done, response done: idle")
    }

    func testIdleConnectionCloses() {
        var m = machine()
        _ = m.start()
        XCTAssertEqual(m.timerFired(now: 600), .close(.idle))
    }
}
