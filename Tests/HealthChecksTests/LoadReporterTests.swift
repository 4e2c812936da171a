import DNSWire
import XCTest
@testable import HealthChecks

/// The reporter's wire form (`ip=…&load=…`, RFC 3986 percent-encoding) and URL handling. The
/// end-to-end report against the real admin server is in AdminAPITests.
final class LoadReporterTests: XCTestCase {
    func testFormBody() {
        XCTAssertEqual(LoadReporter.formBody(address: IPAddress("192.0.2.1")!, load: 0.42), "ip=192.0.2.1&load=0.42")
        XCTAssertEqual(LoadReporter.formBody(address: IPAddress("2001:db8::1")!, load: 0.123456),
                       "ip=2001%3Adb8%3A%3A1&load=0.1235")
    }

    func testHostAndPortTable() {
        let cases: [(String, String?, Int?)] = [
            ("http://127.0.0.1:8053", "127.0.0.1", 8053),
            ("http://127.0.0.1:8053/", "127.0.0.1", 8053),
            ("https://admin.example.test/base", "admin.example.test", 443),
            ("http://[::1]:9000/x", "::1", 9000),
            ("http://user:pw@[::1]", "::1", 80),
            ("ftp://127.0.0.1", nil, nil),
            ("127.0.0.1:8053", nil, nil),
            ("http://127.0.0.1:99999", nil, nil),
            ("http://", nil, nil),
        ]
        for (url, host, port) in cases {
            let parsed = LoadReporter.hostAndPort(of: url)
            XCTAssertEqual(parsed?.0, host, url)
            XCTAssertEqual(parsed?.1, port, url)
        }
    }

    func testLocalAddressTowardsLoopbackIsLoopback() async throws {
        let v4 = try await LoadReporter.localAddress(towards: "http://127.0.0.1:8053")
        XCTAssertEqual(v4, IPAddress("127.0.0.1"))
        let v6 = try await LoadReporter.localAddress(towards: "http://[::1]:8053")
        XCTAssertEqual(v6, IPAddress("::1"))
        do {
            _ = try await LoadReporter.localAddress(towards: "not a url")
            XCTFail("expected an error")
        } catch let error as HealthChecksError {
            XCTAssertEqual(error.code, .invalidArgument)
        }
    }
}
