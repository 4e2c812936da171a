#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import XCTest
@testable import DNSServer

final class ServerEndpointTests: XCTestCase {
    func testParsingServerEndpoints() {
        let cases: [(String, String?)] = [
            ("127.0.0.1:5353", "127.0.0.1:5353"),
            ("127.0.0.1", "127.0.0.1:53"),
            ("[::1]:0", "[::1]:0"),
            ("[2001:db8::1]", "[2001:db8::1]:53"),
            ("::1", "[::1]:53"),
            ("127.0.0.1:65536", nil),
            ("[::1:53", nil),
            ("localhost:53", nil),
            ("[::1]x", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(ServerEndpoint(text)?.description, expected, text)
        }
    }

    /// sockaddr round trip for both families, and an IPv4-mapped IPv6 source reported as IPv4.
    func testSockaddrRoundTripAndMappedIPv4() throws {
        let cases: [(IPAddress, UInt16, Bool, IPAddress)] = [
            (IPAddress("192.0.2.7")!, 53, false, IPAddress("192.0.2.7")!),
            (IPAddress("2001:db8::7")!, 5353, false, IPAddress("2001:db8::7")!),
            (IPAddress("192.0.2.7")!, 1, true, IPAddress("192.0.2.7")!),   // written as ::ffff:192.0.2.7
        ]
        for (address, port, mapped, expected) in cases {
            var storage = sockaddr_storage()
            let length = address.encode(port: port, into: &storage, asIPv6: mapped)
            XCTAssertEqual(Int(length), mapped || expected.family == 2
                           ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
            let decoded = try XCTUnwrap(withUnsafeBytes(of: &storage) { IPAddress.decode(sockaddr: $0.baseAddress!) })
            XCTAssertEqual(decoded.0, expected)
            XCTAssertEqual(decoded.1, port)
        }
    }
}
