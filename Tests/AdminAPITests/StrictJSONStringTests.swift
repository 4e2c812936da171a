@testable import AdminAPI
import XCTest

/// Strings in the strict JSON parser (the admin and DDNS APIs' bodies): escapes, UTF-8 and the
/// refusals of RFC 8259 §7.
final class StrictJSONStringTests: XCTestCase {
    private func string(_ json: [UInt8]) -> Result<String, StrictJSON.Failure> {
        Result { () throws(StrictJSON.Failure) -> String in
            guard case .string(let s) = try StrictJSON.parse(json) else { throw StrictJSON.Failure(message: "not a string") }
            return s
        }
    }

    private func string(_ json: String) -> Result<String, StrictJSON.Failure> { string(Array(json.utf8)) }

    func testValues() throws {
        XCTAssertEqual(try string(#""plain""#).get(), "plain")
        XCTAssertEqual(try string(#""""#).get(), "")
        XCTAssertEqual(try string(#""é✓ raw""#).get(), "é✓ raw")
        XCTAssertEqual(try string(#""a\"b\\c\/d\be\ff\ng\rh\ti""#).get(), "a\"b\\c/d\u{08}e\u{0C}f\ng\rh\ti")
        XCTAssertEqual(try string(#""\u0041\u00e9\u2713""#).get(), "Aé✓")
        XCTAssertEqual(try string(#""x\ud83d\ude00y""#).get(), "x😀y")
        XCTAssertEqual(try string(#""é\n✓""#).get(), "é\n✓", "raw UTF-8 on both sides of an escape")
    }

    func testRefusals() {
        func refused(_ bytes: [UInt8], _ why: String, file: StaticString = #filePath, line: UInt = #line) {
            guard case .failure(let failure) = string(bytes) else { return XCTFail("accepted \(bytes)", file: file, line: line) }
            XCTAssertTrue(failure.message.contains(why), failure.message, file: file, line: line)
        }
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        refused([quote, 0xC3, quote], "invalid UTF-8")
        refused([quote, 0xFF, 0x41, quote], "invalid UTF-8")
        // A sequence cut by an escape stays invalid (the escape decodes to a whole character).
        refused([quote, 0xC3, backslash, UInt8(ascii: "n"), 0xA9, quote], "invalid UTF-8")
        refused([quote, 0xC3] + Array(#"\u00a9"#.utf8) + [quote], "invalid UTF-8")
        refused([quote, 0x41, 0x0A, quote], "control character")
        refused(Array(#""\ud83d""#.utf8), "\\u")
        refused(Array(#""\ude00""#.utf8), "unpaired surrogate")
        refused(Array(#""\ud83d\u0041""#.utf8), "unpaired surrogate")
        refused(Array(#""\x""#.utf8), "invalid escape")
        refused(Array(#""\u12""#.utf8), "bad \\u escape")
        refused(Array(#""open"#.utf8), "unterminated string")
        refused([quote, backslash], "unterminated string")
    }
}
