import DDNS
import DNSWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import ProximaConfig
import ServiceLifecycle
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The DDNS clients (the built `proxima` binary) against the real DDNS API: a `DDNSService` on a
/// real SQLite file, its HTTP listener on an ephemeral loopback port. The DNS side is our
/// `DDNSPublisher` seam recording every committed change, so "no PUT" is visible as "no change
/// published", and the rate limit (two writes per silo, on a clock that does not move) turns
/// any surplus PUT into a 429 the client would fail on.
final class DDNSClientAPITests: XCTestCase {
    final class Changes: DDNSPublisher, Sendable {
        private let log = NIOLockedValueBox<[([DDNSChange], UInt64)]>([])
        func apply(_ changes: [DDNSChange], version: UInt64) { log.withLockedValue { $0.append((changes, version)) } }
        var upserts: [Silo] {
            log.withLockedValue { $0 }.flatMap(\.0).compactMap { if case .upsert(let s) = $0 { return s } else { return nil } }
        }
    }

    struct AnyName: DDNSNamePolicy {
        func refusal(for name: DomainName) -> String? { nil }
    }

    func testClientsAgainstTheAPI() async throws {
        let dir = try DDNSClientLiveTests.tempDir("ddns-api-clients")
        defer { try? FileManager.default.removeItem(at: dir) }
        let adminToken = "admin-\(UUID().uuidString)"
        try DDNSClientLiveTests.writeSecret(dir.appendingPathComponent("admin.token"), adminToken + "\n")
        // Two writes per silo per minute, and a rate-limit clock that stands still.
        let settings = DDNSSettings(zone: try DomainName(parsing: "dyn.example.test."),
                                    listen: ListenEndpoint(address: .v4(0x7f00_0001), port: 0),
                                    store: .sqlite(path: "ddns.sqlite3"), adminToken: adminToken, maxUpdatesPerMinute: 2)
        var logger = Logger(label: "ddns-client-api-test")
        logger.logLevel = .critical
        let changes = Changes()
        let opened = try DDNSService(settings: settings, configDirectory: dir.path, publisher: changes,
                                     namePolicy: AnyName(), logger: logger)
        let service = DDNSService(settings: settings, store: opened.store, publisher: changes, namePolicy: AnyName(),
                                  logger: logger, now: { 1_000_000_000 })
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let task = Task { try await group.run() }
        let port = try await { () async throws -> Int in
            guard let port = await service.boundPort() else { throw DNSTestClient.Failure(description: "the DDNS API did not start") }
            return port
        }()
        let server = "http://127.0.0.1:\(port)"
        let admin = ["--server", server, "--admin-token-file", dir.appendingPathComponent("admin.token").path]

        // The admin: a silo with one record (its first write), and its token.
        var (status, out, err) = try ServerProcess.run(["ddns", "silo", "create", "home", "--record", "db=192.0.2.10,120"] + admin)
        XCTAssertEqual(status, 0, err)
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "token", "home"] + admin)
        XCTAssertEqual(status, 0, err)
        let tokenFile = dir.appendingPathComponent("home.token")
        try DDNSClientLiveTests.writeSecret(tokenFile, out)
        let stateFile = dir.appendingPathComponent("state/home.json").path
        let update = ["ddns", "update", "--server", server, "--silo", "home", "--token-file", tokenFile.path,
                      "--hostname", "gw", "--ip-from", "interface:lo", "--include-local", "--once", "--attempts", "1",
                      "--state-file", stateFile]

        // First run: one PUT (the silo's second write) with gw's A and AAAA, db kept with its TTL.
        (status, out, err) = try ServerProcess.run(update)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("updated to 127.0.0.1, ::1"), out)
        let stored = try XCTUnwrap(changes.upserts.last)
        XCTAssertEqual(Set(stored.records), [DDNSRecord(hostname: "db", address: IPAddress("192.0.2.10")!, ttl: 120),
                                             DDNSRecord(hostname: "gw", address: IPAddress("127.0.0.1")!),
                                             DDNSRecord(hostname: "gw", address: IPAddress("::1")!)])
        XCTAssertEqual(changes.upserts.count, 2)

        // Same addresses: no request that writes. A PUT now would get 429 (the bucket is empty)
        // and, with one attempt, exit 69.
        (status, out, err) = try ServerProcess.run(update)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "")
        // Without the state file the silo is read, already holds the addresses: still no PUT.
        try FileManager.default.removeItem(atPath: stateFile)
        (status, out, err) = try ServerProcess.run(update)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("already at"), out)
        XCTAssertEqual(changes.upserts.count, 2)
        // A new name does need a PUT, and the empty bucket answers 429: 69 after the attempts.
        (status, out, err) = try ServerProcess.run(update + ["--hostname", "gw2", "--attempts", "2"])
        XCTAssertEqual(status, 69, err)
        XCTAssertTrue(err.contains("429"), err)
        XCTAssertEqual(changes.upserts.count, 2)

        // A wrong token: 403, exit 77, no retry.
        let bad = dir.appendingPathComponent("bad.token")
        try DDNSClientLiveTests.writeSecret(bad, "wrong\n")
        (status, out, err) = try ServerProcess.run(["ddns", "hosts", "--server", server, "--silo", "home", "--token-file", bad.path,
                                                    "--hosts-file", dir.appendingPathComponent("nohosts").path, "--once"])
        XCTAssertEqual(status, 77, err)
        XCTAssertFalse(err.contains("retrying"), err)

        // The hosts client: names as the server serves them, other lines, mode and owner kept.
        let hosts = dir.appendingPathComponent("hosts").path
        let original = "127.0.0.1 localhost\r\n# keep\r\n"
        try Data(original.utf8).write(to: URL(fileURLWithPath: hosts))
        XCTAssertEqual(chmod(hosts, 0o604), 0)
        XCTAssertEqual(chown(hosts, 65534, 65534), 0)
        let hostsRun = ["ddns", "hosts", "--server", server, "--silo", "home", "--token-file", tokenFile.path,
                        "--hosts-file", hosts, "--once"]
        (status, out, err) = try ServerProcess.run(hostsRun)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(try String(contentsOfFile: hosts, encoding: .utf8), original + """
            # BEGIN proxima home\r
            192.0.2.10\tdb.home.dyn.example.test db\r
            127.0.0.1\tgw.home.dyn.example.test gw\r
            ::1\tgw.home.dyn.example.test gw\r
            # END proxima home\r

            """)
        var first = stat(), second = stat()
        XCTAssertEqual(stat(hosts, &first), 0)
        XCTAssertEqual(first.st_mode & 0o7777, 0o604)
        XCTAssertEqual(first.st_uid, 65534)
        (status, out, err) = try ServerProcess.run(hostsRun)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "")
        XCTAssertEqual(stat(hosts, &second), 0)
        XCTAssertEqual(second.st_ino, first.st_ino)
        XCTAssertEqual(second.st_mtim.tv_nsec, first.st_mtim.tv_nsec)

        // The admin's list, show, delete; a deleted silo leaves the hosts file alone (65).
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "list"] + admin)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("home\tdb\tA\t192.0.2.10\t120"), out)
        XCTAssertTrue(out.contains("home\tgw\tAAAA\t::1\t-"), out)
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "delete", "home"] + admin)
        XCTAssertEqual(status, 0, err)
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "show", "home"] + admin)
        XCTAssertEqual(status, 65, err)
        (status, out, err) = try ServerProcess.run(hostsRun)
        XCTAssertNotEqual(status, 0, "a silo token for a deleted silo")
        XCTAssertEqual(stat(hosts, &second), 0)
        XCTAssertEqual(second.st_ino, first.st_ino)

        await group.triggerGracefulShutdown()
        try await task.value
    }
}
