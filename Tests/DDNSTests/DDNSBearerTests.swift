@testable import DDNS
import XCTest

/// `Authorization: Bearer <token>` parsing (RFC 6750 §2.1; the scheme is case-insensitive,
/// RFC 7235 §2.1): what is a token, and what is refused before any hash is compared.
final class DDNSBearerTests: XCTestCase {
    func testTokens() {
        XCTAssertEqual(DDNSAPI.bearer("Bearer abc123"), "abc123")
        XCTAssertEqual(DDNSAPI.bearer("bearer abc123"), "abc123")
        XCTAssertEqual(DDNSAPI.bearer("BEARER\tabc123"), "abc123")
        XCTAssertEqual(DDNSAPI.bearer("  Bearer   abc123 \t "), "abc123")
        XCTAssertEqual(DDNSAPI.bearer("Bearer a b"), "a b", "inner blanks stay part of the token (and fail to match)")
    }

    func testNotBearer() {
        for header in ["", "Bearer", "Bearer ", "Bearer \t ", "Bearerabc", "Basic abc", "Bearex abc", "Bearer\u{00A0}abc",
                       "Béarer abc", "Bearer1 abc"] {
            XCTAssertNil(DDNSAPI.bearer(header), header)
        }
    }
}
