import DDNSClient
import XCTest

final class BackoffTests: XCTestCase {
    func testNominalScheduleDoublesUpToTheCap() {
        let b = Backoff(attempts: 10, initial: .seconds(1), maximum: .seconds(30))
        XCTAssertEqual((1...8).map { b.nominal(after: $0) },
                       [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)])
        // Far past the cap the doubling cannot overflow.
        XCTAssertEqual(b.nominal(after: 1_000), .seconds(30))
        XCTAssertEqual(b.nominal(after: Int.max), .seconds(30))
    }

    func testEqualJitterStaysInTheUpperHalfAndAttemptsAreBounded() {
        let b = Backoff(attempts: 4)
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<500 {
            for failures in 1...3 {
                let nominal = b.nominal(after: failures)
                let wait = try! XCTUnwrap(b.delay(after: failures, using: &rng))
                XCTAssertGreaterThanOrEqual(wait, nominal / 2)
                XCTAssertLessThanOrEqual(wait, nominal)
            }
            // Four attempts in all: no wait after the fourth failure.
            XCTAssertNil(b.delay(after: 4, using: &rng))
            XCTAssertNil(b.delay(after: 0, using: &rng))
        }
        XCTAssertNil(Backoff(attempts: 1).delay(after: 1, using: &rng))
    }

    func testJitterSpreadsClientsApart() {
        let b = Backoff(attempts: 5)
        var rng = SeededGenerator(seed: 7)
        let waits = Set((0..<100).map { _ in b.delay(after: 3, using: &rng)! })
        XCTAssertGreaterThan(waits.count, 90)
    }

    func testRetryAfterRaisesTheWaitButNotPastTheMaximum() {
        let b = Backoff(attempts: 3, initial: .seconds(1), maximum: .seconds(30))
        var rng = SeededGenerator(seed: 1)
        XCTAssertEqual(b.delay(after: 1, retryAfter: .seconds(20), using: &rng), .seconds(20))
        XCTAssertEqual(b.delay(after: 1, retryAfter: .seconds(3600), using: &rng), .seconds(30))
        let small = b.delay(after: 2, retryAfter: .milliseconds(1), using: &rng)!
        XCTAssertGreaterThanOrEqual(small, .seconds(1))
    }
}
