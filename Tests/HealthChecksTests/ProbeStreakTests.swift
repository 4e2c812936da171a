import XCTest
@testable import HealthChecks

/// DESIGN §3 "Health": start up, `fall` consecutive failures to go down, `rise` consecutive
/// successes to come back; interleaved results reset the streak (anti-flap).
final class ProbeStreakTests: XCTestCase {
    private struct Case {
        let name: String
        let rise: Int
        let fall: Int
        /// Probe results fed in order ("+" success, "-" failure).
        let results: String
        /// Expected action per result ("." none, "D" markDown, "U" markUp).
        let actions: String
        let endsUp: Bool
    }

    private let cases: [Case] = [
        Case(name: "starts up; successes change nothing", rise: 2, fall: 3,
             results: "+++", actions: "...", endsUp: true),
        Case(name: "goes down after exactly fall failures", rise: 2, fall: 3,
             results: "---", actions: "..D", endsUp: false),
        Case(name: "a success in between resets the failure streak", rise: 2, fall: 3,
             results: "--+--+---", actions: "........D", endsUp: false),
        Case(name: "comes back after exactly rise successes", rise: 2, fall: 3,
             results: "---++", actions: "..D.U", endsUp: true),
        Case(name: "a failure while down resets the success streak", rise: 3, fall: 1,
             results: "-++-+++", actions: "D.....U", endsUp: true),
        Case(name: "rise=fall=1 follows every result", rise: 1, fall: 1,
             results: "-+-+", actions: "DUDU", endsUp: true),
        Case(name: "thresholds below 1 act as 1", rise: 0, fall: -4,
             results: "-+", actions: "DU", endsUp: true),
        Case(name: "further failures while down do nothing", rise: 2, fall: 2,
             results: "------", actions: ".D....", endsUp: false),
    ]

    func testAntiFlapTable() {
        for c in cases {
            var machine = ProbeStreak(rise: c.rise, fall: c.fall)
            XCTAssertTrue(machine.isUp, "\(c.name): starts up")
            var actions = ""
            for r in c.results {
                switch machine.probeResult(success: r == "+") {
                case .none: actions.append(".")
                case .markDown: actions.append("D")
                case .markUp: actions.append("U")
                }
            }
            XCTAssertEqual(actions, c.actions, c.name)
            XCTAssertEqual(machine.isUp, c.endsUp, c.name)
        }
    }

    func testStartingDownNeedsRiseSuccesses() {
        var machine = ProbeStreak(rise: 2, fall: 3, isUp: false)
        XCTAssertEqual(machine.probeResult(success: true), .none)
        XCTAssertEqual(machine.probeResult(success: true), .markUp)
    }
}
