import AsyncHTTPClient
import Crypto
import DDNS
import DNSWire
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import NIOSSL
import ProximaConfig
import XCTest

/// The DDNS API over real HTTP against a real SQLite file (issue #9, "API over real HTTP").
final class DDNSAPITests: XCTestCase {
    private let admin = DDNSHarness.admin

    func testPingAndIP() async throws {
        let h = try await DDNSHarness.start()
        let ping = try await h.call(.GET, "/ping")
        XCTAssertEqual(ping.status, 200)
        XCTAssertEqual(ping.json["message"] as? String, "PONG")
        let ip = try await h.call(.GET, "/ip")
        XCTAssertEqual(ip.json["ip"] as? String, "127.0.0.1")
        // Not a trusted proxy: X-Forwarded-For is ignored.
        let spoofed = try await h.call(.GET, "/ip", headers: [("X-Forwarded-For", "198.51.100.9")])
        XCTAssertEqual(spoofed.json["ip"] as? String, "127.0.0.1")
        let missing = try await h.call(.GET, "/nowhere")
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(missing.error.contains("no such call"), missing.body)
        await h.stop()
    }

    func testForwardedForIsBelievedOnlyFromTrustedProxies() async throws {
        let h = try await DDNSHarness.start { $0.trustedProxies = [IPNetwork("127.0.0.0/8")!, IPNetwork("10.0.0.0/8")!] }
        let one = try await h.call(.GET, "/ip", headers: [("X-Forwarded-For", "198.51.100.9")])
        XCTAssertEqual(one.json["ip"] as? String, "198.51.100.9")
        // The right-most entry not added by a trusted proxy wins: the client cannot inject an
        // address to the left of what its first (trusted) proxy appended.
        let chain = try await h.call(.GET, "/ip", headers: [("X-Forwarded-For", "203.0.113.1, 2001:db8::5, 10.1.1.1")])
        XCTAssertEqual(chain.json["ip"] as? String, "2001:db8::5")
        let garbage = try await h.call(.GET, "/ip", headers: [("X-Forwarded-For", "not-an-ip")])
        XCTAssertEqual(garbage.json["ip"] as? String, "127.0.0.1")
        await h.stop()
    }

