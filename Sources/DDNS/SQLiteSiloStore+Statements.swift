import DNSWire
import GRDB
import GRDBSQLite

/// The statements of an update, prepared once on the store's connection and run through SQLite's
/// C API (`Database.sqliteConnection`, which GRDB provides for this).
///
/// Why: an update is one or two one-row statements, and GRDB's generic statement path (argument
/// arrays of `DatabaseValue`, `Row` objects, statement-cache lookups by SQL text, its transaction
/// bookkeeping) cost about 13,000 instructions per statement, several times SQLite's own work, on
/// the core the DNS workers share. GRDB still opens and configures the connection, migrates the
/// schema and runs everything else.
///
/// An update is one statement (schema v2): the silo's row holds its records and the version of
/// its last change, so `UPDATE silo …` (or `INSERT` for a new silo) changes one row on one page and
/// runs as its own transaction in autocommit mode — committed when it returns, rolled back by
/// SQLite when it fails, with no `BEGIN`/`COMMIT` around it and one WAL frame written.
///
/// It also remembers what it has read or committed (`known`, `knownVersion`): the store is the
/// file's only writer (`locking_mode=EXCLUSIVE`), so the committed state cannot change behind it,
/// and an update decides "unchanged", "new silo" and the next version without reading the file.
/// Entries are added only after a successful read or commit; a failed update leaves them as they
/// were. At most one entry per silo in the file.
///
/// Used only inside the store's `DatabaseQueue` (one call at a time), hence `@unchecked Sendable`.
final class SQLiteUpdateStatements: @unchecked Sendable {
    private let connection: OpaquePointer
    private let contains: OpaquePointer
    private let records: OpaquePointer
    private let insertSilo: OpaquePointer
    private let updateSilo: OpaquePointer
    private let version: OpaquePointer
    private let count: OpaquePointer
    private var finalized = false
    /// The committed records of every silo read or written so far (see above).
    private var known: [String: [DDNSRecord]] = [:]
    /// The committed version (`SQLiteSiloStore.versionSQL`), once read.
    private var knownVersion: UInt64?

    /// SQLite copies text it is given with this destructor (the Swift string is temporary).
    private static let transient = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)

    init(_ db: Database) throws {
        guard let connection = db.sqliteConnection else { throw DatabaseError(message: "the connection is closed") }
        self.connection = connection
        var prepared: [OpaquePointer] = []
        func prepare(_ sql: String) throws -> OpaquePointer {
            var statement: OpaquePointer?
            let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
            guard code == SQLITE_OK, let statement else {
                let error = DatabaseError(resultCode: ResultCode(rawValue: code),
                                          message: String(cString: sqlite3_errmsg(connection)), sql: sql)
                for s in prepared { sqlite3_finalize(s) }
                throw error
            }
            prepared.append(statement)
            return statement
        }
        contains = try prepare("SELECT 1 FROM silo WHERE id = ?1")
        records = try prepare("SELECT records FROM silo WHERE id = ?1")
        insertSilo = try prepare("INSERT INTO silo (id, records, version) VALUES (?1, ?2, ?3)")
        updateSilo = try prepare("UPDATE silo SET records = ?2, version = ?3 WHERE id = ?1")
        version = try prepare(SQLiteSiloStore.versionSQL)
        count = try prepare("SELECT count(*) FROM silo")
    }

    /// Releases the statements; the connection cannot close while they exist. Idempotent. Called
    /// on the queue (`SQLiteSiloStore.close`) or with no other reference left (deinit).
    func finalize() {
        guard !finalized else { return }
        finalized = true
        known = [:]
        for statement in [contains, records, insertSilo, updateSilo, version, count] {
            sqlite3_finalize(statement)
        }
    }

    // MARK: Calls

    func containsSilo(_ id: String) throws -> Bool {
        try checkOpen()
        if known[id] != nil { return true }
        defer { sqlite3_reset(contains) }
        try bind(contains, 1, id)
        return try step(contains)
    }

    /// The silo's records in order, or nil when there is no such silo.
    func silo(_ id: String, path: String) throws -> Silo? {
        try checkOpen()
        if let records = known[id] { return Silo(id: id, records: records) }
        defer { sqlite3_reset(records) }
        try bind(records, 1, id)
        guard try step(records) else { return nil }
        let result = try SQLiteSiloStore.decodeRecords(text(records, 0), siloID: id, path: path)
        known[id] = result
        return Silo(id: id, records: result)
    }

    /// Writes `silo` unless its records are stored already; returns the store's version after it,
    /// whether anything changed and whether the silo is new. Returns only after the commit; on any
    /// error nothing is written. With `mayCreate` false (or `maxSilos` silos stored), a silo that
    /// does not exist is not created: `.noSuchSilo` (`.full`).
    func update(_ silo: Silo, mayCreate: Bool, maxSilos: Int, path: String) throws -> SiloUpdate {
        let existing = try self.silo(silo.id, path: path)
        if let existing, existing.records == silo.records {
            return .written(version: try currentVersion(), changed: false, created: false)
        }
        if existing == nil {
            guard mayCreate else { return .noSuchSilo }
            let count = try siloCount()
            guard count < maxSilos else { return .full(count: count) }
        }
        let next = try currentVersion() &+ 1
        let statement = existing == nil ? insertSilo : updateSilo
        defer { sqlite3_reset(statement) }
        try bind(statement, 1, silo.id)
        try bind(statement, 2, utf8: SQLiteSiloStore.encodeRecords(silo.records))
        try check(sqlite3_bind_int64(statement, 3, Int64(clamping: next)))
        _ = try step(statement)
        knownVersion = next
        known[silo.id] = silo.records
        return .written(version: next, changed: true, created: existing == nil)
    }

    /// After a change made outside these statements (a delete through GRDB): forget what it may
    /// have changed.
    func forget(_ id: String) {
        known[id] = nil
        knownVersion = nil
    }

    // MARK: Helpers

    /// A call that passed the store's closed check just before `close()` finalized the
    /// statements runs after it on the queue: it fails instead of touching freed statements.
    private func checkOpen() throws {
        guard !finalized else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the store is closed") }
    }

    private func currentVersion() throws -> UInt64 {
        if let knownVersion { return knownVersion }
        defer { sqlite3_reset(version) }
        let value = try step(version) ? UInt64(clamping: sqlite3_column_int64(version, 0)) : 0
        knownVersion = value
        return value
    }

    private func siloCount() throws -> Int {
        defer { sqlite3_reset(count) }
        return try step(count) ? Int(clamping: sqlite3_column_int64(count, 0)) : 0
    }

    private func bind(_ statement: OpaquePointer, _ index: Int32, _ value: String) throws {
        try check(sqlite3_bind_text(statement, index, value, -1, Self.transient))
    }

    private func bind(_ statement: OpaquePointer, _ index: Int32, utf8 text: [UInt8]) throws {
        let code = text.withUnsafeBufferPointer { bytes in
            sqlite3_bind_text(statement, index, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                              Int32(clamping: bytes.count), Self.transient)
        }
        try check(code)
    }

    /// True for a row, false when done.
    private func step(_ statement: OpaquePointer) throws -> Bool {
        let code = sqlite3_step(statement)
        if code == SQLITE_ROW { return true }
        if code == SQLITE_DONE { return false }
        throw error(code)
    }

    private func text(_ statement: OpaquePointer, _ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: bytes)
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw error(code) }
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
    }
}
