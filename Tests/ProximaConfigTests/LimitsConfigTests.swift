import XCTest
@testable import ProximaConfig

/// The resource-limit keys of issue #8: `tcp.query_timeout`, `tcp.max_connections_per_ip`,
/// `tcp.max_pipelined` and `fast_path.memory`.
final class LimitsConfigTests: XCTestCase {
    func testDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.tcp.queryTimeout, .seconds(5))
        XCTAssertEqual(c.tcp.maxConnectionsPerIP, 16)
        XCTAssertEqual(c.tcp.maxPipelined, 64)
        XCTAssertEqual(c.fastPath.memory, 64 << 20)
    }

    func testValuesAreRead() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            tcp:
              query_timeout: 2s
              max_connections_per_ip: 4
              max_pipelined: 8
            fast_path:
              memory: 16MiB
            """))
        XCTAssertEqual(c.tcp, TCPSettings(queryTimeout: .seconds(2), maxConnectionsPerIP: 4, maxPipelined: 8))
        XCTAssertEqual(c.fastPath.memory, 16 << 20)
    }

    func testByteSizes() {
        let cases: [(String, Int?)] = [
            ("0", 0), ("1048576", 1 << 20), ("64MiB", 64 << 20), ("512KiB", 512 << 10), ("2GiB", 2 << 30),
            ("64MB", nil), ("64 MiB", nil), ("-1", nil), ("1.5MiB", nil), ("MiB", nil), ("", nil),
            ("1048576GiB", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(parseByteSize(text), expected, text)
        }
        XCTAssertEqual((64 << 20).byteSizeConfigText, "64MiB")
        XCTAssertEqual(1000.byteSizeConfigText, "1000")
    }

    func testBadValuesNameTheKeyPathAndLine() {
        let yaml = ConfigTestSupport.zoneOnly + """

            tcp:
              max_pipelined: 0
              max_connections_per_ip: many
              spare: 1
            fast_path:
              memory: 64MB
            """
        let issues = ConfigTestSupport.issues(yaml)
        let byPath = Dictionary(issues.map { ($0.keyPath, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byPath["tcp.max_pipelined"]?.code, .outOfRange)
        XCTAssertEqual(byPath["tcp.max_connections_per_ip"]?.code, .wrongType)
        XCTAssertEqual(byPath["tcp.spare"]?.code, .unknownKey)
        XCTAssertEqual(byPath["fast_path.memory"]?.code, .wrongType)
        XCTAssertNotNil(byPath["fast_path.memory"]?.line)
        XCTAssertTrue(byPath["tcp.spare"]?.message.contains("max_pipelined") ?? false)
    }
}
