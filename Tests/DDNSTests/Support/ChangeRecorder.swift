import DDNS
import Foundation

/// Collects what a store's `externalChanges()` yields, and waits (with a deadline) for a condition
/// on it. Also replays the elements into the silo table a consumer would hold.
final class ChangeRecorder: @unchecked Sendable {
    typealias Element = ([DDNSChange], UInt64)

    private let lock = NSLock()
    private var elements: [Element] = []
    private var task: Task<Void, Never>?

    init(_ stream: AsyncStream<Element>) {
        task = Task { [weak self] in
            for await element in stream {
                guard let self else { return }
                self.lock.withLock { self.elements.append(element) }
            }
        }
    }

    deinit { task?.cancel() }

    var all: [Element] { lock.withLock { elements } }
    var count: Int { lock.withLock { elements.count } }

    /// Elements yielded after the first `start` ones.
    func since(_ start: Int) -> [Element] {
        let all = self.all
        return Array(all[min(start, all.count)...])
    }

    /// Waits until `condition` holds for the elements yielded so far, or `timeout` passes.
    /// Returns whether it held.
    func wait(_ timeout: Duration, until condition: ([Element]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if condition(all) { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The silo table after applying every element in order, and the last version.
    func table() -> (silos: [String: Silo], version: UInt64) {
        Self.apply(all)
    }

    static func apply(_ elements: [Element]) -> (silos: [String: Silo], version: UInt64) {
        var silos: [String: Silo] = [:]
        var version: UInt64 = 0
        for (changes, after) in elements {
            for change in changes {
                switch change {
                case .replaceAll(let all):
                    silos = Dictionary(all.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
                case .upsert(let silo):
                    silos[silo.id] = silo
                case .delete(let id):
                    silos[id] = nil
                }
            }
            version = after
        }
        return (silos, version)
    }
}
