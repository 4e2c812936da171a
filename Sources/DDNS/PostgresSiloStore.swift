import DNSWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO

/// The shared silo store: one PostgreSQL database that many Proxima nodes point at
/// (`ddns.store: postgres://...`, issue #9).
///
/// Consistency: every put and delete runs in one transaction that first locks the single row of
/// `proxima_ddns_state`, bumps its `version`, writes, and sends `NOTIFY proxima_ddns, '<silo>:<version>'`.
/// Writers are therefore serialized, versions are assigned in commit order and every node reads
/// the same version (the DDNS zone's SOA serial).
///
/// Change feed (`externalChanges()`): a dedicated connection `LISTEN`s; each notification names a
/// silo, which is re-read (with the version, in one statement) and yielded as `.upsert` or
/// `.delete`. Notifications of this node's own writes are yielded too: applying a committed silo
/// twice is idempotent, and because every commit's notification is processed after that commit,
/// the last application of any silo is always the state read after its last commit (so a stale
/// read racing with the API's direct apply is corrected within milliseconds). Versions yielded
/// never decrease, also not below the versions this store's own `put`/`delete` returned; a consumer
/// that also applies the API's changes directly should still keep the larger of its version and
/// a yielded one. After every (re)connection of the listener, and whenever the consumer fell
/// behind the bounded buffer, a full `.replaceAll` is yielded; every `resyncInterval` the version
/// is compared and a `.replaceAll` yielded when it differs.
///
/// Outages: each call is bounded by `timeout` (default 2 s, connecting included) and then throws
/// `SiloStoreError.unavailable`; nothing is yielded while PostgreSQL is away (the DNS side keeps
/// the last records), the listener reconnects with capped exponential backoff and resyncs.
///
/// Bounds: at most `maxConnections` pooled connections plus the listener; pending notifications
/// are coalesced by silo id (at most `maxPendingNotifications`, beyond that one full resync);
/// the change stream buffers at most `maxBufferedChanges` elements (beyond that, a full resync).
/// Ids, hostnames, record counts and hashes are validated before any SQL, and every value is a
/// bound parameter.
///
/// Call `close()` when done: the background tasks hold the store until then.
public final class PostgresSiloStore: SiloStore, Sendable {
    /// The schema this build writes and reads. A database with a newer one is refused.
    public static let schemaVersion = 1
    /// The `LISTEN`/`NOTIFY` channel.
    static let channel = "proxima_ddns"
    /// Records one silo may hold in this store (the config's upper bound for `max_records_per_silo`).
    public static let maxRecordsPerSilo = 10_000
    /// Longest token hash accepted.
    public static let maxTokenHashBytes = 1024
    static let maxPendingNotifications = 4096
    static let maxBufferedChanges = 256
    static let maxSubscribers = 16

    let url: PostgresStoreURL
    let logger: Logger
    let resyncInterval: Duration
    let timeout: Duration
    let client: PostgresClient
    let connectionConfiguration: PostgresConnection.Configuration
    let state = NIOLockedValueBox(SyncState())
    let doorbell: AsyncStream<Void>.Continuation

    /// Opens the store for `url` (`postgres://user[:password]@host[:port]/db`). Returns at once:
    /// connecting, migrating and listening happen in the background (and on the first call).
    /// Throws `SiloStoreError.incompatible` when the URL cannot be parsed.
    public convenience init(url: String, logger: Logger, resyncInterval: Duration) throws {
        try self.init(url: url, logger: logger, resyncInterval: resyncInterval, timeout: .seconds(2))
    }

