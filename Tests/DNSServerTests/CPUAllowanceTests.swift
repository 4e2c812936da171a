import XCTest
@testable import DNSServer

/// `CPUAllowance`: the UDP thread count from online CPUs, affinity and cgroup quota (#8.7), with
/// the files' contents injected.
final class CPUAllowanceTests: XCTestCase {
    func testCgroupV2CPUMaxParsing() {
        let cases: [(String, Double?)] = [
            ("max 100000\n", nil),
            ("max\n", nil),
            ("200000 100000\n", 2),
            ("150000 100000", 1.5),
            ("50000 100000\n", 0.5),
            ("100000\n", 1),          // period omitted: the kernel default 100000
            ("garbage", nil),
            ("", nil),
            ("0 100000", nil),
            ("100000 0", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(CPUAllowance.quota(cgroupV2CPUMax: text), expected, "cpu.max \(text.debugDescription)")
        }
    }

    func testCgroupV1QuotaParsing() {
        XCTAssertNil(CPUAllowance.quota(cgroupV1Quota: "-1\n", period: "100000\n"))
        XCTAssertEqual(CPUAllowance.quota(cgroupV1Quota: "300000\n", period: "100000\n"), 3)
        XCTAssertEqual(CPUAllowance.quota(cgroupV1Quota: "25000", period: "100000"), 0.25)
        XCTAssertNil(CPUAllowance.quota(cgroupV1Quota: "x", period: "100000"))
    }

    func testCountIsTheSmallestOfOnlineAffinityAndRoundedUpQuota() {
        let cases: [(CPUAllowance, Int)] = [
            (CPUAllowance(online: 64), 64),
            (CPUAllowance(online: 64, affinity: 4), 4),
            (CPUAllowance(online: 64, affinity: 8, quota: 2), 2),
            (CPUAllowance(online: 64, quota: 1.5), 2),
            (CPUAllowance(online: 64, quota: 0.25), 1),
            (CPUAllowance(online: 2, quota: 16), 2),
            (CPUAllowance(online: 0, affinity: 0), 1),
        ]
        for (allowance, expected) in cases {
            XCTAssertEqual(allowance.count, expected, "\(allowance)")
        }
    }

    func testCgroupV2DirectoriesWalkUpToTheRoot() {
        XCTAssertEqual(CPUAllowance.cgroupV2Directories(procSelfCgroup: "0::/\n"), ["/sys/fs/cgroup"])
        XCTAssertEqual(CPUAllowance.cgroupV2Directories(procSelfCgroup: "1:cpu:/\n0::/system.slice/proxima.service\n"),
                       ["/sys/fs/cgroup/system.slice/proxima.service", "/sys/fs/cgroup/system.slice", "/sys/fs/cgroup"])
        XCTAssertEqual(CPUAllowance.cgroupV2Directories(procSelfCgroup: "4:memory:/x\n"), [])
        // The tightest limit on the path wins; missing files and "max" do not limit.
        XCTAssertEqual(CPUAllowance.tightestQuota([nil, "max 100000", "300000 100000", "150000 100000"]), 1.5)
        XCTAssertNil(CPUAllowance.tightestQuota([nil, "max 100000"]))
    }

    func testCurrentIsWithinOnlineCPUs() {
        let current = CPUAllowance.current()
        XCTAssertGreaterThanOrEqual(current.count, 1)
        XCTAssertLessThanOrEqual(current.count, current.online)
        if let affinity = current.affinity { XCTAssertGreaterThanOrEqual(affinity, 1) }
    }
}
