import DNSWire
import GRDB
import GRDBSQLite

/// The statements of an update, prepared once on the store's connection and run through SQLite's
/// C API (`Database.sqliteConnection`, which GRDB provides for this).
///
/// Why: an update is a handful of one-row statements, and GRDB's generic statement path
/// (argument arrays of `DatabaseValue`, `Row` objects, statement-cache lookups by SQL text,
/// its transaction bookkeeping) cost about 13,000 instructions per statement, several times
/// SQLite's own work, on the core the DNS workers share. GRDB still opens and configures the
/// connection, migrates the schema and runs everything else. The update's whole transaction runs
/// here, `BEGIN IMMEDIATE` to `COMMIT` (through GRDB's cached statements the two cost about 7,000
/// more instructions per update, measured with `Scripts/bench.d/ddns-cost --instructions`): it opens
/// and closes inside one `inDatabase` call, ending in autocommit mode whether it commits or rolls
/// back, so GRDB, which reads the transaction state from `sqlite3_get_autocommit` when it next
/// runs a statement, never sees it half done.
///
/// Used only inside the store's `DatabaseQueue` (one call at a time), hence `@unchecked Sendable`.
final class SQLiteUpdateStatements: @unchecked Sendable {
    private let connection: OpaquePointer
    private let contains: OpaquePointer
    private let records: OpaquePointer
    private let insertSilo: OpaquePointer
    private let deleteRecords: OpaquePointer
    private let insertRecord: OpaquePointer
    private let bump: OpaquePointer
    private let version: OpaquePointer
    private let begin: OpaquePointer
    private let commit: OpaquePointer
    private let rollback: OpaquePointer
    private var finalized = false

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
        // One row per record, or one row of NULLs for a silo without records; none: no silo.
        records = try prepare("""
            SELECT r.hostname, r.ip, r.ttl FROM silo s LEFT JOIN record r ON r.silo_id = s.id
            WHERE s.id = ?1 ORDER BY r.position
            """)
        insertSilo = try prepare("INSERT INTO silo (id) VALUES (?1)")
        deleteRecords = try prepare("DELETE FROM record WHERE silo_id = ?1")
        insertRecord = try prepare("INSERT INTO record (silo_id, position, hostname, ip, ttl) VALUES (?1, ?2, ?3, ?4, ?5)")
        bump = try prepare("UPDATE meta SET value = value + 1 WHERE key = 'version'")
        version = try prepare("SELECT value FROM meta WHERE key = 'version'")
        begin = try prepare("BEGIN IMMEDIATE TRANSACTION")
        commit = try prepare("COMMIT TRANSACTION")
        rollback = try prepare("ROLLBACK TRANSACTION")
    }

    /// Releases the statements; the connection cannot close while they exist. Idempotent. Called
    /// on the queue (`SQLiteSiloStore.close`) or with no other reference left (deinit).
    func finalize() {
        guard !finalized else { return }
        finalized = true
        for statement in [contains, records, insertSilo, deleteRecords, insertRecord, bump, version, begin, commit, rollback] {
            sqlite3_finalize(statement)
        }
    }

    // MARK: Calls

    func containsSilo(_ id: String) throws -> Bool {
        try checkOpen()
        defer { sqlite3_reset(contains) }
        try bind(contains, 1, id)
        return try step(contains)
    }

    /// The silo's records in order, or nil when there is no such silo.
    func silo(_ id: String, path: String) throws -> Silo? {
        try checkOpen()
        defer { sqlite3_reset(records) }
        try bind(records, 1, id)
        var found = false
        var result: [DDNSRecord] = []
        while try step(records) {
            found = true
            guard sqlite3_column_type(records, 0) != SQLITE_NULL else { continue }
            let ttl = sqlite3_column_type(records, 2) == SQLITE_NULL ? nil : sqlite3_column_int64(records, 2)
            result.append(try SQLiteSiloStore.record(hostname: text(records, 0), ipText: text(records, 1), ttl: ttl, path: path))
        }
        return found ? Silo(id: id, records: result) : nil
    }

    /// Writes `silo` in one transaction of its own unless its records are stored already;
    /// returns the store's version after it and whether anything changed. Returns only after
    /// `COMMIT`; on any error the transaction is rolled back and nothing is written.
    func put(_ silo: Silo, path: String) throws -> (version: UInt64, changed: Bool) {
        try checkOpen()
        try run(begin)
        do {
            let result = try write(silo, path: path)
            try run(commit)
            return result
        } catch {
            // A failed COMMIT (the disk is full) leaves the transaction open too.
            if sqlite3_get_autocommit(connection) == 0 { try? run(rollback) }
            throw error
        }
    }

    private func write(_ silo: Silo, path: String) throws -> (version: UInt64, changed: Bool) {
        let existing = try self.silo(silo.id, path: path)
        if let existing, existing.records == silo.records { return (try currentVersion(), false) }
        if existing == nil { try run(insertSilo, silo.id) }
        try run(deleteRecords, silo.id)
        for (position, record) in silo.records.enumerated() {
            defer { sqlite3_reset(insertRecord) }
            try bind(insertRecord, 1, silo.id)
            try check(sqlite3_bind_int64(insertRecord, 2, Int64(position)))
            try bind(insertRecord, 3, record.hostname)
            try bind(insertRecord, 4, record.address.description)
            if let ttl = record.ttl {
                try check(sqlite3_bind_int64(insertRecord, 5, Int64(ttl)))
            } else {
                try check(sqlite3_bind_null(insertRecord, 5))
            }
            _ = try step(insertRecord)
        }
        try run(bump)
        return (try currentVersion(), true)
    }

    // MARK: Helpers

    /// A call that passed the store's closed check just before `close()` finalized the
    /// statements runs after it on the queue: it fails instead of touching freed statements.
    private func checkOpen() throws {
        guard !finalized else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the store is closed") }
    }

    private func currentVersion() throws -> UInt64 {
        defer { sqlite3_reset(version) }
        guard try step(version) else { return 0 }
        return UInt64(clamping: sqlite3_column_int64(version, 0))
    }

    /// Runs a statement that returns no rows, with text arguments.
    private func run(_ statement: OpaquePointer, _ arguments: String...) throws {
        defer { sqlite3_reset(statement) }
        for (i, argument) in arguments.enumerated() { try bind(statement, Int32(i + 1), argument) }
        _ = try step(statement)
    }

    private func bind(_ statement: OpaquePointer, _ index: Int32, _ value: String) throws {
        try check(sqlite3_bind_text(statement, index, value, -1, Self.transient))
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
