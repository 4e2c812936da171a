/// Where silos and their token hashes are kept. Every method that returns normally has committed
/// its change durably (a 2xx from the API follows only after it). Implementations: `SQLiteSiloStore`
/// (embedded, GRDB, WAL) and `PostgresSiloStore` (shared by many nameservers, postgres-nio).
///
/// `version` is the store's change counter: it increases with every committed put or delete
/// (in a shared store, across all nodes), and every node derives the DDNS zone's SOA serial from it.
public protocol SiloStore: Sendable {
    /// Every silo (sorted by id) and the current version.
    func loadAll() async throws -> (silos: [Silo], version: UInt64)
    /// One silo, or nil when there is none with this id.
    func silo(id: String) async throws -> Silo?
    /// Whether a silo with this id exists (what an update checks before it writes: cheaper than
    /// `silo(id:)`, which reads the records).
    func containsSilo(id: String) async throws -> Bool
    /// How many silos there are (for `ddns.max_silos`).
    func siloCount() async throws -> Int
    /// Creates or replaces a silo's records. `changed` is false when the stored records were
    /// already equal (nothing written, version unchanged: dyndns2's `nochg`).
    func put(_ silo: Silo) async throws -> (version: UInt64, changed: Bool)
    /// An API update: `put`, except that a silo that does not exist is created only when
    /// `mayCreate` and fewer than `maxSilos` silos exist. A store may do it in one step (SQLite);
    /// the default asks `containsSilo`, `siloCount` and `put` in turn.
    func update(_ silo: Silo, mayCreate: Bool, maxSilos: Int) async throws -> SiloUpdate
    /// Removes a silo, its records and its token. Nil when there was none.
    func delete(id: String) async throws -> UInt64?
    /// Stores the hash of a silo's (new) token, replacing any earlier one. The silo must exist.
    func setTokenHash(siloID: String, hash: [UInt8]) async throws
    /// The stored token hash, or nil (no such silo, or no token made yet).
    func tokenHash(siloID: String) async throws -> [UInt8]?
    /// Changes committed by other nodes (a shared store): each element is what to apply, with the
    /// version after it. After a lost connection comes back, a `.replaceAll` resync. A store that
    /// only this process writes (SQLite) finishes the stream at once.
    func externalChanges() -> AsyncStream<([DDNSChange], UInt64)>
    /// Closes connections; later calls throw.
    func close() async
}

/// A store whose update runs on the caller's thread and returns at once (the embedded SQLite
/// store: a commit is a write(2) to its WAL). The API answers an admin's plain update through it
/// without a task (`DDNSAPI.putSiloNow`).
public protocol SynchronousSiloStore: SiloStore {
    /// `update`, on the calling thread.
    func updateNow(_ silo: Silo, mayCreate: Bool, maxSilos: Int) throws -> SiloUpdate
}

/// What `SiloStore.update` did.
public enum SiloUpdate: Sendable, Equatable {
    /// Committed (or nothing to change: `changed` false); `created` when the silo is new.
    case written(version: UInt64, changed: Bool, created: Bool)
    /// The silo does not exist and `mayCreate` was false.
    case noSuchSilo
    /// The silo does not exist and the store already holds `count` silos, the most allowed.
    case full(count: Int)
}

extension SiloStore {
    public func update(_ silo: Silo, mayCreate: Bool, maxSilos: Int) async throws -> SiloUpdate {
        let exists = try await containsSilo(id: silo.id)
        if !exists {
            guard mayCreate else { return .noSuchSilo }
            let count = try await siloCount()
            guard count < maxSilos else { return .full(count: count) }
        }
        let (version, changed) = try await put(silo)
        return .written(version: version, changed: changed, created: !exists)
    }
}

/// Why a store call failed, as the API maps it to HTTP.
public enum SiloStoreError: Error, Sendable, Equatable {
    /// The store cannot be reached now (shared store down): the API answers 503 and retries later.
    case unavailable(String)
    /// `setTokenHash` for a silo that does not exist.
    case noSuchSilo(String)
    /// The file or database holds something this version cannot read (newer schema, corrupt).
    case incompatible(String)
}
