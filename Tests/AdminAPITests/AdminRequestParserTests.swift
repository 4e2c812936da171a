import DNSWire
import GeoRouting
import XCTest
@testable import AdminAPI

/// `POST /load` and `POST /backends/{ip}/force` bodies are parsed once into typed values; every
/// invalid input is a 400 with a message naming the problem.
final class AdminRequestParserTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testLoadBodiesThatParse() throws {
        let form = "application/x-www-form-urlencoded"
        let json = "application/json"
        let cases: [(name: String, body: String, type: String?, expected: [LoadSubmission])] = [
            ("reporter form", "ip=192.0.2.1&load=0.42", form, [.init(address: IPAddress("192.0.2.1")!, load: 0.42)]),
            ("form, IPv6 percent-encoded, fields reordered", "load=7&ip=2001%3Adb8%3A%3A1", form,
             [.init(address: IPAddress("2001:db8::1")!, load: 7)]),
            ("form, zero", "ip=192.0.2.1&load=0", form, [.init(address: IPAddress("192.0.2.1")!, load: 0)]),
            ("form, exponent", "ip=192.0.2.1&load=5e-1", form, [.init(address: IPAddress("192.0.2.1")!, load: 0.5)]),
            ("form with trailing newline (curl -d @file)", "ip=192.0.2.1&load=1\n", form,
             [.init(address: IPAddress("192.0.2.1")!, load: 1)]),
            ("json object", #"{"ip": "192.0.2.1", "load": 0.5}"#, json, [.init(address: IPAddress("192.0.2.1")!, load: 0.5)]),
            ("json with spaces, extra key ignored", #" {"ip":"::1","load":3, "host": "a"} "#, json, [.init(address: IPAddress("::1")!, load: 3)]),
            ("json with charset", #"{"ip":"192.0.2.1","load":1}"#, "application/json; charset=utf-8",
             [.init(address: IPAddress("192.0.2.1")!, load: 1)]),
            ("json batch", #"[{"ip":"192.0.2.1","load":0.1},{"ip":"192.0.2.2","load":0.2}]"#, json,
             [.init(address: IPAddress("192.0.2.1")!, load: 0.1), .init(address: IPAddress("192.0.2.2")!, load: 0.2)]),
        ]
        for c in cases {
            XCTAssertEqual(try AdminRequestParser.parseLoad(body: bytes(c.body), contentType: c.type), c.expected, c.name)
        }
    }

    func testLoadBodiesThatAreRejected() {
        let form = "application/x-www-form-urlencoded"
        let json = "application/json"
        let cases: [(name: String, body: String, type: String?, messageContains: String)] = [
            ("missing ip", "load=1", form, "missing 'ip'"),
            ("missing load", "ip=192.0.2.1", form, "missing 'load'"),
            ("bad ip", "ip=192.0.2.300&load=1", form, "not an IPv4 or IPv6 address"),
            ("hostname", "ip=example.test&load=1", form, "not an IPv4 or IPv6 address"),
            ("non-numeric load", "ip=192.0.2.1&load=high", form, "not a number"),
            ("negative load", "ip=192.0.2.1&load=-0.1", form, "finite number ≥ 0"),
            ("NaN load", "ip=192.0.2.1&load=nan", form, "not a number"),
            ("infinite load", "ip=192.0.2.1&load=inf", form, "not a number"),
            ("overflowing load", "ip=192.0.2.1&load=1e999", form, "finite number ≥ 0"),
            ("json load as string", #"{"ip":"192.0.2.1","load":"0.5"}"#, json, "JSON body must be"),
            ("json missing load", #"{"ip":"192.0.2.1"}"#, json, "JSON body must be"),
            ("json malformed", #"{"ip":"#, json, "invalid JSON"),
            ("json trailing data", #"{"ip":"192.0.2.1","load":1} x"#, json, "trailing data"),
            ("json leading plus", #"{"ip":"192.0.2.1","load":+1}"#, json, "invalid JSON"),
            ("json leading zero", #"{"ip":"192.0.2.1","load":01}"#, json, "invalid JSON"),
            ("json empty batch", "[]", json, "empty batch"),
            ("json batch with one bad member", #"[{"ip":"192.0.2.1","load":1},{"ip":"x","load":1}]"#, json, "'x'"),
            ("json nested too deep", String(repeating: "[", count: 20) + String(repeating: "]", count: 20), json, "nested deeper"),
        ]
        for c in cases {
            XCTAssertThrowsError(try AdminRequestParser.parseLoad(body: bytes(c.body), contentType: c.type), c.name) { error in
                let e = error as? AdminAPIError
                XCTAssertEqual(e?.code, .badRequest, c.name)
                XCTAssertTrue(e?.message.contains(c.messageContains) ?? false, "\(c.name): \(String(describing: e))")
            }
        }
    }

    func testLoadBodiesOfOtherMediaTypesAre415() {
        for type in [nil, "text/plain", "multipart/form-data; boundary=x", "application/xml"] as [String?] {
            XCTAssertThrowsError(try AdminRequestParser.parseLoad(body: bytes(#"{"ip":"192.0.2.1","load":1}"#), contentType: type)) {
                XCTAssertEqual(($0 as? AdminAPIError)?.code, .unsupportedMediaType, type ?? "nil")
            }
        }
    }

    func testBatchLimit() {
        let one = #"{"ip":"192.0.2.1","load":1}"#
        let body = "[" + Array(repeating: one, count: AdminRequestParser.maxBatch + 1).joined(separator: ",") + "]"
        XCTAssertThrowsError(try AdminRequestParser.parseLoad(body: bytes(body), contentType: "application/json"))
    }

    func testForceBodies() throws {
        let json = "application/json"
        let cases: [(String, String?, ForcedHealth??)] = [
            (#"{"state":"up"}"#, json, .some(.up)),
            (#"{"state":"DOWN"}"#, json, .some(.down)),
            (#"{"state":"none"}"#, "application/json; charset=utf-8", .some(nil)),
            ("state=down", "application/x-www-form-urlencoded", nil),
            (#"{"state":"down"}"#, "text/plain", nil),
            (#"{"state":"down"}"#, nil, nil),
            (#"{"state":"up","state":"down"}"#, json, nil),
            (#"{"state":"sideways"}"#, json, nil),
            (#"{}"#, json, nil),
            ("", json, nil),
        ]
        for (body, type, expected) in cases {
            if let expected {
                XCTAssertEqual(try AdminRequestParser.parseForce(body: bytes(body), contentType: type), expected, body)
            } else {
                XCTAssertThrowsError(try AdminRequestParser.parseForce(body: bytes(body), contentType: type), body)
            }
        }
    }
}

/// The access rule documented in docs/admin-api.md, as a table (non-loopback listeners cannot be
/// bound in hermetic tests, so the rule is checked as the pure function the server calls).
final class AdminAccessRuleTests: XCTestCase {
    func testLoopbackDetection() {
        let cases: [(String, Bool)] = [
            ("127.0.0.1", true), ("127.1.2.3", true), ("::1", true), ("[::1]", true), ("localhost", true),
            ("0.0.0.0", false), ("::", false), ("192.0.2.1", false), ("2001:db8::1", false), ("example.test", false),
        ]
        for (host, loopback) in cases {
            XCTAssertEqual(AdminServerConfiguration(host: host).isLoopback, loopback, host)
        }
    }
}
