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
/// Durability: every `put` and `delete` is one transaction that moves the store's version on (a
/// put writes it into the silo's row, a delete into `meta`); the call returns only after the
/// commit. The connection runs `synchronous=NORMAL`: in WAL mode a
/// commit is then written to the WAL file with write(2) before it returns, so it survives the
/// process being killed (`kill -9`) at any point after — the kernel holds the bytes — and the WAL
/// is fsynced at every checkpoint. What NORMAL gives up against FULL is the last commits before an
/// operating-system crash or power cut (the database stays consistent; SQLite's own
/// documentation, "WAL mode ... synchronous=NORMAL"). Measured on the 2-core CI machine with the
/// same SQLite (3.40): FULL (an fsync per commit) 252 commits/s, NORMAL 7,110 commits/s; the
/// issue's target is 2,000 committed updates/s through the API and its durability requirement is
/// a killed process, which NORMAL meets. See docs/ddns.md, "Stores".
///
/// Schema (versioned by GRDB's `DatabaseMigrator` and mirrored in `PRAGMA user_version`), v2:
/// `silo(id, token_hash, records, version)`: `records` is the silo's records as a JSON array
/// (`[{"hostname":…,"ip":…,"ttl":…}]`, `ttl` only when set), `version` the store's version when
/// the silo last changed; `meta(key, value)` holds `version`, moved on by deletes. The store's
/// version is the larger of `meta.version` and every silo's `version`. One row per silo makes an
/// update one statement on one page (v1 kept records in a table of their own and a counter row
/// apart: three pages and five statements per update). A v1 file is migrated in place at open.
/// A file whose schema is newer than this build's is refused with `SiloStoreError.incompatible`
/// naming the file, never migrated down or written.
public final class SQLiteSiloStore: SynchronousSiloStore, Sendable {
    /// The schema version this build writes and reads.
    public static let schemaVersion = 2

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
        migrator.registerMigration("v2") { db in
            // Each silo's records move into its row, in their order, as the JSON the store
            // writes. Stored text is copied as it is (a hand-edited address stays what it was,
            // and reading it later names it); a TTL that is not an integer is kept as text,
            // which reading refuses by name.
            try db.execute(sql: """
                ALTER TABLE silo ADD COLUMN records TEXT NOT NULL DEFAULT '[]';
                ALTER TABLE silo ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
                """)
            var grouped: [String: String] = [:]
            var current: (id: String, items: [String])?
            func flush() {
                if let current { grouped[current.id] = "[" + current.items.joined(separator: ",") + "]" }
            }
            for row in try Row.fetchAll(db, sql: "SELECT silo_id, hostname, ip, ttl FROM record ORDER BY silo_id, position") {
                let id: String = row["silo_id"]
                if current?.id != id {
                    flush()
                    current = (id, [])
                }
                var item = Array(#"{"hostname":"#.utf8)
                SiloDocument.appendString(row["hostname"], to: &item)
                item += #","ip":"#.utf8
                SiloDocument.appendString(row["ip"], to: &item)
                let ttl: DatabaseValue = row["ttl"]
                switch ttl.storage {
                case .null: break
                case .int64(let value): item += #","ttl":\#(value)"#.utf8
                default:
                    item += #","ttl":"#.utf8
                    SiloDocument.appendString(String(describing: ttl), to: &item)
                }
                current?.items.append(String(decoding: item, as: UTF8.self) + "}")
            }
            flush()
            for (id, records) in grouped {
                try db.execute(sql: "UPDATE silo SET records = ? WHERE id = ?", arguments: [records, id])
            }
            try db.execute(sql: """
                DROP TABLE record;
                PRAGMA user_version = 2;
                """)
        }
        return migrator
    }

    // MARK: SiloStore

