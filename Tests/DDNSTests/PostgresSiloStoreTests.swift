import DDNS
import DNSWire
import Foundation
import Logging
import XCTest

/// `PostgresSiloStore` against a real, throwaway PostgreSQL cluster (see Support/PostgresCluster.swift).
/// One cluster serves the suite (a fresh database per test); the outage test gets its own, since it
/// stops and restarts the server.
final class PostgresSiloStoreTests: XCTestCase {
    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedCluster: Result<PostgresCluster, any Error>?

    /// The suite's cluster, started on first use. Throws (failing the test) when it cannot start.
    private static func cluster() throws -> PostgresCluster {
        try sharedLock.withLock {
            if sharedCluster == nil { sharedCluster = Result { try PostgresCluster() } }
            return try sharedCluster!.get()
        }
    }

    override class func tearDown() {
        sharedLock.withLock {
            if case .success(let cluster) = sharedCluster { cluster.destroy() }
            sharedCluster = nil
        }
        super.tearDown()
    }

    private var stores: [PostgresSiloStore] = []

    override func tearDown() async throws {
        for store in stores { await store.close() }
        stores = []
    }

    private func freshDatabase(_ cluster: PostgresCluster) throws -> (name: String, url: String) {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        return (name, try cluster.createDatabase(name))
    }

    private func open(_ url: String, resync: Duration = .seconds(60), timeout: Duration = .seconds(2)) throws
        -> PostgresSiloStore {
        var logger = Logger(label: "test.ddns.postgres")
        logger.logLevel = .warning
        let store = try PostgresSiloStore(url: url, logger: logger, resyncInterval: resync, timeout: timeout)
        stores.append(store)
        return store
    }

    /// XCTAssertTrue for a value computed with `await` (XCTest's autoclosures cannot await).
    private func assertTrue(_ condition: Bool, _ message: String = "", file: StaticString = #filePath,
                            line: UInt = #line) {
        XCTAssertTrue(condition, message, file: file, line: line)
    }

    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    private func silo(_ id: String, _ address: String, host: String = "host", ttl: UInt32? = nil) -> Silo {
        Silo(id: id, records: [DDNSRecord(hostname: host, address: ip(address), ttl: ttl)])
    }

    private func assertUnavailable<T>(_ what: String, within limit: Duration,
                                      _ call: () async throws -> T, file: StaticString = #filePath,
                                      line: UInt = #line) async {
        let started = ContinuousClock.now
        do {
            _ = try await call()
            XCTFail("\(what) succeeded while PostgreSQL is down", file: file, line: line)
        } catch let error as SiloStoreError {
            guard case .unavailable = error else {
                return XCTFail("\(what) threw \(error), expected .unavailable", file: file, line: line)
            }
        } catch {
            XCTFail("\(what) threw \(error), expected SiloStoreError.unavailable", file: file, line: line)
        }
        let took = ContinuousClock.now - started
        XCTAssertLessThanOrEqual(took, limit, "\(what) took \(took) to fail", file: file, line: line)
    }

    // MARK: - Schema

    func testMigratesAnEmptyDatabaseAndReopensIdempotently() async throws {
        let cluster = try Self.cluster()
        let (name, url) = try freshDatabase(cluster)
        let first = try open(url)
        let empty = try await first.loadAll()
        XCTAssertEqual(empty.silos, [])
        XCTAssertEqual(empty.version, 0)
        XCTAssertEqual(try cluster.psql(database: name, "SELECT version FROM proxima_schema"), "1")
        let tables = try cluster.psql(database: name, """
            SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'proxima%'
            """)
        XCTAssertEqual(tables, "proxima_ddns_records,proxima_ddns_silos,proxima_ddns_state,proxima_ddns_tokens,proxima_schema")
        let put = try await first.put(silo("silo1", "203.0.113.7"))
        XCTAssertEqual(put.version, 1)
        await first.close()

        let second = try open(url)
        let reopened = try await second.loadAll()
        XCTAssertEqual(reopened.silos, [silo("silo1", "203.0.113.7")])
        XCTAssertEqual(reopened.version, 1)
        XCTAssertEqual(try cluster.psql(database: name, "SELECT count(*) FROM proxima_schema"), "1")
        XCTAssertEqual(try cluster.psql(database: name, "SELECT version FROM proxima_schema"), "1")
    }

