import DDNS
import DNSWire
import Foundation
import GRDB
import XCTest

/// The embedded store on real SQLite files.
final class SQLiteSiloStoreTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = DDNSHarness.makeTemporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private let a = Silo(id: "a", records: [DDNSRecord(hostname: "h", address: IPAddress("192.0.2.1")!, ttl: 5)])

    func testVersionCountsCommittedChangesOnly() async throws {
        let store = try SQLiteSiloStore(path: directory + "/s.sqlite3")
        var (silos, version) = try await store.loadAll()
        XCTAssertEqual(silos, [])
        XCTAssertEqual(version, 0)
        var put = try await store.put(a)
        XCTAssertEqual(put.version, 1)
        XCTAssertTrue(put.changed)
        put = try await store.put(a)
        XCTAssertEqual(put.version, 1)
        XCTAssertFalse(put.changed)
        put = try await store.put(Silo(id: "b", records: []))
        XCTAssertEqual(put.version, 2)
        XCTAssertTrue(put.changed, "creating an empty silo is a change")
        let count = try await store.siloCount()
        XCTAssertEqual(count, 2)
        let containsEmpty = try await store.containsSilo(id: "b")
        XCTAssertTrue(containsEmpty, "a silo with no records exists")
        let deleted = try await store.delete(id: "b")
        XCTAssertEqual(deleted, 3)
        let containsDeleted = try await store.containsSilo(id: "b")
        XCTAssertFalse(containsDeleted)
        let missing = try await store.delete(id: "b")
        XCTAssertNil(missing)
        do {
            try await store.setTokenHash(siloID: "nope", hash: [1, 2, 3])
            XCTFail("a token for a silo that does not exist")
        } catch let error as SiloStoreError {
            XCTAssertEqual(error, .noSuchSilo("nope"))
        }
        try await store.setTokenHash(siloID: "a", hash: [9, 9])
        let hash = try await store.tokenHash(siloID: "a")
        XCTAssertEqual(hash, [9, 9])
        // A token does not count as a DNS change.
        (silos, version) = try await store.loadAll()
        XCTAssertEqual(silos, [a])
        XCTAssertEqual(version, 3)
        await store.close()
        do {
            _ = try await store.loadAll()
            XCTFail("a closed store answered")
        } catch let error as SiloStoreError {
            guard case .unavailable = error else { return XCTFail("\(error)") }
        }
    }

    func testASecondOpenerOfTheFileIsRefusedWhileTheFirstHoldsIt() async throws {
        let path = directory + "/held.sqlite3"
        let first = try SQLiteSiloStore(path: path)
        _ = try await first.put(a)
        XCTAssertThrowsError(try SQLiteSiloStore(path: path)) { error in
            guard case .unavailable(let why) = error as? SiloStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains(path) && why.contains("held by another process"), why)
        }
        // The holder is unaffected, and once it closes the file opens again with its data.
        _ = try await first.put(Silo(id: "b", records: []))
        await first.close()
        let second = try SQLiteSiloStore(path: path)
        let (silos, version) = try await second.loadAll()
        XCTAssertEqual(silos.map(\.id), ["a", "b"])
        XCTAssertEqual(version, 2)
        await second.close()
    }

    func testHandEditedRecordIsRefusedByNameAndAFailedUpdateLeavesNoTransactionOpen() async throws {
        let path = directory + "/edited.sqlite3"
        do {
            let store = try SQLiteSiloStore(path: path)
            _ = try await store.put(a)
            await store.close()
        }
        let queue = try DatabaseQueue(path: path)
        try await queue.write {
            try $0.execute(sql: #"UPDATE silo SET records = '[{"hostname":"h","ip":"nonsense"}]' WHERE id = 'a'"#)
        }
        try queue.close()

        let store = try SQLiteSiloStore(path: path)
        do {
            _ = try await store.silo(id: "a")
            XCTFail("a record holding no address was read")
        } catch let error as SiloStoreError {
            guard case .incompatible(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains(path) && why.contains("nonsense"), why)
        }
        // The update reads the stored records first and fails before it writes anything: the
        // next update commits.
        do {
            _ = try await store.put(Silo(id: "a", records: []))
            XCTFail("an update over an unreadable record was committed")
        } catch is SiloStoreError {}
        let next = try await store.put(Silo(id: "b", records: []))
        XCTAssertEqual(next.version, 2)
        XCTAssertTrue(next.changed)
        let contains = try await store.containsSilo(id: "a")
        XCTAssertTrue(contains)
        await store.close()
    }

    func testReopenFindsEverythingAndFileIsWAL() async throws {
        let path = directory + "/nested/dir/s.sqlite3"
        do {
            let store = try SQLiteSiloStore(path: path)
            _ = try await store.put(a)
            try await store.setTokenHash(siloID: "a", hash: [7])
            await store.close()
        }
        let reopened = try SQLiteSiloStore(path: path)
        let (silos, version) = try await reopened.loadAll()
        XCTAssertEqual(silos, [a])
        XCTAssertEqual(version, 1)
        let hash = try await reopened.tokenHash(siloID: "a")
        XCTAssertEqual(hash, [7])
        await reopened.close()
        let queue = try DatabaseQueue(path: path)
        let mode = try await queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        XCTAssertEqual(mode, "wal")
        let schema = try await queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
        XCTAssertEqual(schema, SQLiteSiloStore.schemaVersion)
        try queue.close()
    }

    func testNewerSchemaIsRefusedNamingTheFile() async throws {
        let path = directory + "/s.sqlite3"
        do {
            let store = try SQLiteSiloStore(path: path)
            _ = try await store.put(a)
            await store.close()
        }
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: "PRAGMA user_version = 3") }
        try queue.close()
        XCTAssertThrowsError(try SQLiteSiloStore(path: path)) { error in
            guard case .incompatible(let message) = error as? SiloStoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(message, "\(path): DDNS store schema version 3 is newer than this proxima's (2); use a newer proxima or another file")
        }
        // A migration this build does not know (user_version left alone) is refused too.
        let queue2 = try DatabaseQueue(path: path)
        try await queue2.write {
            try $0.execute(sql: "PRAGMA user_version = 2")
            try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v3')")
        }
        try queue2.close()
        XCTAssertThrowsError(try SQLiteSiloStore(path: path)) { error in
            guard case .incompatible(let message) = error as? SiloStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.hasPrefix(path + ": "), message)
        }
    }

    /// A file written by the v1 schema (records in a table of their own) opens with every silo,
    /// record (in order, TTL or none), token and the version kept, and is written as v2 after.
    func testVersionOneFileIsMigratedKeepingEverything() async throws {
        let path = directory + "/v1.sqlite3"
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations (identifier) VALUES ('v1');
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO meta (key, value) VALUES ('version', 7);
                CREATE TABLE silo (id TEXT PRIMARY KEY NOT NULL, token_hash BLOB) WITHOUT ROWID;
                CREATE TABLE record (
                    silo_id TEXT NOT NULL REFERENCES silo(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    hostname TEXT NOT NULL,
                    ip TEXT NOT NULL,
                    ttl INTEGER,
                    PRIMARY KEY (silo_id, position)
                ) WITHOUT ROWID;
                INSERT INTO silo (id, token_hash) VALUES ('a', x'0102'), ('b', NULL), ('e', NULL);
                INSERT INTO record VALUES ('a', 1, 'web', '2001:db8::7', NULL), ('a', 0, 'db', '192.0.2.1', 30),
                                          ('b', 0, 'q"uote', '192.0.2.2', NULL);
                PRAGMA user_version = 1;
                """)
        }
        try queue.close()

        let store = try SQLiteSiloStore(path: path)
        let (silos, version) = try await store.loadAll()
        XCTAssertEqual(silos, [
            Silo(id: "a", records: [DDNSRecord(hostname: "db", address: IPAddress("192.0.2.1")!, ttl: 30),
                                    DDNSRecord(hostname: "web", address: IPAddress("2001:db8::7")!)]),
            Silo(id: "b", records: [DDNSRecord(hostname: "q\"uote", address: IPAddress("192.0.2.2")!)]),
            Silo(id: "e", records: []),
        ])
        XCTAssertEqual(version, 7)
        let hash = try await store.tokenHash(siloID: "a")
        XCTAssertEqual(hash, [1, 2])
        let put = try await store.put(Silo(id: "b", records: []))
        XCTAssertEqual(put.version, 8)
        let deleted = try await store.delete(id: "e")
        XCTAssertEqual(deleted, 9)
        await store.close()

        let reopened = try SQLiteSiloStore(path: path)
        let after = try await reopened.loadAll()
        XCTAssertEqual(after.silos.map(\.id), ["a", "b"])
        XCTAssertEqual(after.version, 9)
        await reopened.close()
        let check = try DatabaseQueue(path: path)
        let schema = try await check.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
        XCTAssertEqual(schema, 2)
        let recordTable = try await check.read { try $0.tableExists("record") }
        XCTAssertFalse(recordTable)
        try check.close()
    }

    /// The version never goes back: not when the silo holding the latest change is deleted, nor
    /// across a reopen.
    func testVersionSurvivesDeletesAndReopen() async throws {
        let path = directory + "/v.sqlite3"
        do {
            let store = try SQLiteSiloStore(path: path)
            _ = try await store.put(a)                                    // 1
            _ = try await store.put(Silo(id: "b", records: []))           // 2
            let deleted = try await store.delete(id: "b")                 // 3
            XCTAssertEqual(deleted, 3)
            let put = try await store.put(Silo(id: "c", records: []))     // 4
            XCTAssertEqual(put.version, 4)
            let again = try await store.delete(id: "c")                   // 5
            XCTAssertEqual(again, 5)
            await store.close()
        }
        let store = try SQLiteSiloStore(path: path)
        let (_, version) = try await store.loadAll()
        XCTAssertEqual(version, 5)
        let put = try await store.put(Silo(id: "a", records: []))
        XCTAssertEqual(put.version, 6)
        await store.close()
    }

    func testNotADatabaseIsRefusedNamingTheFile() throws {
        let path = directory + "/junk.sqlite3"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SQLiteSiloStore(path: path)) { error in
            guard case .incompatible(let message) = error as? SiloStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.hasPrefix(path + ": "), message)
        }
    }

    func testRelativePathIsUnderTheConfigDirectory() {
        XCTAssertEqual(DDNSService.resolve("data/ddns.sqlite3", in: "/etc/proxima"), "/etc/proxima/data/ddns.sqlite3")
        XCTAssertEqual(DDNSService.resolve("/var/lib/proxima/ddns.sqlite3", in: "/etc/proxima"), "/var/lib/proxima/ddns.sqlite3")
    }
}
