import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import XCTest
@testable import AdminAPI

/// `admin.tls`: the TCP listener speaks TLS with the configured certificate; a client that trusts
/// it gets answers, one that does not (or speaks plain HTTP) gets nothing.
final class AdminTLSTests: XCTestCase {
    func testTLSListenerServesTrustingClientsOnly() async throws {
        let directory = NSTemporaryDirectory() + "pxa-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (cert, key) = try SelfSignedCertificate.make(in: directory, name: "admin")
        let h = try await AdminHarness.start(AdminServerConfiguration(
            host: "127.0.0.1", port: 0, token: "adm1n",
            tls: .init(certificatePath: cert, privateKeyPath: key)))

        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .file(cert)
        let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: HTTPClient.Configuration(tlsConfiguration: trusting))
        let health = try await h.call(.GET, "/health", client: client, scheme: "https")
        XCTAssertEqual(health.status, 200)
        let forced = try await h.call(.POST, "/backends/192.0.2.10/force", body: #"{"state":"down"}"#,
                                      headers: [("Authorization", "Bearer adm1n"), ("Content-Type", "application/json")],
                                      client: client, scheme: "https")
        XCTAssertEqual(forced.status, 200, forced.body)
        XCTAssertEqual(h.store.status(of: AdminHarness.nyc).forced, .down)
        try await client.shutdown()

        // The system trust store does not know this certificate.
        let strict = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            // (AsyncHTTPClient retries failed handshakes until the deadline, so keep it short.)
            _ = try await h.call(.GET, "/health", client: strict, scheme: "https", timeout: 2)
            XCTFail("an untrusted certificate was accepted")
        } catch {}
        try await strict.shutdown()

        // Plain HTTP on the TLS port gets no HTTP answer.
        let plain = try RawSocket(port: h.port)
        plain.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = plain.readUntilClosed(limit: .seconds(30))
        XCTAssertTrue(closed)
        XCTAssertNil(RawSocket.status(of: text), text)
        await h.stop()
    }
}