    /// As `init(url:logger:resyncInterval:)`, with the per-call bound `timeout` and the pool size.
    public init(url: String, logger: Logger, resyncInterval: Duration, timeout: Duration,
                maxConnections: Int = 4) throws {
        let parsed = try PostgresStoreURL(url)
        self.url = parsed
        var logger = logger
        logger[metadataKey: "ddns.store"] = "\(parsed)"
        self.logger = logger
        self.resyncInterval = max(resyncInterval, .seconds(1))
        let timeout = max(timeout, .milliseconds(100))
        self.timeout = timeout

        var clientConfig: PostgresClient.Configuration
        var connectionConfig: PostgresConnection.Configuration
        switch parsed.endpoint {
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS
            let connectionTLS: PostgresConnection.Configuration.TLS
            switch parsed.tls {
            case .disable:
                tls = .disable
                connectionTLS = .disable
            case .prefer:
                tls = .prefer(.makeClientConfiguration())
                connectionTLS = .prefer(try Self.sslContext())
            case .require:
                tls = .require(.makeClientConfiguration())
                connectionTLS = .require(try Self.sslContext())
            }
            clientConfig = .init(host: host, port: port, username: parsed.user, password: parsed.password,
                                 database: parsed.database, tls: tls)
            connectionConfig = .init(host: host, port: port, username: parsed.user, password: parsed.password,
                                     database: parsed.database, tls: connectionTLS)
        case .unixSocket(let path):
            clientConfig = .init(unixSocketPath: path, username: parsed.user, password: parsed.password,
                                 database: parsed.database)
            connectionConfig = .init(unixSocketPath: path, username: parsed.user, password: parsed.password,
                                     database: parsed.database)
        }
        // A statement the server itself gives up on frees its connection even when we stopped waiting.
        let serverTimeout = [("statement_timeout", "\(Self.milliseconds(timeout) * 2)"),
                             ("application_name", "proxima-ddns")]
        clientConfig.options.connectTimeout = timeout
        clientConfig.options.minimumConnections = 0
        clientConfig.options.maximumConnections = max(1, min(maxConnections, 64))
        clientConfig.options.connectionIdleTimeout = .seconds(60)
        clientConfig.options.keepAliveBehavior = .init(frequency: .seconds(10))
        clientConfig.options.additionalStartupParameters = serverTimeout
        connectionConfig.options.connectTimeout = .milliseconds(Int64(Self.milliseconds(timeout)))
        connectionConfig.options.additionalStartupParameters = [("application_name", "proxima-ddns-listen")]
        self.connectionConfiguration = connectionConfig
        self.client = PostgresClient(configuration: clientConfig, backgroundLogger: logger)

        let (bell, bellContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.doorbell = bellContinuation

        let client = self.client
        let runTask = Task { await client.run() }
        let listenTask = Task { await self.runListener() }
        let workerTask = Task { await self.runWorker(bell) }
        let timerTask = Task { await self.runResyncTimer() }
        state.withLockedValue { $0.tasks = [runTask, listenTask, workerTask, timerTask] }
    }

    private static func sslContext() throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: .makeClientConfiguration())
        } catch {
            throw SiloStoreError.incompatible("ddns.store: cannot set up TLS: \(error)")
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1000).overflow
            ? Int64.max : seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    // MARK: - SiloStore

    public func loadAll() async throws -> (silos: [Silo], version: UInt64) {
        let result = try await run("loadAll") { connection in
            try await self.readSilos(ids: nil, on: connection)
        }
        return (result.silos, clampedVersion(result.version))
    }

    public func silo(id: String) async throws -> Silo? {
        guard let id = Self.normalizedSiloID(id) else { return nil }
        return try await run("silo") { connection in
            try await self.readSilos(ids: [id], on: connection).silos.first
        }
    }

    public func containsSilo(id: String) async throws -> Bool {
        guard let id = Self.normalizedSiloID(id) else { return false }
        return try await run("containsSilo") { connection in
            let rows = try await connection.query("SELECT 1 FROM proxima_ddns_silos WHERE id = \(id)", logger: self.logger)
            for try await _ in rows.decode(Int32.self) {
                return true
            }
            return false
        }
    }

    public func siloCount() async throws -> Int {
        try await run("siloCount") { connection in
            let rows = try await connection.query("SELECT count(*) FROM proxima_ddns_silos", logger: self.logger)
            for try await count in rows.decode(Int64.self) {
                return Int(clamping: count)
            }
            return 0
        }
    }

    public func put(_ silo: Silo) async throws -> (version: UInt64, changed: Bool) {
        guard let id = Self.normalizedSiloID(silo.id) else {
            throw SiloStoreError.incompatible("silo id is not 1...63 letters, digits or hyphens (refused before SQL)")
        }
        try Self.validate(records: silo.records)
        let records = silo.records
        let result = try await run("put") { connection in
            try await connection.withTransaction(logger: self.logger) {
                (connection) async throws -> (version: UInt64, changed: Bool) in
                let current = try await self.lockVersion(on: connection)
                let existing = try await self.readSilos(ids: [id], on: connection).silos.first
                if let existing, existing.records == records {
                    return (version: current, changed: false)
                }
                let version = try await self.bumpVersion(on: connection)
                let stored = try Self.int64(version)
                try await connection.query("""
                    INSERT INTO proxima_ddns_silos (id, version) VALUES (\(id), \(stored))
                    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version
                    """, logger: self.logger)
                try await connection.query("DELETE FROM proxima_ddns_records WHERE silo_id = \(id)",
                                           logger: self.logger)
                if !records.isEmpty {
                    var positions: [Int32] = [], hostnames: [String] = []
                    var addresses: [ByteBuffer] = [], ttls: [Int64] = []
                    for (index, record) in records.enumerated() {
                        positions.append(Int32(clamping: index))
                        hostnames.append(record.hostname)
                        addresses.append(ByteBuffer(bytes: record.address.bytes))
                        ttls.append(record.ttl.map { Int64($0) } ?? -1)
                    }
                    try await connection.query("""
                        INSERT INTO proxima_ddns_records (silo_id, position, hostname, address, ttl)
                        SELECT \(id), u.p, u.h, u.a, NULLIF(u.t, -1)
                        FROM unnest(\(positions)::integer[], \(hostnames)::text[], \(addresses)::bytea[],
                                    \(ttls)::bigint[]) AS u(p, h, a, t)
                        """, logger: self.logger)
                }
                try await self.notify(id: id, version: version, on: connection)
                return (version: version, changed: true)
            }
        }
        if result.changed { noteOwnCommit(result.version) }
        return (clampedVersion(result.version), result.changed)
    }

    public func delete(id: String) async throws -> UInt64? {
        guard let id = Self.normalizedSiloID(id) else { return nil }
        let result: UInt64? = try await run("delete") { connection in
            try await connection.withTransaction(logger: self.logger) { (connection) async throws -> UInt64? in
                _ = try await self.lockVersion(on: connection)
                let rows = try await connection.query(
                    "DELETE FROM proxima_ddns_silos WHERE id = \(id) RETURNING id", logger: self.logger)
                var deleted = false
                for try await _ in rows.decode(String.self) { deleted = true }
                guard deleted else { return nil }
                let version = try await self.bumpVersion(on: connection)
                try await self.notify(id: id, version: version, on: connection)
                return version
            }
        }
        guard let result else { return nil }
        noteOwnCommit(result)
        return clampedVersion(result)
    }

    public func setTokenHash(siloID: String, hash: [UInt8]) async throws {
        guard let id = Self.normalizedSiloID(siloID) else { throw SiloStoreError.noSuchSilo(siloID) }
        guard (1...Self.maxTokenHashBytes).contains(hash.count) else {
            throw SiloStoreError.incompatible("token hash must be 1...\(Self.maxTokenHashBytes) bytes (refused before SQL)")
        }
        let buffer = ByteBuffer(bytes: hash)
        let stored: Bool = try await run("setTokenHash") { connection in
            let rows = try await connection.query("""
                INSERT INTO proxima_ddns_tokens (silo_id, hash)
                SELECT id, \(buffer) FROM proxima_ddns_silos WHERE id = \(id)
                ON CONFLICT (silo_id) DO UPDATE SET hash = EXCLUDED.hash
                RETURNING silo_id
                """, logger: self.logger)
            var stored = false
            for try await _ in rows.decode(String.self) { stored = true }
            return stored
        }
        if !stored { throw SiloStoreError.noSuchSilo(id) }
    }

    public func tokenHash(siloID: String) async throws -> [UInt8]? {
        guard let id = Self.normalizedSiloID(siloID) else { return nil }
        return try await run("tokenHash") { connection in
            let rows = try await connection.query(
                "SELECT hash FROM proxima_ddns_tokens WHERE silo_id = \(id)", logger: self.logger)
            for try await hash in rows.decode(ByteBuffer.self) {
                return Array(hash.readableBytesView)
            }
            return nil
        }
    }

    public func externalChanges() -> AsyncStream<([DDNSChange], UInt64)> {
        let (stream, continuation) = AsyncStream<([DDNSChange], UInt64)>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.maxBufferedChanges))
        let accepted: Int? = state.withLockedValue { state in
            guard !state.closed, state.subscribers.count < Self.maxSubscribers else { return nil }
            let key = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[key] = continuation
            return key
        }
        guard let key = accepted else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLockedValue { $0.subscribers.removeValue(forKey: key) }
        }
        return stream
    }

    public func close() async {
        let (tasks, subscribers, listener): ([Task<Void, Never>], [AsyncStream<([DDNSChange], UInt64)>.Continuation],
                                             PostgresConnection?) = state.withLockedValue { state in
            guard !state.closed else { return ([], [], nil) }
            state.closed = true
            defer { state.tasks = []; state.subscribers = [:]; state.listener = nil }
            return (state.tasks, Array(state.subscribers.values), state.listener)
        }
        doorbell.finish()
        subscribers.forEach { $0.finish() }
        tasks.forEach { $0.cancel() }
        try? await listener?.close()
        for task in tasks { await task.value }
    }

    // MARK: - Running a call

    /// Runs `body` on a pooled connection (after making sure the schema is current), bounded by
    /// `timeout`, retrying once when a pooled connection turns out to have been closed by the
    /// server (a restart). Every failure becomes a `SiloStoreError`.
    func run<T: Sendable>(_ what: String,
                          _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        if state.withLockedValue({ $0.closed }) { throw SiloStoreError.unavailable("the DDNS store is closed") }
        do {
            return try await Self.withDeadline(timeout, what) {
                try await self.ensureSchema()
                var attempt = 0
                while true {
                    attempt += 1
                    do {
                        return try await self.client.withConnection { connection in try await body(connection) }
                    } catch where attempt == 1 && Self.isStaleConnection(error) {
                        self.logger.debug("retrying \(what) once on a fresh connection")
                    }
                }
            }
        } catch {
            throw mapError(error, what)
        }
    }

    /// A pooled connection the server had already closed, found before anything was written.
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let error = error as? PostgresTransactionError, let begin = error.beginError {
            return isStaleConnection(begin)
        }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown: return true
        default: return false
        }
    }

    func mapError(_ error: any Error, _ what: String) -> SiloStoreError {
        if let error = error as? SiloStoreError { return error }
        if error is CancellationError { return .unavailable("\(what) was cancelled") }
        if let error = error as? PSQLError {
            return .unavailable("PostgreSQL at \(url) failed \(what): \(Self.describe(error))")
        }
        if let error = error as? PostgresTransactionError {
            let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError
            if let inner { return mapError(inner, what) }
        }
        return .unavailable("PostgreSQL at \(url) failed \(what): \(error)")
    }

    /// The text of a `SiloStoreError`, for logs.
    static func message(_ error: SiloStoreError) -> String {
        switch error {
        case .unavailable(let text), .noSuchSilo(let text), .incompatible(let text): return text
        }
    }

    /// A short, password-free description of a postgres-nio error (its `description` is opaque).
    static func describe(_ error: PSQLError) -> String {
        if let info = error.serverInfo {
            let state = info[.sqlState] ?? "?"
            let message = info[.message] ?? "server error"
            return "\(message) (SQLSTATE \(state))"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }

    // MARK: - SQL pieces (all values bound)

    /// Locks the version row (serializing writers across nodes) and returns the current version.
    func lockVersion(on connection: PostgresConnection) async throws -> UInt64 {
        let rows = try await connection.query(
            "SELECT version FROM proxima_ddns_state WHERE id = 1 FOR UPDATE", logger: logger)
        for try await version in rows.decode(Int64.self) {
            return try Self.uint64(version)
        }
        throw SiloStoreError.incompatible("proxima_ddns_state has no row (database damaged)")
    }

    func bumpVersion(on connection: PostgresConnection) async throws -> UInt64 {
        let rows = try await connection.query(
            "UPDATE proxima_ddns_state SET version = version + 1 WHERE id = 1 RETURNING version", logger: logger)
        for try await version in rows.decode(Int64.self) {
            return try Self.uint64(version)
        }
        throw SiloStoreError.incompatible("proxima_ddns_state has no row (database damaged)")
    }

    func notify(id: String, version: UInt64, on connection: PostgresConnection) async throws {
        let payload = "\(id):\(version)"
        try await connection.query("SELECT pg_notify(\(Self.channel), \(payload))", logger: logger)
    }

    /// Every silo (ids nil) or the named ones, with the version, in one statement (one snapshot),
    /// sorted by id in byte order.
    func readSilos(ids: [String]?, on connection: PostgresConnection) async throws -> (silos: [Silo], version: UInt64) {
        let rows: PostgresRowSequence
        if let ids {
            rows = try await connection.query("""
                SELECT st.version, s.id, r.hostname, r.address, r.ttl
                FROM proxima_ddns_state st
                LEFT JOIN (proxima_ddns_silos s LEFT JOIN proxima_ddns_records r ON r.silo_id = s.id)
                  ON s.id = ANY(\(ids)::text[])
                WHERE st.id = 1
                ORDER BY s.id COLLATE "C", r.position
                """, logger: logger)
        } else {
            rows = try await connection.query("""
                SELECT st.version, s.id, r.hostname, r.address, r.ttl
                FROM proxima_ddns_state st
                LEFT JOIN (proxima_ddns_silos s LEFT JOIN proxima_ddns_records r ON r.silo_id = s.id) ON true
                WHERE st.id = 1
                ORDER BY s.id COLLATE "C", r.position
                """, logger: logger)
        }
        var version: UInt64?
        var silos: [Silo] = []
        for try await (rawVersion, id, hostname, address, ttl)
            in rows.decode((Int64, String?, String?, ByteBuffer?, Int64?).self) {
            version = try Self.uint64(rawVersion)
            guard let id else { continue }
            if silos.last?.id != id { silos.append(Silo(id: id, records: [])) }
            guard let hostname, let address else { continue }
            guard let ip = IPAddress(bytes: address.readableBytesView) else {
                throw SiloStoreError.incompatible("silo \(id): record \(hostname) has an address of \(address.readableBytes) bytes")
            }
            var recordTTL: UInt32?
            if let ttl {
                guard let value = UInt32(exactly: ttl) else {
                    throw SiloStoreError.incompatible("silo \(id): record \(hostname) has ttl \(ttl)")
                }
                recordTTL = value
            }
            silos[silos.count - 1].records.append(DDNSRecord(hostname: hostname, address: ip, ttl: recordTTL))
        }
        guard let version else {
            throw SiloStoreError.incompatible("proxima_ddns_state has no row (database damaged)")
        }
        return (silos, version)
    }

    static func uint64(_ value: Int64) throws -> UInt64 {
        guard let result = UInt64(exactly: value) else {
            throw SiloStoreError.incompatible("negative version \(value) in proxima_ddns_state")
        }
        return result
    }

    static func int64(_ value: UInt64) throws -> Int64 {
        guard let result = Int64(exactly: value) else {
            throw SiloStoreError.incompatible("version \(value) overflows bigint")
        }
        return result
    }

    // MARK: - Validation before SQL

    /// The id lowercased, or nil when it is not 1...63 ASCII letters, digits or hyphens.
    static func normalizedSiloID(_ id: String) -> String? {
        let utf8 = id.utf8
        guard (1...63).contains(utf8.count) else { return nil }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                continue
            default:
                return nil
            }
        }
        return id.lowercased()
    }

    /// Refuses what the schema could not hold or what no valid DNS name is: more than
    /// `maxRecordsPerSilo` records, a hostname of 0 or over 255 bytes, or one with control bytes.
    static func validate(records: [DDNSRecord]) throws {
        guard records.count <= maxRecordsPerSilo else {
            throw SiloStoreError.incompatible("a silo holds at most \(maxRecordsPerSilo) records (refused before SQL)")
        }
        for (index, record) in records.enumerated() {
            let bytes = record.hostname.utf8
            guard (1...255).contains(bytes.count), !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
                throw SiloStoreError.incompatible(
                    "dnsrecords[\(index)].hostname is empty, over 255 bytes or has control characters (refused before SQL)")
            }
        }
    }
}
