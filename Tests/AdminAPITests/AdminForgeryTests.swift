import DNSWire
import Foundation
import XCTest
@testable import AdminAPI

/// #8.5: a web page in a browser on the admin host can send simple cross-origin requests (form
/// bodies, text/plain) to 127.0.0.1 without a preflight. None of them may change anything.
final class AdminForgeryTests: XCTestCase {
    /// The example config's situation: a token variable is named but unset, so no token.
    private func tokenless() -> AdminServerConfiguration {
        AdminServerConfiguration(host: "127.0.0.1", port: 0, token: nil)
    }

    func testForgedForceWithoutTokenChangesNothing() async throws {
        let h = try await AdminHarness.start(tokenless())
        let forged: [(name: String, body: String, headers: [(String, String)])] = [
            ("form body from a page", "state=down",
             [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://evil.example")]),
            ("text/plain JSON from a page", #"{"state":"down"}"#,
             [("Content-Type", "text/plain"), ("Origin", "http://evil.example")]),
            ("text/plain JSON without Origin", #"{"state":"down"}"#, [("Content-Type", "text/plain")]),
            ("JSON without any credential", #"{"state":"down"}"#, [("Content-Type", "application/json")]),
        ]
        for f in forged {
            let reply = try await h.call(.POST, "/backends/192.0.2.10/force", body: f.body, headers: f.headers)
            XCTAssertTrue([401, 403, 415].contains(reply.status), "\(f.name): \(reply.status) \(reply.body)")
            XCTAssertNil(h.store.status(of: AdminHarness.nyc).forced, f.name)
        }
        let load = try await h.call(.POST, "/load", body: "ip=192.0.2.10&load=0.9",
                                    headers: [("Content-Type", "application/x-www-form-urlencoded"),
                                              ("Origin", "http://evil.example")])
        XCTAssertTrue([401, 403].contains(load.status), "forged load: \(load.status)")
        XCTAssertNil(h.store.status(of: AdminHarness.nyc).lastLoad)
        await h.stop()
    }

    func testOriginHeaderIsRefusedEvenForReads() async throws {
        let h = try await AdminHarness.start(tokenless())
        let reply = try await h.call(.GET, "/state", headers: [("Origin", "http://evil.example")])
        XCTAssertEqual(reply.status, 403, reply.body)
        await h.stop()
    }

    func testNegativeZeroHexFloatsAndDuplicateKeysAreRejected() {
        let form = "application/x-www-form-urlencoded"
        let json = "application/json"
        let cases: [(name: String, body: String, type: String)] = [
            ("form -0", "ip=192.0.2.1&load=-0", form),
            ("form -0.0", "ip=192.0.2.1&load=-0.0", form),
            ("form hex float", "ip=192.0.2.1&load=0x1p-1", form),
            ("form hex integer", "ip=192.0.2.1&load=0x10", form),
            ("form duplicate load", "ip=192.0.2.1&load=0.1&load=0.9", form),
            ("form duplicate ip", "ip=192.0.2.1&ip=192.0.2.2&load=0.1", form),
            ("form inf", "ip=192.0.2.1&load=inf", form),
            ("json -0", #"{"ip":"192.0.2.1","load":-0}"#, json),
            ("json -0.0e0", #"{"ip":"192.0.2.1","load":-0.0e0}"#, json),
            ("json hex float", #"{"ip":"192.0.2.1","load":0x1p-1}"#, json),
            ("json duplicate load", #"{"ip":"192.0.2.1","load":0.1,"load":0.9}"#, json),
            ("json duplicate ip in batch", #"[{"ip":"192.0.2.1","ip":"192.0.2.2","load":0.1}]"#, json),
            ("json duplicate via escape", #"{"ip":"192.0.2.1","load":0.1,"lo\u0061d":0.9}"#, json),
        ]
        for c in cases {
            XCTAssertThrowsError(try AdminRequestParser.parseLoad(body: Array(c.body.utf8), contentType: c.type), c.name) {
                XCTAssertEqual(($0 as? AdminAPIError)?.code, .badRequest, c.name)
            }
        }
    }
}
