import XCTest
@testable import HealthChecks

/// proc(5) `/proc/stat` aggregate cpu line parsing and utilisation, plus reading the real file.
final class ProcStatTests: XCTestCase {
    func testParseAggregateCPULineTable() {
        let cases: [(name: String, text: String, expected: CPUTimes?)] = [
            ("modern kernel, 10 fields (guest not double counted)",
             "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1 2\n",
             CPUTimes(total: 980, idle: 820)),
            ("old kernel, 4 fields", "cpu 10 0 10 80\n", CPUTimes(total: 100, idle: 80)),
            ("cpu line not first", "intr 5\ncpu  1 1 1 1 1 1 1 1\n", CPUTimes(total: 8, idle: 2)),
            ("only per-cpu lines", "cpu0 1 2 3 4\n", nil),
            ("too few fields", "cpu 1 2 3\n", nil),
            ("non-numeric field", "cpu 1 2 x 4\n", nil),
            ("empty", "", nil),
            ("overflowing sum", "cpu 18446744073709551615 1 0 0\n", nil),
        ]
        for c in cases {
            XCTAssertEqual(CPUTimes.parse(procStat: c.text), c.expected, c.name)
        }
    }

    func testUtilisationOverAnInterval() {
        let t0 = CPUTimes(total: 1000, idle: 800)
        let cases: [(name: String, t1: CPUTimes, expected: Double?)] = [
            ("quarter busy", CPUTimes(total: 1400, idle: 1100), 0.25),
            ("fully busy", CPUTimes(total: 1100, idle: 800), 1),
            ("idle", CPUTimes(total: 1100, idle: 900), 0),
            ("no time passed", t0, nil),
            ("counters reset", CPUTimes(total: 10, idle: 5), nil),
        ]
        for c in cases {
            XCTAssertEqual(c.t1.utilisation(since: t0), c.expected, c.name)
        }
    }

    func testSamplerReadsTheRealProcStat() async throws {
        let sampler = CPUSampler()
        let first = try sampler.read()
        XCTAssertGreaterThan(first.total, first.idle)
        let load = try await sampler.utilisation(over: 0.1)
        XCTAssertTrue((0...1).contains(load))
    }

    func testSamplerReportsAMissingFile() {
        XCTAssertThrowsError(try CPUSampler(path: "/nonexistent/proc-stat").read()) { error in
            XCTAssertEqual((error as? HealthChecksError)?.code, .procStat)
        }
    }
}
