import DNSWire
import XCTest
@testable import AdminAPI

/// The access rule (docs/admin-api.md, "Access") as a table: listener × call × credential × Origin.
final class AdminAccessTests: XCTestCase {
    private enum Outcome: Equatable {
        case role(AdminAccess.Role)
        case unauthorized, forbidden
    }

    func testAccessTable() {
        let both = AdminServerConfiguration(token: "adm1n", reportToken: "rep0rt",
                                            allowedOrigins: ["https://ops.example"])
        let none = AdminServerConfiguration(token: nil)
        let reportOnly = AdminServerConfiguration(token: "", reportToken: "rep0rt")
        typealias C = AdminServerConfiguration
        let cases: [(name: String, config: C, listener: AdminAccess.Listener, call: AdminAccess.Call,
                     auth: String?, origin: String?, outcome: Outcome)] = [
            ("socket needs nothing", none, .socket, .change, nil, nil, .role(.local)),
            ("socket ignores tokens", both, .socket, .read, "Bearer wrong", nil, .role(.local)),
            ("socket still refuses web pages", none, .socket, .change, nil, "http://evil.example", .forbidden),
            ("health is open on TCP", none, .tcp, .health, nil, nil, .role(.anonymous)),
            ("health from a foreign origin", both, .tcp, .health, nil, "http://evil.example", .forbidden),
            ("no token configured: reads refused", none, .tcp, .read, nil, nil, .forbidden),
            ("no token configured: changes refused even with a header", none, .tcp, .change, "Bearer x", nil, .forbidden),
            ("no token configured: load refused", none, .tcp, .report, "Bearer ", nil, .forbidden),
            ("admin token: read", both, .tcp, .read, "Bearer adm1n", nil, .role(.admin)),
            ("admin token: change", both, .tcp, .change, "Bearer adm1n", nil, .role(.admin)),
            ("admin token: report", both, .tcp, .report, "bearer adm1n", nil, .role(.admin)),
            ("missing token", both, .tcp, .read, nil, nil, .unauthorized),
            ("wrong token", both, .tcp, .change, "Bearer adm1", nil, .unauthorized),
            ("basic auth is not bearer", both, .tcp, .change, "Basic adm1n", nil, .unauthorized),
            ("report token may report", both, .tcp, .report, "Bearer rep0rt", nil, .role(.reporter)),
            ("report token may not read", both, .tcp, .read, "Bearer rep0rt", nil, .forbidden),
            ("report token may not force", both, .tcp, .change, "Bearer rep0rt", nil, .forbidden),
            ("report token alone opens load only", reportOnly, .tcp, .report, "Bearer rep0rt", nil, .role(.reporter)),
            ("report token alone: no admin", reportOnly, .tcp, .change, "Bearer rep0rt", nil, .forbidden),
            ("foreign origin with the admin token", both, .tcp, .change, "Bearer adm1n", "http://evil.example", .forbidden),
            ("null origin", both, .tcp, .change, "Bearer adm1n", "null", .forbidden),
            ("listed origin with the admin token", both, .tcp, .change, "Bearer adm1n", "https://ops.example", .role(.admin)),
            ("listed origin without a token", both, .tcp, .change, nil, "https://ops.example", .unauthorized),
        ]
        for c in cases {
            var outcome: Outcome
            do {
                outcome = .role(try AdminAccess.authorize(c.call, listener: c.listener, authorization: c.auth,
                                                          origin: c.origin, configuration: c.config))
            } catch {
                outcome = error.code == .unauthorized ? .unauthorized : .forbidden
                XCTAssertTrue([.unauthorized, .forbidden].contains(error.code), c.name)
            }
            XCTAssertEqual(outcome, c.outcome, c.name)
        }
    }

