import DNSWire
import Foundation
import GRDB
import NIOConcurrencyHelpers

/// The embedded store: one SQLite file, WAL mode, one connection (GRDB `DatabaseQueue`) that
/// holds the file exclusively (`locking_mode=EXCLUSIVE`).
///
/// Exclusive: this process is the file's only writer (nothing watches it for changes made
/// elsewhere), and the lock makes that a rule: a second server pointed at the same file fails to
/// open it ("held by another process") instead of serving records that silently diverge. It is
/// also what a commit costs least with: the connection takes its file locks once, keeps its page
/// cache between transactions and needs no shared-memory WAL index, where a shared connection
/// pays about eight `fcntl` lock calls and three page re-reads per update (measured with
/// `strace -c` on the API thread). A backup is taken through the API (`GET /silos`) or with the
/// server stopped.
///
/// Durability: every `put` and `delete` is one transaction that also increments `meta.version`;
/// the call returns only after `COMMIT`. The connection runs `synchronous=NORMAL`: in WAL mode a
/// commit is then written to the WAL file with write(2) before it returns, so it survives the
/// process being killed (`kill -9`) at any point after — the kernel holds the bytes — and the WAL
/// is fsynced at every checkpoint. What NORMAL gives up against FULL is the last commits before an
/// operating-system crash or power cut (the database stays consistent; SQLite's own
/// documentation, "WAL mode ... synchronous=NORMAL"). Measured on the 2-core CI machine with the
/// same SQLite (3.40): FULL (an fsync per commit) 252 commits/s, NORMAL 7,110 commits/s; the
/// issue's target is 2,000 committed updates/s through the API and its durability requirement is
/// a killed process, which NORMAL meets. See docs/ddns.md, "Stores".
///
/// Schema (versioned by GRDB's `DatabaseMigrator` and mirrored in `PRAGMA user_version`):
/// `meta(key, value)` holds `version`; `silo(id, token_hash)`; `record(silo_id, position,
/// hostname, ip, ttl)` with `ON DELETE CASCADE`. A file whose schema is newer than this build's
/// is refused with `SiloStoreError.incompatible` naming the file, never migrated down or written.
public final class SQLiteSiloStore: SiloStore, Sendable {
    /// The schema version this build writes and reads.
    public static let schemaVersion = 1

    /// The file.
    public let path: String
    private let pool: DatabaseQueue
    /// The update's statements (`SQLiteUpdateStatements`), prepared on `pool`'s connection.
    private let statements: SQLiteUpdateStatements
    private let closed = NIOLockedValueBox(false)

