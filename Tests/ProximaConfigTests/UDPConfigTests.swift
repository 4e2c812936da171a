import XCTest
@testable import ProximaConfig

/// `udp: {io: auto|uring|mmsg, batch: N}` (issue #12): how the UDP fast path moves datagrams.
final class UDPConfigTests: XCTestCase {
    func testDefaultIsTheDocumentedOne() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.udp, UDPSettings())
        XCTAssertEqual(c.udp.io, UDPSettings.defaultIO)
        XCTAssertEqual(c.udp.batch, UDPSettings.defaultBatch)
        XCTAssertTrue(c.udp.gso)
    }

    func testGSOCanBeTurnedOff() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nudp: {gso: false}\n"))
        XCTAssertFalse(c.udp.gso)
        XCTAssertEqual(c.udp.io, UDPSettings.defaultIO)
    }

    func testBatchIsReadAtBothEndsOfItsRange() throws {
        for batch in [1, 16, 256] {
            let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nudp: {io: mmsg, batch: \(batch)}\n"))
            XCTAssertEqual(c.udp.batch, batch)
            XCTAssertEqual(c.udp.io, .mmsg)
        }
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
            ("udp:\n  io: auto\n  width: 64\n", .unknownKey, 6, "udp.width"),
            ("udp:\n  batch: 0\n", .outOfRange, 5, "udp.batch"),
            ("udp:\n  batch: 257\n", .outOfRange, 5, "udp.batch"),
            ("udp:\n  batch: many\n", .wrongType, 5, "udp.batch"),
            ("udp:\n  gso: maybe\n", .wrongType, 5, "udp.gso"),
            ("udp: uring\n", .wrongType, 4, "udp"),
        ]
        ConfigTestSupport.assertSingleIssues(cases, prefix: ConfigTestSupport.zoneOnly + "\n")
        let issues = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\nudp:\n  io: epoll\n")
        XCTAssertTrue(issues.first?.message.contains("auto, uring, mmsg") ?? false, "\(issues)")
        XCTAssertTrue(issues.first?.description.contains("t.yaml:5") ?? false, "\(issues)")
    }
}
