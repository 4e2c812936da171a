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
            ("form without content type", "ip=192.0.2.1&load=0", nil, [.init(address: IPAddress("192.0.2.1")!, load: 0)]),
            ("form with trailing newline (curl -d @file)", "ip=192.0.2.1&load=1\n", form,
             [.init(address: IPAddress("192.0.2.1")!, load: 1)]),
            ("json object", #"{"ip": "192.0.2.1", "load": 0.5}"#, json, [.init(address: IPAddress("192.0.2.1")!, load: 0.5)]),
            ("json sniffed", #" {"ip":"::1","load":3}"#, nil, [.init(address: IPAddress("::1")!, load: 3)]),
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
        let cases: [(name: String, body: String, type: String?, messageContains: String)] = [
            ("missing ip", "load=1", nil, "missing 'ip'"),
            ("missing load", "ip=192.0.2.1", nil, "missing 'load'"),
            ("bad ip", "ip=192.0.2.300&load=1", nil, "not an IPv4 or IPv6 address"),
            ("hostname", "ip=example.test&load=1", nil, "not an IPv4 or IPv6 address"),
            ("non-numeric load", "ip=192.0.2.1&load=high", nil, "not a number"),
            ("negative load", "ip=192.0.2.1&load=-0.1", nil, "finite number ≥ 0"),
            ("NaN load", "ip=192.0.2.1&load=nan", nil, "finite number ≥ 0"),
            ("infinite load", "ip=192.0.2.1&load=inf", nil, "finite number ≥ 0"),
            ("json load as string", #"{"ip":"192.0.2.1","load":"0.5"}"#, nil, "JSON body must be"),
            ("json missing load", #"{"ip":"192.0.2.1"}"#, nil, "JSON body must be"),
            ("json malformed", #"{"ip":"#, "application/json", "JSON body must be"),
            ("json empty batch", "[]", nil, "empty batch"),
            ("json batch with one bad member", #"[{"ip":"192.0.2.1","load":1},{"ip":"x","load":1}]"#, nil, "'x'"),
        ]
        for c in cases {
            XCTAssertThrowsError(try AdminRequestParser.parseLoad(body: bytes(c.body), contentType: c.type), c.name) { error in
                let e = error as? AdminAPIError
                XCTAssertEqual(e?.code, .badRequest, c.name)
                XCTAssertTrue(e?.message.contains(c.messageContains) ?? false, "\(c.name): \(String(describing: e))")
            }
        }
    }

    func testBatchLimit() {
        let one = #"{"ip":"192.0.2.1","load":1}"#
        let body = "[" + Array(repeating: one, count: AdminRequestParser.maxBatch + 1).joined(separator: ",") + "]"
        XCTAssertThrowsError(try AdminRequestParser.parseLoad(body: bytes(body), contentType: nil))
    }

    func testForceBodies() throws {
        let cases: [(String, String?, ForcedHealth??)] = [
            (#"{"state":"up"}"#, "application/json", .some(.up)),
            (#"{"state":"DOWN"}"#, nil, .some(.down)),
            (#"{"state":"none"}"#, nil, .some(nil)),
            ("state=down", "application/x-www-form-urlencoded", .some(.down)),
            (#"{"state":"sideways"}"#, nil, nil),
            (#"{}"#, nil, nil),
            ("", nil, nil),
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

    func testAccessRuleTable() {
        enum Outcome: Equatable { case allowed, unauthorized, forbidden }
        let cases: [(host: String, token: String?, header: String?, mutating: Bool, outcome: Outcome)] = [
            // Loopback, no token: everything open.
            ("127.0.0.1", nil, nil, true, .allowed),
            ("127.0.0.1", "", nil, true, .allowed),
            ("127.0.0.1", nil, nil, false, .allowed),
            // Loopback with token: reads open, writes need the token.
            ("127.0.0.1", "s3cret", nil, false, .allowed),
            ("127.0.0.1", "s3cret", nil, true, .unauthorized),
            ("127.0.0.1", "s3cret", "Bearer wrong", true, .unauthorized),
            ("127.0.0.1", "s3cret", "Bearer s3cre", true, .unauthorized),
            ("127.0.0.1", "s3cret", "Basic s3cret", true, .unauthorized),
            ("127.0.0.1", "s3cret", "Bearer s3cret", true, .allowed),
            ("127.0.0.1", "s3cret", "bearer s3cret", true, .allowed),
            // Non-loopback with token: reads and writes need it.
            ("192.0.2.1", "s3cret", nil, false, .unauthorized),
            ("192.0.2.1", "s3cret", "Bearer s3cret", false, .allowed),
            ("192.0.2.1", "s3cret", "Bearer s3cret", true, .allowed),
            // Non-loopback without token: refused outright.
            ("0.0.0.0", nil, nil, true, .forbidden),
            ("0.0.0.0", nil, "Bearer anything", false, .forbidden),
        ]
        for c in cases {
            let configuration = AdminServerConfiguration(host: c.host, port: 0, token: c.token)
            var outcome = Outcome.allowed
            do {
                try AdminServer.authorize(configuration: configuration, authorization: c.header, mutating: c.mutating)
            } catch {
                outcome = error.code == .unauthorized ? .unauthorized : .forbidden
            }
            XCTAssertEqual(outcome, c.outcome, "\(c)")
        }
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(AdminServer.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(AdminServer.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(AdminServer.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(AdminServer.constantTimeEqual([], Array("a".utf8)))
        XCTAssertTrue(AdminServer.constantTimeEqual([], []))
    }
}
