import DNSWire
import Foundation
import XCTest
@testable import AdminAPI

/// Admin and report tokens over real TCP: what each may do, media types, origins.
final class AdminRolesTests: XCTestCase {
    private let json = ("Content-Type", "application/json")
    private let form = ("Content-Type", "application/x-www-form-urlencoded")

    private func configuration(sources: AdminServerConfiguration.ReportSources = .source) -> AdminServerConfiguration {
        AdminServerConfiguration(host: "127.0.0.1", port: 0, token: "adm1n", reportToken: "rep0rt",
                                 reportSources: sources, allowedOrigins: ["https://ops.example"])
    }

    func testAdminTokenDoesEverythingButOnlyWithJSONBodies() async throws {
        let h = try await AdminHarness.start(configuration())
        let admin = ("Authorization", "Bearer adm1n")
        var r = try await h.call(.POST, "/backends/192.0.2.10/force", body: #"{"state":"down"}"#, headers: [admin, json])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(h.store.status(of: AdminHarness.nyc).forced, .down)
        for (body, type) in [("state=up", "application/x-www-form-urlencoded"), (#"{"state":"up"}"#, "text/plain")] {
            r = try await h.call(.POST, "/backends/192.0.2.10/force", body: body, headers: [admin, ("Content-Type", type)])
            XCTAssertEqual(r.status, 415, "\(type): \(r.body)")
        }
        r = try await h.call(.POST, "/backends/192.0.2.10/force", body: #"{"state":"up"}"#,
                             headers: [admin, json, ("Origin", "http://evil.example")])
        XCTAssertEqual(r.status, 403, r.body)
        XCTAssertEqual(h.store.status(of: AdminHarness.nyc).forced, .down, "nothing changed by refused calls")
        r = try await h.call(.POST, "/backends/192.0.2.10/force", body: #"{"state":"up"}"#,
                             headers: [admin, json, ("Origin", "https://ops.example")])
        XCTAssertEqual(r.status, 200, "a listed origin with the token")
        r = try await h.call(.POST, "/backends/192.0.2.10/force", body: #"{"state":"none","state":"down"}"#, headers: [admin, json])
        XCTAssertEqual(r.status, 400, "duplicate keys: \(r.body)")
        r = try await h.call(.GET, "/state", headers: [admin])
        XCTAssertEqual(r.status, 200)
        r = try await h.call(.GET, "/state")
        XCTAssertEqual(r.status, 401, "reads need the token on TCP")
        r = try await h.call(.POST, "/load", body: "ip=192.0.2.10&load=0.5", headers: [admin, form])
        XCTAssertEqual(r.status, 200, "the reporter form with the admin token: \(r.body)")
        await h.stop()
    }

    func testReportTokenMayOnlyReportForItsOwnAddress() async throws {
        let h = try await AdminHarness.start(configuration())
        let report = ("Authorization", "Bearer rep0rt")
        var r = try await h.call(.POST, "/load", body: "ip=127.0.0.1&load=0.25", headers: [report, form])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(h.store.status(of: AdminHarness.local).lastLoad?.load, 0.25)
        r = try await h.call(.POST, "/load", body: "ip=192.0.2.10&load=0.25", headers: [report, form])
        XCTAssertEqual(r.status, 403, "another backend's load: \(r.body)")
        r = try await h.call(.POST, "/load", body: #"[{"ip":"127.0.0.1","load":0.1},{"ip":"192.0.2.10","load":0.1}]"#,
                             headers: [report, json])
        XCTAssertEqual(r.status, 403, "a batch with another backend: \(r.body)")
        XCTAssertNil(h.store.status(of: AdminHarness.nyc).lastLoad)
        XCTAssertEqual(h.store.status(of: AdminHarness.local).lastLoad?.load, 0.25, "all or nothing")
        r = try await h.call(.POST, "/backends/127.0.0.1/force", body: #"{"state":"down"}"#, headers: [report, json])
        XCTAssertEqual(r.status, 403, r.body)
        r = try await h.call(.GET, "/state", headers: [report])
        XCTAssertEqual(r.status, 403, r.body)
        r = try await h.call(.POST, "/load", body: "ip=127.0.0.1&load=0.25", headers: [("Authorization", "Bearer nope"), form])
        XCTAssertEqual(r.status, 401)
        r = try await h.call(.POST, "/load", body: "ip=127.0.0.1&load=-0", headers: [report, form])
        XCTAssertEqual(r.status, 400, r.body)
        r = try await h.call(.POST, "/load", body: "ip=127.0.0.1&load=0x1p-2", headers: [report, form])
        XCTAssertEqual(r.status, 400, r.body)
        r = try await h.call(.POST, "/load", body: "ip=127.0.0.1&load=0.3&load=0.9", headers: [report, form])
        XCTAssertEqual(r.status, 400, r.body)
        await h.stop()
    }

    func testReportTokenWithListedNetworks() async throws {
        let h = try await AdminHarness.start(configuration(sources: .networks([IPNetwork("192.0.2.0/24")!])))
        let report = ("Authorization", "Bearer rep0rt")
        var r = try await h.call(.POST, "/load", body: #"{"ip":"192.0.2.10","load":0.5}"#, headers: [report, json])
        XCTAssertEqual(r.status, 200, r.body)
        r = try await h.call(.POST, "/load", body: #"{"ip":"127.0.0.1","load":0.5}"#, headers: [report, json])
        XCTAssertEqual(r.status, 403, "own address, but outside the list: \(r.body)")
        await h.stop()
    }
}