    public func loadAll() async throws -> (silos: [Silo], version: UInt64) {
        try access { [path] in
            try $0.inDatabase { db in
                let version = try Self.version(db)
                let silos = try Row.fetchAll(db, sql: "SELECT id, records FROM silo ORDER BY id").map { row in
                    let id: String = row["id"]
                    return Silo(id: id, records: try Self.decodeRecords(row["records"], siloID: id, path: path))
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
        switch try await update(silo, mayCreate: true, maxSilos: .max) {
        case .written(let version, let changed, _): return (version, changed)
        case .noSuchSilo, .full: throw SiloStoreError.noSuchSilo(silo.id)  // (not with these arguments)
        }
    }

    public func update(_ silo: Silo, mayCreate: Bool, maxSilos: Int) async throws -> SiloUpdate {
        try updateNow(silo, mayCreate: mayCreate, maxSilos: maxSilos)
    }

    public func updateNow(_ silo: Silo, mayCreate: Bool, maxSilos: Int) throws -> SiloUpdate {
        try access { [statements, path] queue in
            // The whole check-and-write through SQLite's C API (SQLiteUpdateStatements.update).
            try queue.inDatabase { _ in try statements.update(silo, mayCreate: mayCreate, maxSilos: maxSilos, path: path) }
        }
    }

    public func delete(id: String) async throws -> UInt64? {
        try access { [statements] in
            try Self.transaction($0) { db in
                statements.forget(id)
                let next = try Self.version(db) &+ 1
                try db.execute(sql: "DELETE FROM silo WHERE id = ?", arguments: [id])
                guard db.changesCount > 0 else { return nil }
                try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'version'", arguments: [Int64(clamping: next)])
                return next
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

    /// The store's version: the last change's, a put's (in its silo's row) or a delete's (`meta`).
    static let versionSQL = """
        SELECT max((SELECT value FROM meta WHERE key = 'version'), (SELECT coalesce(max(version), 0) FROM silo))
        """

    private static func version(_ db: Database) throws -> UInt64 {
        UInt64(clamping: try Int64.fetchOne(db.cachedStatement(sql: versionSQL)) ?? 0)
    }

    /// A silo's records as its row stores them: a JSON array of `{"hostname", "ip", "ttl"?}`.
    static func encodeRecords(_ records: [DDNSRecord]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(2 + 64 * records.count)
        for (i, record) in records.enumerated() {
            out.append(contentsOf: (i == 0 ? #"{"hostname":"# : #",{"hostname":"#).utf8)
            SiloDocument.appendString(record.hostname, to: &out)
            out.append(contentsOf: #","ip":""#.utf8)
            out.append(contentsOf: record.address.description.utf8)
            out.append(UInt8(ascii: "\""))
            if let ttl = record.ttl {
                out.append(contentsOf: #","ttl":"#.utf8)
                out.append(contentsOf: String(ttl).utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// The records of a silo's row, checked: a file edited by hand or by a newer version is
    /// refused naming the file, the silo and what is wrong.
    static func decodeRecords(_ text: String, siloID: String, path: String) throws -> [DDNSRecord] {
        func refuse(_ why: String) -> SiloStoreError {
            .incompatible("\(path): silo \(siloID): records \(why)")
        }
        let document: StrictJSON
        do throws(StrictJSON.Failure) {
            document = try StrictJSON.parse(Array(text.utf8))
        } catch {
            throw refuse("are not JSON: \(error.message)")
        }
        guard case .array(let items) = document else { throw refuse("are not a JSON array") }
        return try items.map { item in
            guard case .string(let hostname)? = item["hostname"], case .string(let ip)? = item["ip"] else {
                throw refuse("hold an entry without a \"hostname\" and an \"ip\" string")
            }
            switch item["ttl"] {
            case nil, .null?:
                return try record(hostname: hostname, ipText: ip, ttl: nil, path: path)
            case .number(let text)?:
                guard let ttl = Int64(text) else {
                    throw SiloStoreError.incompatible("\(path): record \(hostname) holds TTL \(text), out of range")
                }
                return try record(hostname: hostname, ipText: ip, ttl: ttl, path: path)
            default:
                throw SiloStoreError.incompatible("\(path): record \(hostname) holds a TTL that is not a number")
            }
        }
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