    func testNewerSchemaIsRefusedAndLeftUntouched() async throws {
        let cluster = try Self.cluster()
        let (name, url) = try freshDatabase(cluster)
        let writer = try open(url)
        _ = try await writer.put(silo("keep", "192.0.2.1"))
        await writer.close()
        try cluster.psql(database: name, "UPDATE proxima_schema SET version = 99")

        let newer = try open(url)
        for call in ["loadAll", "put"] {
            do {
                if call == "loadAll" { _ = try await newer.loadAll() } else { _ = try await newer.put(silo("x", "192.0.2.2")) }
                XCTFail("\(call) worked on a newer schema")
            } catch SiloStoreError.incompatible(let message) {
                XCTAssertTrue(message.contains("99") && message.contains("newer"), message)
            }
        }
        XCTAssertEqual(try cluster.psql(database: name, "SELECT version FROM proxima_schema"), "99")
        XCTAssertEqual(try cluster.psql(database: name, "SELECT string_agg(id, ',') FROM proxima_ddns_silos"), "keep")
    }

    // MARK: - Round trips

    func testPutGetDeleteAndTokenHashRoundTrip() async throws {
        let cluster = try Self.cluster()
        let (_, url) = try freshDatabase(cluster)
        let store = try open(url)
        let original = Silo(id: "silo1", records: [
            DDNSRecord(hostname: "dbserver", address: ip("203.0.113.7")),
            DDNSRecord(hostname: "webserver", address: ip("2001:db8::7"), ttl: 30),
            DDNSRecord(hostname: "www.example.test.", address: ip("198.51.100.1"), ttl: 4_294_967_295),
        ])
        let created = try await store.put(original)
        XCTAssertEqual(created.version, 1)
        XCTAssertTrue(created.changed)
        let read = try await store.silo(id: "silo1")
        XCTAssertEqual(read, original)
        let count = try await store.siloCount()
        XCTAssertEqual(count, 1)

        // Equal records: nothing written, version unchanged (dyndns2 `nochg`).
        let same = try await store.put(original)
        XCTAssertEqual(same.version, 1)
        XCTAssertFalse(same.changed)

        // Ids are case-insensitive, stored lowercased.
        let upper = try await store.put(silo("SILO1", "203.0.113.8"))
        XCTAssertEqual(upper.version, 2)
        XCTAssertTrue(upper.changed)
        let replaced = try await store.silo(id: "Silo1")
        XCTAssertEqual(replaced, silo("silo1", "203.0.113.8"))

        // A silo with no records exists and differs from none.
        let emptied = try await store.put(Silo(id: "silo2", records: []))
        XCTAssertEqual(emptied.version, 3)
        let emptySilo = try await store.silo(id: "silo2")
        XCTAssertEqual(emptySilo, Silo(id: "silo2", records: []))
        let containsEmpty = try await store.containsSilo(id: "SILO2")
        XCTAssertTrue(containsEmpty, "a silo with no records exists (ids case-insensitive)")
        let loaded = try await store.loadAll()
        XCTAssertEqual(loaded.silos.map(\.id), ["silo1", "silo2"])
        XCTAssertEqual(loaded.version, 3)

        // Token hashes.
        let noHash = try await store.tokenHash(siloID: "silo1")
        XCTAssertNil(noHash)
        let hash: [UInt8] = (0..<32).map { UInt8($0 * 7 & 0xff) }
        try await store.setTokenHash(siloID: "silo1", hash: hash)
        let storedHash = try await store.tokenHash(siloID: "silo1")
        XCTAssertEqual(storedHash, hash)
        try await store.setTokenHash(siloID: "silo1", hash: [1, 2, 3])
        let replacedHash = try await store.tokenHash(siloID: "silo1")
        XCTAssertEqual(replacedHash, [1, 2, 3])
        do {
            try await store.setTokenHash(siloID: "nosuch", hash: [1])
            XCTFail("a token for a missing silo was stored")
        } catch SiloStoreError.noSuchSilo {}

        // Delete removes records and token, bumps the version; a second delete finds nothing.
        let deleted = try await store.delete(id: "silo1")
        XCTAssertEqual(deleted, 4)
        let gone = try await store.silo(id: "silo1")
        XCTAssertNil(gone)
        let containsGone = try await store.containsSilo(id: "silo1")
        XCTAssertFalse(containsGone)
        let goneHash = try await store.tokenHash(siloID: "silo1")
        XCTAssertNil(goneHash)
        let again = try await store.delete(id: "silo1")
        XCTAssertNil(again)
        let after = try await store.loadAll()
        XCTAssertEqual(after.version, 4)
        XCTAssertEqual(after.silos, [Silo(id: "silo2", records: [])])
    }