    /// Opens (creating when missing, with its parent directory) and migrates the store.
    /// - Throws: `SiloStoreError.incompatible` for a file that is not a database this build can
    ///   use (newer schema, not SQLite); `SiloStoreError.unavailable` when it cannot be opened.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw SiloStoreError.unavailable("\(path): cannot create its directory: \(error.localizedDescription)")
            }
        }
        var configuration = Configuration()
        // Only another process holding the file makes SQLite busy (see above): wait out one that is
        // exiting (a restart), then say who holds it.
        configuration.busyMode = .timeout(1)
        configuration.label = "proxima.ddns"
        configuration.journalMode = .wal
        configuration.prepareDatabase { db in
            // Before the first access: then SQLite keeps the WAL index in this process's memory.
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.mapped(error, path: path)
        }
        do {
            try pool.write { db in
                let found = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard found <= Self.schemaVersion else {
                    throw SiloStoreError.incompatible(
                        "\(path): DDNS store schema version \(found) is newer than this proxima's (\(Self.schemaVersion)); use a newer proxima or another file")
                }
            }
            let migrator = Self.migrator()
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw SiloStoreError.incompatible(
                    "\(path): DDNS store has migrations this proxima does not know (written by a newer version)")
            }
            try migrator.migrate(pool)
            statements = try pool.inDatabase { try SQLiteUpdateStatements($0) }
        } catch {
            try? pool.close()
            throw Self.mapped(error, path: path)
        }
    }

    deinit {
        statements.finalize()
    }

    private static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO meta (key, value) VALUES ('version', 0);
                CREATE TABLE silo (id TEXT PRIMARY KEY NOT NULL, token_hash BLOB) WITHOUT ROWID;
                CREATE TABLE record (
                    silo_id TEXT NOT NULL REFERENCES silo(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    hostname TEXT NOT NULL,
                    ip TEXT NOT NULL,
                    ttl INTEGER,
                    PRIMARY KEY (silo_id, position)
                ) WITHOUT ROWID;
                PRAGMA user_version = 1;
                """)
        }
        return migrator
    }

    // MARK: SiloStore

    public func loadAll() async throws -> (silos: [Silo], version: UInt64) {
        try access { [path] in
            try $0.inDatabase { db in
                let version = try Self.version(db)
                var silos: [Silo] = []
                var index: [String: Int] = [:]
                for id in try String.fetchAll(db, sql: "SELECT id FROM silo ORDER BY id") {
                    index[id] = silos.count
                    silos.append(Silo(id: id, records: []))
                }
                let rows = try Row.fetchAll(db, sql: "SELECT silo_id, hostname, ip, ttl FROM record ORDER BY silo_id, position")
                for row in rows {
                    let id: String = row["silo_id"]
                    guard let i = index[id] else { continue }
                    silos[i].records.append(try Self.record(row, path: path))
                }
                return (silos, version)
            }
        }
    }

    public func silo(id: String) async throws -> Silo? {
        try access { [statements, path] in
            try $0.inDatabase { _ in try statements.silo(id, path: path) }
        }
    }

    public func containsSilo(id: String) async throws -> Bool {
        try access { [statements] in try $0.inDatabase { _ in try statements.containsSilo(id) } }
    }

    public func siloCount() async throws -> Int {
        try access { try $0.inDatabase { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM silo") ?? 0 } }
    }

    public func put(_ silo: Silo) async throws -> (version: UInt64, changed: Bool) {
        try access { [statements, path] queue in
            // The whole transaction through SQLite's C API (SQLiteUpdateStatements.put).
            try queue.inDatabase { _ in try statements.put(silo, path: path) }
        }
    }

    public func delete(id: String) async throws -> UInt64? {
        try access {
            try Self.transaction($0) { db in
                try db.execute(sql: "DELETE FROM silo WHERE id = ?", arguments: [id])
                guard db.changesCount > 0 else { return nil }
                return try Self.bump(db)
            }
        }
    }

    public func setTokenHash(siloID: String, hash: [UInt8]) async throws {
        try access {
            try Self.transaction($0) { db in
                try db.execute(sql: "UPDATE silo SET token_hash = ? WHERE id = ?", arguments: [Data(hash), siloID])
                guard db.changesCount > 0 else { throw SiloStoreError.noSuchSilo(siloID) }
            }
        }
    }

    public func tokenHash(siloID: String) async throws -> [UInt8]? {
        try access {
            try $0.inDatabase { db in
                let data = try Data.fetchOne(db.cachedStatement(sql: "SELECT token_hash FROM silo WHERE id = ?"), arguments: [siloID])
                return data.map { Array($0) }
            }
        }
    }

    /// Only this process writes the file: nothing comes from elsewhere.
    public func externalChanges() -> AsyncStream<([DDNSChange], UInt64)> {
        AsyncStream { $0.finish() }
    }

    public func close() async {
        let wasClosed = closed.withLockedValue { c -> Bool in
            defer { c = true }
            return c
        }
        if !wasClosed {
            // The statements first: SQLite does not close a connection with statements open.
            pool.inDatabase { [statements] _ in statements.finalize() }
            try? pool.close()
        }
    }

    // MARK: Helpers

    /// Runs `body` on the calling thread with GRDB's synchronous API. A DDNS call is a few
    /// microseconds of SQLite work (the commit is a write(2) to the WAL, no fsync under
    /// `synchronous=NORMAL`), far less than the two thread hand-offs GRDB's async API costs per
    /// call (a dispatch-queue wake-up and the continuation's resumption): measured, those made up
    /// most of an update's CPU. Writes are serialized by the API's `DDNSWriteGate` and every call
    /// is that short, so the one connection is free almost always (GRDB's queue orders the rest).
    private func access<T>(_ body: (DatabaseQueue) throws -> T) throws -> T {
        guard !closed.withLockedValue({ $0 }) else { throw SiloStoreError.unavailable("\(path): store closed") }
        do {
            return try body(pool)
        } catch {
            throw Self.mapped(error, path: path)
        }
    }

    /// `body` in one `BEGIN IMMEDIATE … COMMIT` transaction (rolled back when it throws).
    /// Reads go through `inDatabase`, without one: the queue runs one call at a time on the one
    /// connection, so nothing can change between a read's statements, and GRDB's `read` would add
    /// a savepoint and two `PRAGMA query_only` statements (each parsed anew) to every read.
    private static func transaction<T>(_ queue: DatabaseQueue, _ body: (Database) throws -> T) throws -> T {
        try queue.inDatabase { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    private static func mapped(_ error: any Error, path: String) -> any Error {
        if error is SiloStoreError || error is CancellationError { return error }
        if let db = error as? DatabaseError {
            switch db.resultCode.primaryResultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return SiloStoreError.unavailable("\(path): held by another process (a second proxima using this store?): \(db.message ?? "\(db.resultCode)")")
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return SiloStoreError.incompatible("\(path): not a usable SQLite database: \(db.message ?? "\(db.resultCode)")")
            default:
                return SiloStoreError.unavailable("\(path): \(db.message ?? "\(db.resultCode)")")
            }
        }
        return SiloStoreError.unavailable("\(path): \(error)")
    }

    private static func version(_ db: Database) throws -> UInt64 {
        let value = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'version'")) ?? 0
        return UInt64(clamping: value)
    }

    /// Increments the change counter in the caller's transaction and returns the new value.
    private static func bump(_ db: Database) throws -> UInt64 {
        try db.cachedStatement(sql: "UPDATE meta SET value = value + 1 WHERE key = 'version'").execute()
        return try version(db)
    }

    private static func record(_ row: Row, path: String) throws -> DDNSRecord {
        try record(hostname: row["hostname"], ipText: row["ip"], ttl: row["ttl"], path: path)
    }

    /// A stored record, checked: a file edited by hand or by a newer version is refused by name.
    static func record(hostname: String, ipText: String, ttl: Int64?, path: String) throws -> DDNSRecord {
        guard let address = IPAddress(ipText) else {
            throw SiloStoreError.incompatible("\(path): record \(hostname) holds \(ipText), not an IP address")
        }
        guard let ttl else { return DDNSRecord(hostname: hostname, address: address) }
        guard let value = UInt32(exactly: ttl) else {
            throw SiloStoreError.incompatible("\(path): record \(hostname) holds TTL \(ttl), out of range")
        }
        return DDNSRecord(hostname: hostname, address: address, ttl: value)
    }
}
