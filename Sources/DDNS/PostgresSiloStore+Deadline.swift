import NIOConcurrencyHelpers

extension PostgresSiloStore {
    /// Runs `operation`, but returns after `timeout` at the latest, throwing
    /// `SiloStoreError.unavailable`. Unlike a task group, it does not wait for an operation that
    /// ignores cancellation (a query on a connection whose peer vanished without a FIN): that
    /// operation is cancelled and left to finish on its own, holding at most one pooled connection.
    static func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String,
                                          _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = DeadlineRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.install(continuation)
                let work = Task {
                    do {
                        race.finish(.success(try await operation()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                let timer = Task {
                    do {
                        try await Task.sleep(for: timeout)
                    } catch {
                        return // the operation finished first
                    }
                    race.finish(.failure(SiloStoreError.unavailable(
                        "PostgreSQL did not answer \(what) within \(timeout)")))
                }
                race.track(work, timer)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// The shared state of one `withDeadline` call: whichever of the operation, the timer or the
/// caller's cancellation finishes first resumes the continuation (exactly once) and cancels the rest.
final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLockedValue { state in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func track(_ tasks: Task<Void, Never>...) {
        let finished = state.withLockedValue { state in
            if state.result != nil { return true }
            state.tasks.append(contentsOf: tasks)
            return false
        }
        if finished { tasks.forEach { $0.cancel() } }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks): (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) =
            state.withLockedValue { state in
                guard state.result == nil else { return (nil, []) }
                state.result = result
                defer { state.continuation = nil; state.tasks = [] }
                return (state.continuation, state.tasks)
            }
        tasks.forEach { $0.cancel() }
        continuation?.resume(with: result)
    }
}
