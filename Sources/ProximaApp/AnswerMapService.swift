import CProximaNet
import Dispatch
import Foundation
import Logging
import QueryEngine
import ServiceLifecycle
import Synchronization

/// Builds the answer maps (issue #12.1) off the query path: on its own thread, after every
/// snapshot or states change the store reports, and again when load reports that take part go
/// stale. Queries meanwhile take the per-query path (same answers, narrower scopes); the maps are
/// installed only if the data they were built from is still current.
///
/// Before the maps of a snapshot it builds what its locator's fast placement reads, if not built
/// yet — the database's coordinate table (issue #12.3) — so that neither start nor a reload that
/// opens a new database waits for it: until it is published, queries place clients with the
/// database's own lookup, which gives the same coordinates.
final class AnswerMapBuilder: Sendable {
    let store: SnapshotStore
    let logger: Logger
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    /// The last build: (snapshot generation, milliseconds, nodes, bytes), for the status and tests.
    let lastBuild = Mutex<(snapshotGeneration: UInt64, milliseconds: Double, nodes: Int, bytes: Int)?>(nil)
    /// Called once on the builder's thread before the first placement build (tests hold it to
    /// query the server while the coordinate table is not built).
    let beforeFirstPlacement: (@Sendable () -> Void)?

    init(store: SnapshotStore, logger: Logger, beforeFirstPlacement: (@Sendable () -> Void)? = nil) {
        self.store = store
        self.logger = logger
        self.beforeFirstPlacement = beforeFirstPlacement
    }

    /// Builds the snapshot locator's placement table if it has none yet, and logs what it built.
    private func preparePlacement(_ snapshot: EngineSnapshot, first: inout Bool) {
        if first {
            first = false
            beforeFirstPlacement?()
        }
        let start = monotonicSeconds()
        guard let built = snapshot.locator.preparePlacement() else { return }
        let ms = (monotonicSeconds() - start) * 1000
        logger.info("coordinate table built", metadata: [
            "build_ms": "\(Int(ms.rounded()))", "records": "\(built.records)", "bytes": "\(built.bytes)",
        ])
        // The build's scratch (a bitmap over the data section, the decoded list) goes back now.
        _ = cproxima_malloc_trim()
    }

    /// Starts the builder thread (once).
    func start() {
        store.observeContent { [wake] in wake.signal() }
        let thread = Thread { [self] in loop() }
        thread.name = "proxima-answer-map"
        thread.start()
    }

    /// Stops the thread (a build in progress finishes on it; its result is not installed past
    /// the next snapshot change, and nothing reads it after shutdown).
    func stop() {
        store.observeContent(nil)
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    private func loop() {
        var previous: AnswerMapSet?
        var builtVersion: UInt64 = 0
        // Rebuilds for one snapshot (health or load moving answers) are spaced by twice the last
        // build's time, so a flapping backend or a stream of reports that keep reordering a
        // least-load pool costs at most a third of a core; queries meanwhile take the per-query
        // path. A new snapshot is built at once.
        var lastSnapshot: UInt64 = 0
        var notBefore = 0.0
        var firstPlacement = true
        while !stopping.load(ordering: .acquiring) {
            let c = store.content()
            let now = monotonicSeconds()
            let current = c.answerMaps.map { now <= $0.validUntil } ?? false
            if current || (c.version == builtVersion && c.answerMaps == nil && previous == nil) {
                // Up to date (or nothing to map): sleep until a change or the maps go stale.
                var wait = 1.0
                if let maps = c.answerMaps { wait = min(wait, max(0.001, maps.validUntil - now)) }
                _ = wake.wait(timeout: .now() + wait)
                continue
            }
            if c.snapshot.generation == lastSnapshot && now < notBefore {
                _ = wake.wait(timeout: .now() + (notBefore - now))
                continue
            }
            preparePlacement(c.snapshot, first: &firstPlacement)
            let start = monotonicSeconds()
            let maps = AnswerMapSet.build(snapshot: c.snapshot, states: c.states, now: start, previous: previous)
            let end = monotonicSeconds()
            let ms = (end - start) * 1000
            lastSnapshot = c.snapshot.generation
            notBefore = end + 2 * (end - start)
            builtVersion = c.version
            previous = maps
            // The build's scratch (a per-node table of the database's tree, dictionaries) is freed
            // by now; hand it back to the kernel here, on this thread, not on a query thread.
            defer { _ = cproxima_malloc_trim() }
            guard let maps else { continue }
            if store.install(answerMaps: maps, forVersion: c.version) {
                let fresh = lastBuild.withLock { last in
                    let first = last?.snapshotGeneration != maps.snapshotGeneration
                    last = (maps.snapshotGeneration, ms, maps.nodeCount, maps.byteCount)
                    return first
                }
                let metadata: Logger.Metadata = [
                    "build_ms": "\(Int(ms.rounded()))", "maps": "\(maps.allMaps.count)", "built": "\(maps.builtCount)",
                    "nodes": "\(maps.nodeCount)", "classes": "\(maps.allMaps.reduce(0) { $0 + $1.classCount })",
                    "bytes": "\(maps.byteCount)",
                ]
                // The first maps of a snapshot are worth an operator's eye; rebuilds after health or
                // load changes are routine.
                if fresh {
                    logger.info("answer maps built", metadata: metadata)
                } else {
                    logger.debug("answer maps rebuilt", metadata: metadata)
                }
            }
        }
    }
}

/// Runs the answer-map builder for the server's lifetime (a `ServiceGroup` member).
struct AnswerMapService: Service {
    let builder: AnswerMapBuilder

    func run() async throws {
        builder.start()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
            }
        }
        builder.stop()
    }
}
