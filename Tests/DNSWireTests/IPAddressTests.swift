import XCTest
@testable import DNSWire

final class IPAddressTests: XCTestCase {
    func testParseAndFormatRoundTrip() {
        let cases = ["192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::", "::1",
                     "2001:db8:0:1:1:1:1:1", "fe80::1:2", "::ffff:192.0.2.1"]
        for c in cases {
            XCTAssertEqual(IPAddress(c)?.description, c, c)
        }
        XCTAssertEqual(IPAddress("2001:DB8:0:0:0:0:0:1")?.description, "2001:db8::1")
    }

    /// IPv4 text is written digit by digit: every octet value in every position, against the
    /// plain interpolated spelling.
    func testIPv4TextMatchesTheDecimalSpelling() {
        for octet in UInt32(0)...255 {
            for position in 0..<4 {
                let others: [UInt32] = [0, 9, 10, 99, 100, 255]
                for other in others {
                    var parts = [other, other, other, other]
                    parts[position] = octet
                    let value = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]
                    XCTAssertEqual(IPAddress.v4(value).description, parts.map { "\($0)" }.joined(separator: "."))
                }
            }
        }
    }

    func testRejectsBadText() {
        for c in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1::2::3", "12345::", "a.b.c.d", "1.2.3.4/8"] {
            XCTAssertNil(IPAddress(c), c)
        }
    }

    func testNetworkContainsAndMask() throws {
        let n = try XCTUnwrap(IPNetwork("10.0.0.0/8"))
        XCTAssertTrue(n.contains(IPAddress("10.200.1.1")!))
        XCTAssertFalse(n.contains(IPAddress("11.0.0.1")!))
        XCTAssertNil(IPNetwork("10.0.0.1/8"), "host bits set must be rejected")
        let v6 = try XCTUnwrap(IPNetwork("2001:db8::/32"))
        XCTAssertTrue(v6.contains(IPAddress("2001:db8:ffff::1")!))
        XCTAssertEqual(IPAddress("2001:db8::ffff")!.masked(to: 120).description, "2001:db8::ff00")
        XCTAssertEqual(IPAddress("::ffff:1.2.3.4")!.mappedIPv4, IPAddress("1.2.3.4"))
    }
}