    func testSiloLifecycleIsPublishedBeforeTheReply() async throws {
        let h = try await DDNSHarness.start()
        XCTAssertEqual(h.publisher.changes, [.replaceAll([])])
        let body = #"{"dnsrecords": [{"hostname": "webserver", "ip": "2001:db8::7"}, {"hostname": "DBserver", "ip": "203.0.113.7", "ttl": 30}]}"#
        let created = try await h.call(.PUT, "/silos/Silo1", body: body, token: admin)
        XCTAssertEqual(created.status, 201, created.body)
        let expected = Silo(id: "silo1", records: [
            DDNSRecord(hostname: "dbserver", address: IPAddress("203.0.113.7")!, ttl: 30),
            DDNSRecord(hostname: "webserver", address: IPAddress("2001:db8::7")!)])
        // The DNS side had the change when the 201 arrived.
        XCTAssertEqual(h.publisher.changes.last, .upsert(expected))
        XCTAssertEqual(h.publisher.versions, [0, 1])
        let records = created.json["dnsrecords"] as? [[String: Any]] ?? []
        XCTAssertEqual(records.map { $0["name"] as? String }, ["dbserver.silo1.dyn.example.test.", "webserver.silo1.dyn.example.test."])
        XCTAssertEqual(records.map { $0["ttl"] as? Int }, [30, nil])

        // The same records again (another order): 200, nothing written, nothing published.
        let same = try await h.call(.PUT, "/silos/silo1", body: #"{"id": "silo1", "dnsrecords": [{"hostname": "dbserver", "ip": "203.0.113.7", "ttl": 30}, {"hostname": "webserver", "ip": "2001:db8::7"}]}"#, token: admin)
        XCTAssertEqual(same.status, 200, same.body)
        XCTAssertEqual(h.publisher.versions, [0, 1])

        // What GET returns can be PUT back unchanged.
        let got = try await h.call(.GET, "/silos/silo1", token: admin)
        XCTAssertEqual(got.status, 200)
        let again = try await h.call(.PUT, "/silos/silo1", body: got.body, token: admin)
        XCTAssertEqual(again.status, 200, again.body)
        XCTAssertEqual(h.publisher.versions, [0, 1])

        try await h.createSilo("silo2", #"[{"hostname": "a", "ip": "192.0.2.1"}, {"hostname": "a", "ip": "2001:db8::1"}]"#)
        let list = try await h.call(.GET, "/silos", token: admin)
        XCTAssertEqual(list.status, 200)
        let silos = list.json["silos"] as? [[String: Any]] ?? []
        XCTAssertEqual(silos.map { $0["id"] as? String }, ["silo1", "silo2"])

        let deleted = try await h.call(.DELETE, "/silos/silo1", token: admin)
        XCTAssertEqual(deleted.status, 200, deleted.body)
        XCTAssertEqual(h.publisher.changes.last, .delete(id: "silo1"))
        XCTAssertEqual(h.publisher.versions, [0, 1, 2, 3])
        let gone = try await h.call(.GET, "/silos/silo1", token: admin)
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(gone.error, #"silo "silo1" does not exist"#)
        let deleteAgain = try await h.call(.DELETE, "/silos/silo1", token: admin)
        XCTAssertEqual(deleteAgain.status, 404)
        await h.stop()
    }

    /// Every bad input: the exact status and a message naming the field, and nothing written.
    func testBadInputIsRefusedNamingTheFieldAndWritesNothing() async throws {
        let h = try await DDNSHarness.start(policy: RefusingPolicy(refused: [try DomainName(parsing: "www.example.test.")])) {
            $0.maxRecordsPerSilo = 3
        }
        try await h.createSilo("s1", #"[{"hostname": "keep", "ip": "192.0.2.99"}]"#)
        let before = (try await h.call(.GET, "/silos/s1", token: admin)).body
        let versions = h.publisher.versions
        let long63 = String(repeating: "a", count: 63)
        let cases: [(String, String, Int, String)] = [
            ("bad ip", #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.1"}, {"hostname": "b", "ip": "192.0.2.2"}, {"hostname": "c", "ip": "300.1.1.1"}]}"#,
             400, #"dnsrecords[2].ip: "300.1.1.1" is not an IP address"#),
            ("label with underscore", #"{"dnsrecords": [{"hostname": "db_1", "ip": "192.0.2.1"}]}"#,
             400, #"dnsrecords[0].hostname: "db_1" is not a DNS label (letters, digits and inner hyphens, 1 to 63 characters) nor an absolute name ending in ".""#),
            ("leading hyphen", #"{"dnsrecords": [{"hostname": "-db", "ip": "192.0.2.1"}]}"#,
             400, #"dnsrecords[0].hostname: "-db" is not a DNS label (letters, digits and inner hyphens, 1 to 63 characters) nor an absolute name ending in ".""#),
            ("label over 63", #"{"dnsrecords": [{"hostname": "\#(long63)a", "ip": "192.0.2.1"}]}"#,
             400, #"dnsrecords[0].hostname: "\#(long63)a" is not a DNS label (letters, digits and inner hyphens, 1 to 63 characters) nor an absolute name ending in ".""#),
            ("name over 255", #"{"dnsrecords": [{"hostname": "\#([long63, long63, long63, long63].joined(separator: ".")).example.test.", "ip": "192.0.2.1"}]}"#,
             400, "dnsrecords[0].hostname: \"\(String([long63, long63].joined(separator: ".").prefix(80)))…\" is over 255 octets"),
            ("too many", #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.1"}, {"hostname": "b", "ip": "192.0.2.1"}, {"hostname": "c", "ip": "192.0.2.1"}, {"hostname": "d", "ip": "192.0.2.1"}]}"#,
             400, "dnsrecords: 4 records, at most 3 per silo (ddns.max_records_per_silo)"),
            ("duplicate", #"{"dnsrecords": [{"hostname": "db", "ip": "192.0.2.1"}, {"hostname": "DB", "ip": "192.0.2.2"}]}"#,
             400, #"dnsrecords[1]: duplicate of dnsrecords[0] (hostname "db", A)"#),
            ("ttl zero", #"{"dnsrecords": [{"hostname": "db", "ip": "192.0.2.1", "ttl": 0}]}"#,
             400, "dnsrecords[0].ttl: 0 is not a whole number from 1 to 86400"),
            ("ttl too big", #"{"dnsrecords": [{"hostname": "db", "ip": "192.0.2.1", "ttl": 86401}]}"#,
             400, "dnsrecords[0].ttl: 86401 is not a whole number from 1 to 86400"),
            ("ttl fraction", #"{"dnsrecords": [{"hostname": "db", "ip": "192.0.2.1", "ttl": 1.5}]}"#,
             400, "dnsrecords[0].ttl: 1.5 is not a whole number from 1 to 86400"),
            ("absolute outside allowed", #"{"dnsrecords": [{"hostname": "www.other.test.", "ip": "192.0.2.1"}]}"#,
             400, #"dnsrecords[0].hostname: "www.other.test." is not in a zone where absolute names are allowed: example.test."#),
            ("absolute inside the DDNS zone", #"{"dnsrecords": [{"hostname": "x.s2.dyn.example.test.", "ip": "192.0.2.1"}]}"#,
             400, #"dnsrecords[0].hostname: "x.s2.dyn.example.test." is inside the DDNS zone dyn.example.test.; name it by its label ("host" in silo "s1" is host.s1.dyn.example.test.)"#),
            ("refused by policy", #"{"dnsrecords": [{"hostname": "www.example.test.", "ip": "192.0.2.1"}]}"#,
             400, #"dnsrecords[0].hostname: "www.example.test.": www.example.test. is a routed name"#),
            ("missing ip", #"{"dnsrecords": [{"hostname": "db"}]}"#, 400, "dnsrecords[0].ip: missing"),
            ("ip not a string", #"{"dnsrecords": [{"hostname": "db", "ip": 7}]}"#, 400, "dnsrecords[0].ip: must be a string"),
            ("unknown record field", #"{"dnsrecords": [{"hostname": "db", "ip": "192.0.2.1", "type": "A"}]}"#,
             400, "dnsrecords[0].type: unknown field (expected hostname, ip, ttl)"),
            ("unknown top field", #"{"records": []}"#, 400, #""records": unknown field (expected "dnsrecords")"#),
            ("missing dnsrecords", #"{}"#, 400, "dnsrecords: missing"),
            ("id mismatch", #"{"id": "s9", "dnsrecords": []}"#, 400, #"id: "s9" does not match the silo in the path, "s1""#),
            ("not JSON", "hello", 400, "body: invalid JSON at byte 0: expected a value"),
            ("duplicate key", #"{"dnsrecords": [], "dnsrecords": []}"#, 400, "body: invalid JSON at byte 19: duplicate key 'dnsrecords'"),
        ]
        for (name, body, status, message) in cases {
            let reply = try await h.call(.PUT, "/silos/s1", body: body, token: admin)
            XCTAssertEqual(reply.status, status, "\(name): \(reply.body)")
            XCTAssertEqual(reply.error, message, name)
        }
        let badID = try await h.call(.PUT, "/silos/bad_id", body: #"{"dnsrecords": []}"#, token: admin)
        XCTAssertEqual(badID.status, 400)
        XCTAssertEqual(badID.error, #"id: "bad_id" is not a DNS label (letters, digits and inner hyphens, 1 to 63 characters)"#)
        // Nothing was written or published.
        let after = (try await h.call(.GET, "/silos/s1", token: admin)).body
        XCTAssertEqual(after, before)
        XCTAssertEqual(h.publisher.versions, versions)
        let list = try await h.call(.GET, "/silos", token: admin)
        XCTAssertEqual((list.json["silos"] as? [Any])?.count, 1)
        await h.stop()
    }

    func testAnAbsoluteNameBelongsToOneSilo() async throws {
        let h = try await DDNSHarness.start()
        try await h.createSilo("s1", #"[{"hostname": "www.example.test.", "ip": "192.0.2.1"}]"#)
        let versions = h.publisher.versions
        let clash = try await h.call(.PUT, "/silos/s2", body: #"{"dnsrecords": [{"hostname": "WWW.example.test.", "ip": "192.0.2.2"}]}"#, token: admin)
        XCTAssertEqual(clash.status, 409)
        XCTAssertEqual(clash.error, #""www.example.test." is already a name of silo "s1""#)
        XCTAssertEqual(h.publisher.versions, versions)
        // Its own silo may keep and change it; once released, another silo may take it.
        let own = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": [{"hostname": "www.example.test.", "ip": "192.0.2.3"}]}"#, token: admin)
        XCTAssertEqual(own.status, 200, own.body)
        let release = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": []}"#, token: admin)
        XCTAssertEqual(release.status, 200, release.body)
        let take = try await h.call(.PUT, "/silos/s2", body: #"{"dnsrecords": [{"hostname": "www.example.test.", "ip": "192.0.2.2"}]}"#, token: admin)
        XCTAssertEqual(take.status, 201, take.body)
        await h.stop()
    }

    func testBodyOver64KiBIs413() async throws {
        let h = try await DDNSHarness.start()
        let padding = String(repeating: " ", count: 65_537)
        let big = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": []\#(padding)}"#, token: admin)
        XCTAssertEqual(big.status, 413)
        XCTAssertTrue(big.error.hasPrefix("body: "), big.body)
        let gone = try await h.call(.GET, "/silos/s1", token: admin)
        XCTAssertEqual(gone.status, 404)
        // Just under the limit is fine.
        let fits = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": []}"# + String(repeating: " ", count: 65_536 - 18), token: admin)
        XCTAssertEqual(fits.status, 201, fits.body)
        await h.stop()
    }

    func testAuthorizationMatrix() async throws {
        let h = try await DDNSHarness.start()
        let t1 = try await h.createSilo("s1")
        let t2 = try await h.createSilo("s2")
        XCTAssertNotEqual(t1, t2)
        let put = #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.1"}]}"#
        struct Case { let name: String; let method: HTTPMethod; let path: String; let token: String?; let status: Int }
        let cases: [Case] = [
            Case(name: "list, no token", method: .GET, path: "/silos", token: nil, status: 401),
            Case(name: "list, wrong token", method: .GET, path: "/silos", token: "nope", status: 403),
            Case(name: "list, silo token", method: .GET, path: "/silos", token: t1, status: 403),
            Case(name: "list, admin", method: .GET, path: "/silos", token: admin, status: 200),
            Case(name: "get, no token", method: .GET, path: "/silos/s1", token: nil, status: 401),
            Case(name: "get, wrong token", method: .GET, path: "/silos/s1", token: "nope", status: 403),
            Case(name: "get, own token", method: .GET, path: "/silos/s1", token: t1, status: 200),
            Case(name: "get, other silo's token", method: .GET, path: "/silos/s1", token: t2, status: 403),
            Case(name: "put, other silo's token", method: .PUT, path: "/silos/s1", token: t2, status: 403),
            Case(name: "put, own token", method: .PUT, path: "/silos/s1", token: t1, status: 200),
            Case(name: "put, silo token creating a silo", method: .PUT, path: "/silos/s3", token: t1, status: 403),
            Case(name: "delete, silo token", method: .DELETE, path: "/silos/s2", token: t2, status: 403),
            Case(name: "token, silo token", method: .POST, path: "/silos/s2/token", token: t2, status: 403),
            Case(name: "token, no such silo", method: .POST, path: "/silos/s9/token", token: admin, status: 404),
            Case(name: "delete, no token", method: .DELETE, path: "/silos/s2", token: nil, status: 401),
        ]
        for c in cases {
            let reply = try await h.call(c.method, c.path, body: c.method == .PUT ? put : nil, token: c.token)
            XCTAssertEqual(reply.status, c.status, "\(c.name): \(reply.body)")
            if c.status >= 400 { XCTAssertFalse(reply.error.isEmpty, c.name) }
            if c.status == 401 { XCTAssertEqual(reply.header("WWW-Authenticate"), #"Bearer realm="proxima-ddns""#, c.name) }
        }
        let s3 = try await h.call(.GET, "/silos/s3", token: admin)
        XCTAssertEqual(s3.status, 404, "a silo token created a silo")
        // A new token replaces the old one.
        let renewed = try await h.call(.POST, "/silos/s1/token", token: admin)
        let t1b = renewed.json["token"] as? String ?? ""
        let old = try await h.call(.GET, "/silos/s1", token: t1)
        XCTAssertEqual(old.status, 403)
        let new = try await h.call(.GET, "/silos/s1", token: t1b)
        XCTAssertEqual(new.status, 200)
        await h.stop()
    }

    func testNoAdminTokenConfiguredMeansAdminCallsAre401() async throws {
        let h = try await DDNSHarness.start { $0.adminToken = nil }
        for (method, path) in [(HTTPMethod.GET, "/silos"), (.PUT, "/silos/s1"), (.DELETE, "/silos/s1"), (.POST, "/silos/s1/token")] {
            let reply = try await h.call(method, path, body: method == .PUT ? #"{"dnsrecords": []}"# : nil, token: "anything")
            XCTAssertEqual(reply.status, method == .PUT ? 403 : 401, "\(method) \(path): \(reply.body)")
        }
        let list = try await h.call(.GET, "/silos", token: "x")
        XCTAssertEqual(list.error, "no admin token is configured (ddns.admin_token), so admin calls are off")
        await h.stop()
    }

    func testTokenIsReturnedOnceAndOnlyItsHashIsStored() async throws {
        let h = try await DDNSHarness.start()
        let token = try await h.createSilo("s1")
        XCTAssertEqual(token.utf8.count, 43)
        XCTAssertTrue(token.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d || $0 == 0x5f })
        let got = try await h.call(.GET, "/silos/s1", token: admin)
        XCTAssertFalse(got.body.contains(token))
        await h.stop(removing: false)
        defer { try? FileManager.default.removeItem(atPath: h.directory) }
        let queue = try DatabaseQueue(path: h.databasePath)
        let stored = try await queue.read { db in try Data.fetchOne(db, sql: "SELECT token_hash FROM silo WHERE id = 's1'") }
        XCTAssertEqual(stored.map { Array($0) }, Array(SHA256.hash(data: Array(token.utf8))))
        try queue.close()
        for suffix in ["", "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: h.databasePath + suffix))) ?? Data()
            XCTAssertNil(bytes.range(of: Data(token.utf8)), "the token itself is in \(h.databasePath + suffix)")
        }
    }

    func testRateLimitAnswers429AndRefills() async throws {
        let h = try await DDNSHarness.start { $0.maxUpdatesPerMinute = 3 }
        let token = try await h.createSilo("s1")   // the admin's PUT took one
        for i in 0..<2 {
            let reply = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.\#(i + 1)"}]}"#, token: token)
            XCTAssertEqual(reply.status, 200, reply.body)
        }
        let limited = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.9"}]}"#, token: token)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.error, #"silo "s1" made more than 3 updates in a minute (ddns.max_updates_per_minute); try again later"#)
        let current = try await h.call(.GET, "/silos/s1", token: token)
        XCTAssertTrue(current.body.contains("192.0.2.2"), "the refused update was written")
        // Another silo has its own budget; reads are not limited.
        try await h.createSilo("s2")
        h.clock.advance(seconds: 20)   // 3/min: one write back every 20 s
        let refilled = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.9"}]}"#, token: token)
        XCTAssertEqual(refilled.status, 200, refilled.body)
        await h.stop()
    }

    func testMaxSilosIs409() async throws {
        let h = try await DDNSHarness.start { $0.maxSilos = 2 }
        try await h.createSilo("s1")
        try await h.createSilo("s2")
        let third = try await h.call(.PUT, "/silos/s3", body: #"{"dnsrecords": []}"#, token: admin)
        XCTAssertEqual(third.status, 409)
        XCTAssertEqual(third.error, "the store holds 2 silos, the most ddns.max_silos allows (2); delete one first")
        // Replacing an existing silo still works when full.
        let replace = try await h.call(.PUT, "/silos/s2", body: #"{"dnsrecords": [{"hostname": "a", "ip": "192.0.2.1"}]}"#, token: admin)
        XCTAssertEqual(replace.status, 200, replace.body)
        await h.stop()
    }

    func testStoreReopensWithEverythingAndTheVersionGoesOn() async throws {
        let directory = DDNSHarness.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await DDNSHarness.start(directory: directory)
        let token = try await first.createSilo("s1", #"[{"hostname": "a", "ip": "192.0.2.1", "ttl": 120}, {"hostname": "a", "ip": "2001:db8::1"}]"#)
        try await first.createSilo("s2", #"[{"hostname": "www.example.test.", "ip": "192.0.2.2"}]"#)
        let lastVersion = first.publisher.versions.last ?? 0
        await first.stop(removing: false)

        let second = try await DDNSHarness.start(directory: directory)
        guard case .replaceAll(let silos) = second.publisher.changes.first else { return XCTFail("no replaceAll at start") }
        XCTAssertEqual(silos, [
            Silo(id: "s1", records: [DDNSRecord(hostname: "a", address: IPAddress("192.0.2.1")!, ttl: 120),
                                     DDNSRecord(hostname: "a", address: IPAddress("2001:db8::1")!)]),
            Silo(id: "s2", records: [DDNSRecord(hostname: "www.example.test.", address: IPAddress("192.0.2.2")!)]),
        ])
        XCTAssertEqual(second.publisher.versions, [lastVersion])
        // The token still works; the next change gets the next version.
        let put = try await second.call(.PUT, "/silos/s1", body: #"{"dnsrecords": []}"#, token: token)
        XCTAssertEqual(put.status, 200, put.body)
        XCTAssertEqual(second.publisher.versions, [lastVersion, lastVersion + 1])
        await second.stop(removing: false)
    }

    func testTLSListener() async throws {
        let directory = DDNSHarness.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (cert, key) = try SelfSignedCertificate.make(in: directory, name: "ddns")
        let h = try await DDNSHarness.start(directory: directory) { $0.tls = AdminTLSSettings(certificate: cert, privateKey: key) }
        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .file(cert)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: trusting))
        let ping = try await h.call(.GET, "/ping", client: client, scheme: "https")
        XCTAssertEqual(ping.status, 200)
        let put = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": []}"#, token: admin, client: client, scheme: "https")
        XCTAssertEqual(put.status, 201, put.body)
        try await client.shutdown()
        // Plain HTTP on the TLS port gets no HTTP answer.
        do {
            let plain = try await h.call(.GET, "/ping", timeout: 3)
            XCTFail("plain HTTP answered on the TLS port: \(plain.status)")
        } catch {}
        await h.stop(removing: false)
    }
}
