import Logging
import PostgresNIO

/// Versioned schema migrations of the PostgreSQL store. `proxima_schema` holds one row with the
/// version; migration N runs once, in the same transaction that records N, under an advisory lock
/// so that nodes starting together do not race. A database whose version is newer than
/// `PostgresSiloStore.schemaVersion` is refused (`SiloStoreError.incompatible`), never written.
extension PostgresSiloStore {
    /// `pg_advisory_xact_lock` key held while migrating ("prox" "ddns" in ASCII).
    static let migrationLockKey: Int64 = 0x7072_6f78_6464_6e73

    /// Migration N (index N-1): statements run in order inside one transaction.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE proxima_ddns_state (
                id integer PRIMARY KEY CHECK (id = 1),
                version bigint NOT NULL CHECK (version >= 0))
            """,
            "INSERT INTO proxima_ddns_state (id, version) VALUES (1, 0)",
            """
            CREATE TABLE proxima_ddns_silos (
                id text PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 63),
                version bigint NOT NULL)
            """,
            """
            CREATE TABLE proxima_ddns_records (
                silo_id text NOT NULL REFERENCES proxima_ddns_silos (id) ON DELETE CASCADE,
                position integer NOT NULL CHECK (position >= 0),
                hostname text NOT NULL CHECK (octet_length(hostname) BETWEEN 1 AND 255),
                address bytea NOT NULL CHECK (octet_length(address) IN (4, 16)),
                ttl bigint CHECK (ttl BETWEEN 0 AND 4294967295),
                PRIMARY KEY (silo_id, position))
            """,
            """
            CREATE TABLE proxima_ddns_tokens (
                silo_id text PRIMARY KEY REFERENCES proxima_ddns_silos (id) ON DELETE CASCADE,
                hash bytea NOT NULL CHECK (octet_length(hash) BETWEEN 1 AND 1024))
            """,
        ],
    ]

    /// Brings the schema to `schemaVersion` once per store (repeated after a failure).
    func ensureSchema() async throws {
        if state.withLockedValue({ $0.schemaReady }) { return }
        try await client.withConnection { connection in
            try await self.migrate(on: connection)
        }
        state.withLockedValue { $0.schemaReady = true }
    }

    func migrate(on connection: PostgresConnection) async throws {
        let target = Self.schemaVersion
        let logger = self.logger
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS proxima_schema (
                    id boolean PRIMARY KEY DEFAULT true CHECK (id),
                    version integer NOT NULL)
                """, logger: logger)
            var current = 0
            let rows = try await connection.query("SELECT version FROM proxima_schema", logger: logger)
            for try await version in rows.decode(Int32.self) { current = Int(version) }
            if current > target {
                throw SiloStoreError.incompatible(
                    "the PostgreSQL database has DDNS schema version \(current), newer than this proxima's " +
                    "\(target): upgrade proxima (nothing was changed)")
            }
            guard current < target else { return }
            for version in (current + 1)...target {
                for statement in Self.migrations[version - 1] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                logger.info("DDNS PostgreSQL schema migrated to version \(version)")
            }
            let stored = Int32(target)
            try await connection.query("""
                INSERT INTO proxima_schema (id, version) VALUES (true, \(stored))
                ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version
                """, logger: logger)
        }
    }
}
