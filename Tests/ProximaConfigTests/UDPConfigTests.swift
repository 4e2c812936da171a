import XCTest
@testable import ProximaConfig

/// `udp: {io: auto|uring|mmsg}` (issue #12): how the UDP fast path moves datagrams.
final class UDPConfigTests: XCTestCase {
    func testDefaultIsTheDocumentedOne() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.udp, UDPSettings())
        XCTAssertEqual(c.udp.io, UDPSettings.defaultIO)
    }

    func testEveryModeIsRead() throws {
        for io in UDPIO.allCases {
            let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nudp: {io: \(io.rawValue)}\n"))
            XCTAssertEqual(c.udp.io, io)
        }
    }

    /// Bad values fail with file:line and the key path, and list what is accepted.
    func testBadValuesNameTheKeyPathAndLine() {
        let cases: [(String, ConfigIssue.Code, Int, String)] = [
            ("udp:\n  io: epoll\n", .invalidValue, 5, "udp.io"),
            ("udp:\n  io: [uring]\n", .wrongType, 5, "udp.io"),
            ("udp:\n  io: auto\n  batch: 64\n", .unknownKey, 6, "udp.batch"),
            ("udp: uring\n", .wrongType, 4, "udp"),
        ]
        ConfigTestSupport.assertSingleIssues(cases, prefix: ConfigTestSupport.zoneOnly + "\n")
        let issues = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\nudp:\n  io: epoll\n")
        XCTAssertTrue(issues.first?.message.contains("auto, uring, mmsg") ?? false, "\(issues)")
        XCTAssertTrue(issues.first?.description.contains("t.yaml:5") ?? false, "\(issues)")
    }
}
