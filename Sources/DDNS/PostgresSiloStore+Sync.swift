import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// What the store's background tasks share (behind `PostgresSiloStore.state`).
struct SyncState {
    var closed = false
    var tasks: [Task<Void, Never>] = []
    var schemaReady = false
    /// The listening connection, so `close()` can close it.
    var listener: PostgresConnection?
    /// The current listening connection got as far as `LISTEN` (resets the reconnection backoff).
    var listenerEstablished = false
    /// Silos named by notifications and not yet re-read (coalesced by id).
    var pending: Set<String> = []
    /// A full `.replaceAll` is owed: after a (re)connection, a dropped element or a pending overflow.
    var resyncForced = false
    /// The periodic timer fired: compare the version, yield `.replaceAll` when it differs.
    var resyncDue = false
    /// The database's version when it was last read (nil: never).
    var lastReadVersion: UInt64?
    /// The highest version handed out (returned by put/delete or yielded): yields never go below.
    var highWater: UInt64 = 0
    var subscribers: [Int: AsyncStream<([DDNSChange], UInt64)>.Continuation] = [:]
    var nextSubscriber = 0
}

/// What the worker takes from `SyncState` in one turn.
private struct SyncWork {
    var fullResync: Bool
    var compareVersion: Bool
    var ids: [String]
}

extension PostgresSiloStore {
    /// Longest wait between reconnection attempts.
    static let maxBackoff: Duration = .seconds(10)

    static func backoff(after failures: Int) -> Duration {
        // 250 ms, 500 ms, 1 s, 2 s, ... capped, with up to 25% jitter so nodes do not reconnect in step.
        let exponent = min(max(failures - 1, 0), 6)
        let base = min(Duration.milliseconds(250) * (1 << exponent), maxBackoff)
        let jitter = Duration.milliseconds(Int64.random(in: 0...(milliseconds(base) / 4)))
        return base + jitter
    }

    var isClosed: Bool { state.withLockedValue { $0.closed } }

    // MARK: - Versions

    /// This node committed `version`: later yields must not report less.
    func noteOwnCommit(_ version: UInt64) {
        state.withLockedValue { $0.highWater = max($0.highWater, version) }
    }

    /// `version`, raised to the highest version already handed out (a database restored from an
    /// older backup must not make the SOA serial go backwards).
    func clampedVersion(_ version: UInt64) -> UInt64 {
        state.withLockedValue { state in
            state.highWater = max(state.highWater, version)
            return state.highWater
        }
    }

    /// Yields `changes` read at database version `version` to every subscriber.
    func deliver(_ changes: [DDNSChange], readAt version: UInt64) {
        let ring: Bool = state.withLockedValue { state in
            guard !state.closed else { return false }
            state.lastReadVersion = version
            state.highWater = max(state.highWater, version)
            var dropped = false
            for continuation in state.subscribers.values {
                if case .dropped = continuation.yield((changes, state.highWater)) { dropped = true }
            }
            if dropped {
                // The consumer fell behind the bounded buffer and lost its oldest element: the next
                // turn yields a full state, which (being newest) is kept.
                state.resyncForced = true
                state.pending = []
            }
            return dropped
        }
        if ring {
            logger.warning("DDNS change feed consumer fell behind; sending a full resync")
            doorbell.yield()
        }
    }

    // MARK: - Listener

    /// Keeps one connection `LISTEN`ing, reconnecting with backoff. Each successful (re)connection
    /// forces a full resync, which runs after `LISTEN` took effect, so no commit falls in between.
    func runListener() async {
        var failures = 0
        while !Task.isCancelled && !isClosed {
            var connection: PostgresConnection?
            do {
                let configuration = connectionConfiguration
                let logger = self.logger
                let connected = try await Self.withDeadline(timeout, "connect") {
                    try await PostgresConnection.connect(
                        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                        id: 0, logger: logger)
                }
                connection = connected
                let accepted = state.withLockedValue { state -> Bool in
                    guard !state.closed else { return false }
                    state.listener = connected
                    return true
                }
                guard accepted else {
                    try? await connected.close()
                    return
                }
                let reconnecting = failures > 0
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.heartbeat(connected) }
                    group.addTask {
                        try await connected.listen(on: Self.channel) { notifications in
                            // LISTEN is in effect now: whatever commits after the resync's read is notified.
                            self.listening(reconnecting: reconnecting)
                            for try await notification in notifications {
                                self.enqueue(notification.payload)
                            }
                        }
                        throw SiloStoreError.unavailable("the listening connection ended")
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                if !isClosed && !Task.isCancelled {
                    let wasListening = state.withLockedValue { state in
                        defer { state.listenerEstablished = false }
                        return state.listenerEstablished
                    }
                    failures = wasListening ? 1 : failures + 1
                    let level: Logger.Level = failures == 1 ? .warning : .debug
                    logger.log(level: level, "DDNS PostgreSQL listener lost: \(Self.message(mapError(error, "LISTEN"))); retrying")
                }
            }
            if let connection {
                state.withLockedValue { if $0.listener === connection { $0.listener = nil } }
                try? await connection.close()
            }
            if isClosed || Task.isCancelled { return }
            do {
                try await Task.sleep(for: Self.backoff(after: max(failures, 1)))
            } catch {
                return
            }
        }
    }