    func testHostileInputIsRefusedBeforeSQLOrStoredVerbatim() async throws {
        let cluster = try Self.cluster()
        let (name, url) = try freshDatabase(cluster)
        let store = try open(url)
        let recorder = ChangeRecorder(store.externalChanges())
        assertTrue(await recorder.wait(.seconds(10)) { $0.count >= 1 }, "no initial resync")

        let hostileIDs = ["a'; DROP TABLE proxima_ddns_silos; --", String(repeating: "x", count: 10_240),
                          "", "ü", "a\u{0}b", "a b", "silo.1", String(repeating: "y", count: 64)]
        for id in hostileIDs {
            let found = try await store.silo(id: id)
            XCTAssertNil(found)
            let deleted = try await store.delete(id: id)
            XCTAssertNil(deleted)
            let hash = try await store.tokenHash(siloID: id)
            XCTAssertNil(hash)
            do {
                try await store.setTokenHash(siloID: id, hash: [1])
                XCTFail("token stored for id \(id.prefix(40))")
            } catch SiloStoreError.noSuchSilo {}
            do {
                _ = try await store.put(silo(id, "192.0.2.1"))
                XCTFail("silo stored under id \(id.prefix(40))")
            } catch SiloStoreError.incompatible {}
        }
        // Hostnames: too long or with control bytes are refused; quotes and backslashes are data.
        for hostname in [String(repeating: "h", count: 10_240), "", "a\u{0}b", "new\nline"] {
            do {
                _ = try await store.put(silo("ok", "192.0.2.1", host: hostname))
                XCTFail("hostname \(hostname.prefix(40).debugDescription) stored")
            } catch SiloStoreError.incompatible {}
        }
        do {
            let many = (0...PostgresSiloStore.maxRecordsPerSilo).map {
                DDNSRecord(hostname: "h\($0)", address: .v4(UInt32($0)))
            }
            _ = try await store.put(Silo(id: "many", records: many))
            XCTFail("more than maxRecordsPerSilo records stored")
        } catch SiloStoreError.incompatible {}
        do {
            _ = try await store.put(silo("ok", "192.0.2.1"))
            try await store.setTokenHash(siloID: "ok", hash: [UInt8](repeating: 1, count: 10_240))
            XCTFail("a 10 KB token hash was stored")
        } catch SiloStoreError.incompatible {}

        let quoted = silo("quoted", "192.0.2.9", host: #"it's "quoted" \ $1 ; DROP TABLE x; --"#)
        _ = try await store.put(quoted)
        let readBack = try await store.silo(id: "quoted")
        XCTAssertEqual(readBack, quoted)
        let loaded = try await store.loadAll()
        XCTAssertEqual(loaded.silos.map(\.id), ["ok", "quoted"])

        // Anyone who may NOTIFY on the channel can send junk: it is ignored; a well-formed
        // notification for a silo that does not exist yields a (harmless) delete.
        let before = recorder.count
        try cluster.psql(database: name, #"NOTIFY proxima_ddns, 'junk'; NOTIFY proxima_ddns, 'x'':1'; NOTIFY proxima_ddns, 'ghost:5'"#)
        assertTrue(await recorder.wait(.seconds(5)) { elements in
            elements.dropFirst(before).contains { $0.0.contains(.delete(id: "ghost")) }
        })
        let junk = recorder.since(before).flatMap(\.0).filter {
            if case .delete(let id) = $0 { return id != "ghost" }
            return false
        }
        XCTAssertEqual(junk, [])
        XCTAssertEqual(try cluster.psql(database: name, "SELECT count(*) FROM proxima_ddns_silos"), "2")
    }

    // MARK: - Many nodes

    func testVersionIsSharedByTwoNodes() async throws {
        let cluster = try Self.cluster()
        let (_, url) = try freshDatabase(cluster)
        let nodeA = try open(url)
        let nodeB = try open(url)
        var last: UInt64 = 0
        for index in 0..<10 {
            let node = index % 2 == 0 ? nodeA : nodeB
            let result = try await node.put(silo("s\(index % 3)", "192.0.2.\(index + 1)"))
            XCTAssertTrue(result.changed)
            XCTAssertGreaterThan(result.version, last)
            last = result.version
        }
        XCTAssertEqual(last, 10)
        let deleted = try await nodeB.delete(id: "s0")
        XCTAssertEqual(deleted, 11)
        let viewA = try await nodeA.loadAll()
        let viewB = try await nodeB.loadAll()
        XCTAssertEqual(viewA.version, 11)
        XCTAssertEqual(viewB.version, 11)
        XCTAssertEqual(viewA.silos, viewB.silos)

        // Concurrent writers on both nodes: every committed change gets its own version.
        let versions = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<20 {
                let node = index % 2 == 0 ? nodeA : nodeB
                let change = silo("c\(index)", "198.51.100.\(index + 1)")
                group.addTask { try await node.put(change).version }
            }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        XCTAssertEqual(versions.sorted(), Array(12...31))
    }

    func testChangeThroughOneNodeReachesTheOtherWithinOneSecond() async throws {
        let cluster = try Self.cluster()
        let (_, url) = try freshDatabase(cluster)
        let nodeA = try open(url)
        let nodeB = try open(url)
        let recorder = ChangeRecorder(nodeB.externalChanges())
        // The listener's first connection always yields a full state (nothing missed before LISTEN).
        assertTrue(await recorder.wait(.seconds(10)) { elements in
            elements.contains { if case .replaceAll = $0.0.first { return true } else { return false } }
        }, "no initial .replaceAll")

        for round in 1...5 {
            let change = silo("silo1", "203.0.113.\(round)")
            let result = try await nodeA.put(change)
            let arrived = ContinuousClock.now
            assertTrue(await recorder.wait(.seconds(1)) { elements in
                elements.contains { $0.0.contains(.upsert(change)) && $0.1 >= result.version }
            }, "round \(round): the change did not reach node B within 1 s")
            XCTAssertLessThan(ContinuousClock.now - arrived, .seconds(1))
        }
        let deleted = try await nodeA.delete(id: "silo1")
        assertTrue(await recorder.wait(.seconds(1)) { elements in
            elements.contains { $0.0.contains(.delete(id: "silo1")) && $0.1 >= (deleted ?? .max) }
        }, "the delete did not reach node B within 1 s")

        let versions = recorder.all.map(\.1)
        XCTAssertEqual(versions, versions.sorted(), "versions went backwards: \(versions)")
        let table = recorder.table()
        XCTAssertEqual(table.silos, [:])
        XCTAssertEqual(table.version, deleted)
    }

    func testPeriodicResyncCatchesAChangeMadeBehindTheFeed() async throws {
        let cluster = try Self.cluster()
        let (name, url) = try freshDatabase(cluster)
        let store = try open(url, resync: .seconds(1))
        let recorder = ChangeRecorder(store.externalChanges())
        assertTrue(await recorder.wait(.seconds(10)) { $0.count >= 1 })
        // A change written straight into the tables (no NOTIFY), as a restored backup would be.
        try cluster.psql(database: name, """
            BEGIN;
            UPDATE proxima_ddns_state SET version = version + 1;
            INSERT INTO proxima_ddns_silos (id, version) VALUES ('behind', 1);
            INSERT INTO proxima_ddns_records VALUES ('behind', 0, 'h', '\\xc0000263', NULL);
            COMMIT;
            """)
        assertTrue(await recorder.wait(.seconds(5)) { elements in
            elements.contains { element in
                guard case .replaceAll(let silos) = element.0.first else { return false }
                return silos == [self.silo("behind", "192.0.2.99", host: "h")]
            }
        }, "the periodic resync did not yield the change")
    }

    // MARK: - Outage

    func testOutageFailsFastKeepsRecordsAndBothNodesConverge() async throws {
        let cluster = try PostgresCluster()
        defer { cluster.destroy() }
        let url = try cluster.createDatabase("outage")
        let timeout = Duration.seconds(2)
        let nodeA = try open(url, timeout: timeout)
        let nodeB = try open(url, timeout: timeout)
        let feedA = ChangeRecorder(nodeA.externalChanges())
        let feedB = ChangeRecorder(nodeB.externalChanges())
        let before = silo("before", "192.0.2.1")
        _ = try await nodeA.put(before)
        for feed in [feedA, feedB] {
            assertTrue(await feed.wait(.seconds(10)) { ChangeRecorder.apply($0).silos["before"] == before })
        }

        try cluster.stop()
        let stoppedAt = (feedA.count, feedB.count)
        let limit = timeout + .seconds(1)
        await assertUnavailable("put", within: limit) { try await nodeA.put(self.silo("during", "192.0.2.2")) }
        await assertUnavailable("loadAll", within: limit) { try await nodeB.loadAll() }
        await assertUnavailable("silo", within: limit) { try await nodeB.silo(id: "before") }
        await assertUnavailable("delete", within: limit) { try await nodeA.delete(id: "before") }
        await assertUnavailable("tokenHash", within: limit) { try await nodeB.tokenHash(siloID: "before") }
        // A fresh store on the dead server: its init does not block, its calls fail in time.
        let fresh = try open(url, timeout: timeout)
        await assertUnavailable("siloCount on a fresh store", within: limit) { try await fresh.siloCount() }
        // Nothing reached the DNS side while the database was away: it keeps serving "before".
        XCTAssertEqual(feedA.since(stoppedAt.0).count, 0)
        XCTAssertEqual(feedB.since(stoppedAt.1).count, 0)
        XCTAssertEqual(feedB.table().silos["before"], before)

        try cluster.start()
        // A third node, started after the restart, writes; both old nodes reconnect on their own.
        let nodeC = try open(url, timeout: timeout)
        let after = silo("after", "192.0.2.3")
        let written = try await nodeC.put(after)
        for (feed, start) in [(feedA, stoppedAt.0), (feedB, stoppedAt.1)] {
            assertTrue(await feed.wait(.seconds(20)) { elements in
                let recent = elements.dropFirst(start)
                let resynced = recent.contains { if case .replaceAll = $0.0.first { return true } else { return false } }
                let table = ChangeRecorder.apply(elements)
                return resynced && table.silos == ["before": before, "after": after] && table.version >= written.version
            }, "a node did not converge after PostgreSQL came back: \(feed.since(start))")
            let versions = feed.all.map(\.1)
            XCTAssertEqual(versions, versions.sorted(), "versions went backwards: \(versions)")
            // (The very first .replaceAll, before "before" was written, was legitimately empty.)
            XCTAssertFalse(feed.since(start).contains { element in
                if case .replaceAll(let silos) = element.0.first { return silos.isEmpty } else { return false }
            }, "an empty .replaceAll was yielded after the outage began")
        }
        // Writes work again through the nodes that lived through the outage, and reach the other.
        let again = silo("before", "192.0.2.4")
        let rewritten = try await nodeA.put(again)
        XCTAssertTrue(rewritten.changed)
        XCTAssertGreaterThan(rewritten.version, written.version)
        assertTrue(await feedB.wait(.seconds(1)) { $0.contains { $0.0.contains(.upsert(again)) } })
        let viewA = try await nodeA.loadAll()
        let viewB = try await nodeB.loadAll()
        XCTAssertEqual(viewA.silos, viewB.silos)
        XCTAssertEqual(viewA.version, viewB.version)
    }

    func testUnreachableServerFailsWithinTheTimeout() async throws {
        // A loopback port nobody listens on (connection refused), and a store with a short timeout.
        let store = try open("postgres://proxima@127.0.0.1:1/none?sslmode=disable", timeout: .milliseconds(500))
        await assertUnavailable("loadAll", within: .seconds(2)) { try await store.loadAll() }
        await assertUnavailable("put", within: .seconds(2)) { try await store.put(self.silo("a", "192.0.2.1")) }
    }
}
