import XCTest
@testable import ProximaApp

/// How file descriptors are shared out (#14.1): a reserve, then admin and DNS TCP, so that no
/// listener can starve another.
final class DescriptorBudgetTests: XCTestCase {
    typealias Needs = DescriptorBudget.Needs

    func testAHighLimitGivesWhatIsConfigured() {
        let b = DescriptorBudget.compute(limit: 1 << 20, needs: Needs(openNow: 20, listeners: 2, udpSockets: 128,
                                                                       adminEnabled: true, tcpWanted: 1024, adminWanted: 256))
        XCTAssertEqual(b.tcpPerListener, 1024)
        XCTAssertEqual(b.admin, 256)
    }

    /// The soft limit of 1024 that #14.1 ran into: the caps now add up to less than the limit.
    func testTheDefaultSoftLimitIsSharedWithoutOvercommitting() {
        let needs = Needs(openNow: 20, listeners: 2, udpSockets: 4, adminEnabled: true, tcpWanted: 1024, adminWanted: 256)
        let b = DescriptorBudget.compute(limit: 1024, needs: needs)
        XCTAssertEqual(DescriptorBudget.reserve(limit: 1024), 128)
        XCTAssertLessThanOrEqual(b.reserved + b.admin + 2 * b.tcpPerListener, 1024)
        XCTAssertGreaterThanOrEqual(b.admin, 4)
        XCTAssertGreaterThan(b.tcpPerListener, b.admin, "DNS gets the larger share")
        XCTAssertLessThan(b.tcpPerListener, 1024)
    }

    func testATinyLimitStillLeavesEveryListenerSomething() {
        for limit in [16, 32, 64, 128] {
            let b = DescriptorBudget.compute(limit: limit, needs: Needs(openNow: 12, listeners: 1, udpSockets: 2,
                                                                          adminEnabled: true, tcpWanted: 1024, adminWanted: 256))
            XCTAssertGreaterThanOrEqual(b.tcpPerListener, 1, "limit \(limit)")
            XCTAssertGreaterThanOrEqual(b.admin, 1, "limit \(limit)")
            if limit >= 64 { XCTAssertLessThanOrEqual(b.reserved + b.admin + b.tcpPerListener, limit, "limit \(limit)") }
        }
    }

    func testWithoutAdminDNSTakesTheRest() {
        let b = DescriptorBudget.compute(limit: 1024, needs: Needs(openNow: 20, listeners: 1, udpSockets: 2,
                                                                    adminEnabled: false, tcpWanted: 100_000, adminWanted: 256))
        XCTAssertEqual(b.admin, 0)
        XCTAssertEqual(b.reserved + b.tcpPerListener, 1024)
    }

    /// fast_path.memory (#8.7): UDP threads get four shares, TCP loops one, within the total.
    func testFastPathMemorySplit() {
        let cases: [(Int, Int, Int)] = [(1, 2, 64 << 20), (4, 2, 64 << 20), (128, 64, 64 << 20), (2, 2, 0)]
        for (udp, tcp, memory) in cases {
            let s = FastPathMemory.split(memory, udpThreads: udp, tcpLoops: tcp)
            XCTAssertLessThanOrEqual(s.udp * udp + s.tcp * tcp, memory)
            XCTAssertEqual(s.udp, s.tcp * 4)
        }
        // The benchmark's shape (one UDP thread, two loops) keeps the full 32 MiB table.
        XCTAssertGreaterThanOrEqual(FastPathMemory.split(64 << 20, udpThreads: 1, tcpLoops: 2).udp, 32 << 20)
    }
}
