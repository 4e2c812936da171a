import DNSWire
import XCTest
@testable import ProximaConfig

/// `ListenEndpoint` text forms: `a.b.c.d:port` and `[ipv6]:port` (RFC 3986 §3.2.2).
final class ListenEndpointTests: XCTestCase {
    func testAcceptedForms() {
        let table: [(String, IPAddress, Int, String)] = [
            ("127.0.0.1:5353", .v4(0x7f00_0001), 5353, "127.0.0.1:5353"),
            ("0.0.0.0:53", .v4(0), 53, "0.0.0.0:53"),
            ("127.0.0.1:0", .v4(0x7f00_0001), 0, "127.0.0.1:0"),
            ("[::1]:5353", .v6(0, 1), 5353, "[::1]:5353"),
            ("[::]:65535", .v6(0, 0), 65535, "[::]:65535"),
            ("[2001:DB8::1]:53", IPAddress("2001:db8::1")!, 53, "[2001:db8::1]:53"),
        ]
        for (text, address, port, canonical) in table {
            let e = ListenEndpoint(text)
            XCTAssertEqual(e?.address, address, text)
            XCTAssertEqual(e?.port, port, text)
            XCTAssertEqual(e?.description, canonical, text)
        }
    }

    func testRejectedForms() {
        for text in ["", "127.0.0.1", "127.0.0.1:", ":53", "localhost:53", "::1:53", "[::1]", "[::1]53",
                     "[127.0.0.1]:53", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+53", "127.0.0.1:053000",
                     "[::1:53", "256.0.0.1:53", "127.0.0.1:5 3"] {
            XCTAssertNil(ListenEndpoint(text), text)
        }
    }

    func testLoopbackDetection() {
        XCTAssertTrue(ListenEndpoint("127.0.0.1:1")!.isLoopback)
        XCTAssertTrue(ListenEndpoint("127.5.0.1:1")!.isLoopback)
        XCTAssertTrue(ListenEndpoint("[::1]:1")!.isLoopback)
        XCTAssertTrue(ListenEndpoint("[::ffff:127.0.0.1]:1")!.isLoopback)
        XCTAssertFalse(ListenEndpoint("0.0.0.0:1")!.isLoopback)
        XCTAssertFalse(ListenEndpoint("[::]:1")!.isLoopback)
        XCTAssertFalse(ListenEndpoint("192.0.2.1:1")!.isLoopback)
    }
}