    /// The listener is (again) in place: owe the consumer a full resync.
    private func listening(reconnecting: Bool) {
        if reconnecting { logger.notice("DDNS PostgreSQL listener reconnected") }
        state.withLockedValue { $0.resyncForced = true; $0.pending = []; $0.listenerEstablished = true }
        doorbell.yield()
    }

    /// A connection whose peer vanished without closing it never ends its notification sequence:
    /// probe it every few seconds, and give up on it when the probe does not answer in time.
    private func heartbeat(_ connection: PostgresConnection) async throws {
        let period = min(resyncInterval, .seconds(5))
        let logger = self.logger
        while true {
            try await Task.sleep(for: period)
            do {
                _ = try await Self.withDeadline(timeout, "a heartbeat") {
                    try await connection.query("SELECT 1", logger: logger)
                }
            } catch {
                // Closing fails the pending LISTEN too, so the task group can end.
                try? await connection.close()
                throw error
            }
        }
    }

    /// Takes one notification payload (`<silo id>:<version>`, untrusted: anyone allowed to NOTIFY
    /// on the channel can send anything) into the coalescing set.
    func enqueue(_ payload: String) {
        guard payload.utf8.count <= 100, let colon = payload.firstIndex(of: ":"),
              let id = Self.normalizedSiloID(String(payload[..<colon])),
              UInt64(payload[payload.index(after: colon)...]) != nil else {
            logger.debug("ignoring a malformed DDNS notification")
            return
        }
        state.withLockedValue { state in
            guard !state.resyncForced else { return }
            if state.pending.count >= Self.maxPendingNotifications {
                state.pending = []
                state.resyncForced = true
            } else {
                state.pending.insert(id)
            }
        }
        doorbell.yield()
    }

    // MARK: - Worker

    /// The one task that reads the database for the change feed, so yields leave in order.
    func runWorker(_ bell: AsyncStream<Void>) async {
        var failures = 0
        for await _ in bell {
            if isClosed { return }
            let work: SyncWork = state.withLockedValue { state in
                let work = SyncWork(fullResync: state.resyncForced, compareVersion: state.resyncDue,
                                    ids: state.resyncForced ? [] : state.pending.sorted())
                state.resyncForced = false
                state.resyncDue = false
                state.pending = []
                return work
            }
            do {
                try await perform(work)
                failures = 0
            } catch {
                if isClosed { return }
                failures += 1
                // Anything not delivered is owed as one full resync once the database answers again;
                // nothing is yielded meanwhile, so the DNS side keeps serving its last records.
                if work.fullResync || work.compareVersion || !work.ids.isEmpty {
                    state.withLockedValue { $0.resyncForced = true; $0.pending = [] }
                }
                logger.debug("DDNS change feed read failed: \(Self.message(mapError(error, "resync")))")
                do {
                    try await Task.sleep(for: Self.backoff(after: failures))
                } catch {
                    return
                }
                doorbell.yield()
            }
        }
    }

    private func perform(_ work: SyncWork) async throws {
        if work.fullResync || work.compareVersion {
            let result = try await run("resync") { connection in
                try await self.readSilos(ids: nil, on: connection)
            }
            let differs = state.withLockedValue { $0.lastReadVersion != result.version }
            if work.fullResync || differs {
                deliver([.replaceAll(result.silos)], readAt: result.version)
            }
        }
        guard !work.ids.isEmpty else { return }
        for start in stride(from: 0, to: work.ids.count, by: 256) {
            let ids = Array(work.ids[start..<min(start + 256, work.ids.count)])
            let result = try await run("read notified silos") { connection in
                try await self.readSilos(ids: ids, on: connection)
            }
            let found = Dictionary(result.silos.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let changes: [DDNSChange] = ids.map { id in found[id].map { .upsert($0) } ?? .delete(id: id) }
            deliver(changes, readAt: result.version)
        }
    }

    /// Rings the worker every `resyncInterval` for the version comparison (the safety net).
    func runResyncTimer() async {
        while !isClosed {
            do {
                try await Task.sleep(for: resyncInterval)
            } catch {
                return
            }
            state.withLockedValue { $0.resyncDue = true }
            doorbell.yield()
        }
    }
}
