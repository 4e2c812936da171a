import NIOConcurrencyHelpers

/// Lets one write at a time through, in arrival order (an async FIFO mutex).
///
/// Each API write is "change the store, then publish the change with its version" (and a dyndns2
/// update is read-modify-write). Running them one at a time keeps the publisher's versions in
/// order and keeps two updates of one silo from losing each other; it costs nothing in throughput
/// because SQLite has one writer anyway.
final class DDNSWriteGate: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Runs `body` alone.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    /// Takes the gate if no write holds it (then the caller must `release()` it); false otherwise.
    /// What a write that runs on the caller's thread (`DDNSAPI.putSiloNow`) uses: it never waits.
    func tryAcquire() -> Bool {
        state.withLockedValue { s -> Bool in
            guard !s.busy else { return false }
            s.busy = true
            return true
        }
    }

    private func acquire() async {
        // The usual case, no write in progress: take it without suspending (a continuation
        // suspends the task and re-enqueues it on its executor, a visible part of an update).
        if tryAcquire() { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLockedValue { s -> Bool in
                if !s.busy {
                    s.busy = true
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Lets the next waiting write through (or frees the gate).
    func release() {
        let next = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            guard s.head < s.waiters.count else {
                s.busy = false
                s.waiters.removeAll(keepingCapacity: true)
                s.head = 0
                return nil
            }
            let waiter = s.waiters[s.head]
            s.head += 1
            if s.head > 1024 && s.head * 2 > s.waiters.count {
                s.waiters.removeFirst(s.head)
                s.head = 0
            }
            return waiter
        }
        next?.resume()
    }
}