    /// The status page's session cookie (docs/security.md, "The status page"): read-only calls
    /// only, only the exact per-process value, only while an admin token is configured; a bearer
    /// header, right or wrong, decides instead; a foreign Origin is refused first.
    func testViewerCookieTable() {
        let both = AdminServerConfiguration(token: "adm1n", reportToken: "rep0rt")
        let reportOnly = AdminServerConfiguration(token: nil, reportToken: "rep0rt")
        let secret = "0123456789abcdef"
        typealias C = AdminServerConfiguration
        let cases: [(name: String, config: C, call: AdminAccess.Call, cookie: String?, auth: String?, origin: String?,
                     outcome: Outcome)] = [
            ("cookie reads", both, .read, secret, nil, nil, .role(.viewer)),
            ("cookie cannot change", both, .change, secret, nil, nil, .unauthorized),
            ("cookie cannot report", both, .report, secret, nil, nil, .unauthorized),
            ("wrong cookie", both, .read, "0123456789abcdee", nil, nil, .unauthorized),
            ("prefix of the cookie", both, .read, "0123456789abcde", nil, nil, .unauthorized),
            ("empty cookie", both, .read, "", nil, nil, .unauthorized),
            ("cookie without an admin token configured", reportOnly, .read, secret, nil, nil, .unauthorized),
            ("cookie from a foreign page", both, .read, secret, nil, "http://evil.example", .forbidden),
            ("a wrong bearer wins over the cookie", both, .read, secret, "Bearer nope", nil, .unauthorized),
            ("the report token with the cookie may not read", both, .read, secret, "Bearer rep0rt", nil, .forbidden),
            ("the admin bearer is still admin", both, .change, secret, "Bearer adm1n", nil, .role(.admin)),
        ]
        for c in cases {
            var outcome: Outcome
            do {
                outcome = .role(try AdminAccess.authorize(c.call, listener: .tcp, authorization: c.auth, origin: c.origin,
                                                          configuration: c.config, viewerCookie: c.cookie,
                                                          viewerSecret: secret))
            } catch {
                outcome = error.code == .unauthorized ? .unauthorized : .forbidden
            }
            XCTAssertEqual(outcome, c.outcome, c.name)
        }
        // An empty secret never matches (a server that has none admits no cookie).
        XCTAssertThrowsError(try AdminAccess.authorize(.read, listener: .tcp, authorization: nil, origin: nil,
                                                       configuration: both, viewerCookie: "", viewerSecret: ""))
    }

    func testCookieHeaderParsing() {
        let name = AdminAccess.viewerCookieName
        XCTAssertEqual(AdminAccess.cookie(name, in: ["a=1; \(name)=abc; b=2"]), "abc")
        XCTAssertEqual(AdminAccess.cookie(name, in: ["a=1", "\(name)=abc"]), "abc")
        XCTAssertNil(AdminAccess.cookie(name, in: ["a=1; b=2"]))
        XCTAssertNil(AdminAccess.cookie(name, in: ["\(name)=abc; \(name)=def"]), "a repeated cookie is refused")
        XCTAssertNil(AdminAccess.cookie(name, in: ["x\(name)=abc"]))
        XCTAssertEqual(AdminAccess.cookie(name, in: ["\(name)="]), "")
    }

    func testBodyTypes() {
        let cases: [(call: AdminAccess.Call, type: String?, ok: Bool)] = [
            (.change, "application/json", true),
            (.change, "application/json; charset=utf-8", true),
            (.change, "Application/JSON", true),
            (.change, "application/x-www-form-urlencoded", false),
            (.change, "text/plain", false),
            (.change, "multipart/form-data; boundary=x", false),
            (.change, nil, false),
            (.change, "application/json-seq", false),
            (.report, "application/x-www-form-urlencoded", true),
            (.report, "application/json", true),
            (.report, "text/plain", false),
            (.report, nil, false),
        ]
        for c in cases {
            var ok = true
            do { try AdminAccess.checkBodyType(c.call, contentType: c.type) } catch {
                ok = false
                XCTAssertEqual(error.code, .unsupportedMediaType)
            }
            XCTAssertEqual(ok, c.ok, "\(c.call) \(c.type ?? "nil")")
        }
    }

    func testReportTokenIsBoundToItsSources() {
        let a = IPAddress("192.0.2.10")!
        let b = IPAddress("192.0.2.20")!
        let mapped = IPAddress("::ffff:192.0.2.10")!
        let source = AdminServerConfiguration(reportToken: "r", reportSources: .source)
        let listed = AdminServerConfiguration(reportToken: "r", reportSources: .networks([IPNetwork("192.0.2.0/28")!]))
        let any = AdminServerConfiguration(reportToken: "r", reportSources: .any)
        let cases: [(name: String, config: AdminServerConfiguration, role: AdminAccess.Role, reports: [IPAddress],
                     peer: IPAddress?, ok: Bool)] = [
            ("own address", source, .reporter, [a], a, true),
            ("own address, peer IPv4-mapped", source, .reporter, [a], mapped, true),
            ("another backend", source, .reporter, [b], a, false),
            ("batch with another backend", source, .reporter, [a, b], a, false),
            ("inside the listed networks", listed, .reporter, [a], b, true),
            ("outside the listed networks", listed, .reporter, [b], a, false),
            ("any", any, .reporter, [a, b], nil, true),
            ("the admin token is not bound", source, .admin, [b], a, true),
            ("the socket is not bound", source, .local, [b], nil, true),
        ]
        for c in cases {
            var ok = true
            do { try AdminAccess.checkReport(c.reports, role: c.role, peer: c.peer, configuration: c.config) } catch {
                ok = false
                XCTAssertEqual(error.code, .forbidden)
            }
            XCTAssertEqual(ok, c.ok, c.name)
        }
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(AdminAccess.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(AdminAccess.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(AdminAccess.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(AdminAccess.constantTimeEqual([], Array("a".utf8)))
        XCTAssertTrue(AdminAccess.constantTimeEqual([], []))
    }
}
