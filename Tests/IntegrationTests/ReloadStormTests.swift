import DNSWire
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue #8 item 6 with the real binary: a SIGHUP storm causes a few coalesced reloads, not one per
/// signal; the newest zone ends up serving; a zone-only reload does not reopen the GeoIP database,
/// a replaced database file is reopened; SIGTERM during a storm exits without working off a backlog.
final class ReloadStormTests: XCTestCase {
    /// A zone large enough that one reload takes far longer than the gap between two signals, so
    /// signals arrive while a reload runs (the case that used to queue).
    static func zone(_ www: String) -> String {
        var lines = [
            "$ORIGIN storm.test.", "$TTL 300", "@ SOA ns1 hostmaster 1 7200 3600 1209600 300", "  NS ns1",
            "ns1 A 192.0.2.53", "www A \(www)",
        ]
        for i in 0..<20_000 { lines.append("h\(i) A 198.51.\(i / 256 % 256).\(i % 256)") }
        return lines.joined(separator: "\n") + "\n"
    }

    static let config = """
        listen:
          - 127.0.0.1:0
        udp_threads: 1
        log_level: info
        zones:
          - origin: storm.test.
            file: storm.zone
        geoip:
          database: geo.mmdb
        """

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    func install(_ data: Data, as name: String, in dir: URL) throws {
        let tmp = dir.appendingPathComponent(".\(name).tmp")
        try data.write(to: tmp)
        XCTAssertEqual(rename(tmp.path, dir.appendingPathComponent(name).path), 0)
    }

    func testSIGHUPStormCoalescesAndDatabaseIsReopenedOnlyWhenChanged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-storm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let mmdb = LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")
        try FileManager.default.copyItem(at: mmdb, to: dir.appendingPathComponent("geo.mmdb"))
        try Data(Self.zone("192.0.2.1").utf8).write(to: dir.appendingPathComponent("storm.zone"))
        try Data(Self.config.utf8).write(to: dir.appendingPathComponent("proxima.yaml"))
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        let port = try XCTUnwrap(proc.waitForPort(), "no listen line in: \(proc.stderr)")
        let lo = IPAddress("127.0.0.1")!
        func www() throws -> [String] {
            try DNSTestClient.udp("www.storm.test.", .a, server: lo, port: port).answerSection.map { $0.rdata.description }
        }
        XCTAssertEqual(try www(), ["192.0.2.1"])
        XCTAssertEqual(Self.count("opened GeoIP database", in: proc.stderr), 1, proc.stderr)

        // 60 signals, each after a new zone version is in place.
        let signals = 60
        for i in 1...signals {
            try install(Data(Self.zone("192.0.2.\(i + 1)").utf8), as: "storm.zone", in: dir)
            proc.signal(SIGHUP)
            usleep(5_000)
        }
        let newest = "192.0.2.\(signals + 1)"
        XCTAssertTrue(try LiveServer.eventually(timeout: 120) { try www() == [newest] }, "newest zone never served")
        // Let a reload that was queued behind the one that installed the newest zone finish.
        XCTAssertTrue(LiveServer.eventually(timeout: 60) {
            Self.count("reloading (", in: proc.stderr) == Self.count("reloaded (", in: proc.stderr)
        })
        let reloads = Self.count("reloading (", in: proc.stderr)
        XCTAssertGreaterThanOrEqual(reloads, 1)
        XCTAssertLessThanOrEqual(reloads, signals / 2, "reloads were not coalesced:\n\(proc.stderr.suffix(3000))")
        XCTAssertEqual(try www(), [newest], "an older zone came back after the newest")
        XCTAssertEqual(Self.count("opened GeoIP database", in: proc.stderr), 1, "zone-only reloads reopened the database")

        // A new database file (a new inode, as the refresh script installs it) is opened once.
        try install(try Data(contentsOf: mmdb), as: "geo.mmdb", in: dir)
        let before = Self.count("reloaded (", in: proc.stderr)
        proc.signal(SIGHUP)
        XCTAssertTrue(LiveServer.eventually(timeout: 60) { Self.count("reloaded (", in: proc.stderr) > before })
        XCTAssertEqual(Self.count("opened GeoIP database", in: proc.stderr), 2, proc.stderr.suffix(2000).description)
        // The replaced database is unmapped once nothing uses it: idle DNS threads drop the old
        // snapshot within their receive timeout, so it is not kept until the next query.
        let maps = "/proc/\(proc.process.processIdentifier)/maps"
        func mappedDatabases() -> [String] {
            // /proc files report size 0: read to EOF.
            let text = FileHandle(forReadingAtPath: maps).map { String(decoding: $0.readDataToEndOfFile(), as: UTF8.self) } ?? ""
            return Set(text.split(separator: "\n").filter { $0.contains("geo.mmdb") }.map {
                String($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).joined(separator: " "))
            }).sorted()
        }
        XCTAssertTrue(LiveServer.eventually(timeout: 30) { mappedDatabases().count == 1 }, "\(mappedDatabases())")
        XCTAssertFalse(mappedDatabases().contains { $0.contains("(deleted)") }, "\(mappedDatabases())")

        // SIGTERM in the middle of another storm: no backlog is worked off before exiting.
        for _ in 0..<20 { proc.signal(SIGHUP) }
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 30), 0, "graceful shutdown exits 0")
        XCTAssertLessThanOrEqual(Self.count("reloading (", in: proc.stderr) - Self.count("reloaded (", in: proc.stderr), 1)
    }
}
