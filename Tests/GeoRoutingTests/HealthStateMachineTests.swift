import XCTest
@testable import GeoRouting

/// DESIGN §3 "Health": anti-flap with `rise`/`fall` consecutive thresholds, starting up.
final class HealthStateMachineTests: XCTestCase {
    struct Case {
        var name: String
        var rise: Int
        var fall: Int
        /// Probe results: "+" success, "-" failure.
        var probes: String
        /// Expected action per probe: "." none, "D" markDown, "U" markUp.
        var actions: String
        var finalState: HealthStateMachine.State
    }

    static let cases: [Case] = [
        Case(name: "starts up; successes keep it up", rise: 2, fall: 3, probes: "++++", actions: "....", finalState: .up),
        Case(name: "fall consecutive failures take it down", rise: 2, fall: 3, probes: "---", actions: "..D", finalState: .down),
        Case(name: "failures below fall do nothing", rise: 2, fall: 3, probes: "--", actions: "..", finalState: .up),
        Case(name: "a success resets the failure streak", rise: 2, fall: 3, probes: "--+--+--", actions: "........",
             finalState: .up),
        Case(name: "rise consecutive successes bring it back", rise: 2, fall: 3, probes: "---++", actions: "..D.U",
             finalState: .up),
        Case(name: "a failure resets the success streak", rise: 2, fall: 3, probes: "---+-+-++", actions: "..D.....U",
             finalState: .up),
        Case(name: "alternating results never flap", rise: 2, fall: 2, probes: "+-+-+-+-+-", actions: "..........",
             finalState: .up),
        Case(name: "alternating while down stays down", rise: 2, fall: 1, probes: "-+-+-+", actions: "D.....", finalState: .down),
        Case(name: "rise 1 fall 1 follows every result", rise: 1, fall: 1, probes: "-+-+", actions: "DUDU", finalState: .up),
        Case(name: "further failures while down do nothing", rise: 2, fall: 1, probes: "-----", actions: "D....",
             finalState: .down),
        Case(name: "gdnsd-like 20/10", rise: 20, fall: 10, probes: String(repeating: "-", count: 10) + String(repeating: "+", count: 20),
             actions: String(repeating: ".", count: 9) + "D" + String(repeating: ".", count: 19) + "U", finalState: .up),
        Case(name: "down again after coming back needs a full fall run", rise: 1, fall: 2, probes: "--+-+--",
             actions: ".DU...D", finalState: .down),
    ]

    func testProbeSequences() {
        for c in Self.cases {
            var machine = HealthStateMachine(rise: c.rise, fall: c.fall)
            XCTAssertEqual(machine.state, .up, c.name)
            var actions = ""
            for p in c.probes {
                switch machine.probeResult(success: p == "+") {
                case .none: actions.append(".")
                case .markDown: actions.append("D")
                case .markUp: actions.append("U")
                }
            }
            XCTAssertEqual(actions, c.actions, c.name)
            XCTAssertEqual(machine.state, c.finalState, c.name)
            XCTAssertEqual(machine.isUp, c.finalState == .up, c.name)
        }
    }

    func testThresholdsBelowOneCountAsOne() {
        var machine = HealthStateMachine(rise: 0, fall: -5)
        XCTAssertEqual(machine.rise, 1)
        XCTAssertEqual(machine.fall, 1)
        XCTAssertEqual(machine.probeResult(success: false), .markDown)
        XCTAssertEqual(machine.probeResult(success: true), .markUp)
    }

    func testInitFromSpecAndInitialState() {
        var machine = HealthStateMachine(spec: HealthCheckSpec(probe: .tcp(port: 80), rise: 3, fall: 4), initial: .down)
        XCTAssertEqual(machine.rise, 3)
        XCTAssertEqual(machine.fall, 4)
        XCTAssertEqual(machine.state, .down)
        XCTAssertEqual(machine.probeResult(success: true), .none)
        XCTAssertEqual(machine.streak, 1)
        XCTAssertEqual(machine.probeResult(success: true), .none)
        XCTAssertEqual(machine.probeResult(success: true), .markUp)
        XCTAssertEqual(machine.streak, 0)
    }
}
