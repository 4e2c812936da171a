/// Serializes and coalesces reload requests (issue #8 item 6): one reload runs at a time, and every
/// request that arrives while it runs collapses into at most one more reload, which reads the files
/// as they are when it starts (so the newest). 150 SIGHUPs during one reload cause one more
/// reload, not 150. After `shutdown`, requests are ignored and nothing pending starts.
///
/// A value-type state machine: events return the action the shell (`ProximaServer`) carries out.
struct ReloadCoalescer: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// No reload running.
        case idle
        /// A reload is running; `pending` holds the requests that arrived meanwhile (empty: none).
        case running(pending: [String])
        /// Shutting down: no reload starts any more.
        case stopped
    }

    /// What the shell must do.
    enum Action: Sendable, Equatable {
        /// Start a reload now (on the caller's behalf), for these reasons.
        case start(reason: String)
        /// Nothing: idle, already queued behind the running reload, or stopped.
        case none
    }

    private(set) var state = State.idle
    /// Requests folded into another reload (for logs and tests).
    private(set) var coalesced = 0
    /// Reloads started.
    private(set) var started = 0

    /// Most distinct reasons kept for the log line of a coalesced reload.
    static let maxReasons = 4

    /// A reload was asked for (SIGHUP, a changed file, an admin call).
    mutating func request(reason: String) -> Action {
        switch state {
        case .idle:
            state = .running(pending: [])
            started += 1
            return .start(reason: reason)
        case .running(var pending):
            if !pending.isEmpty { coalesced += 1 }
            if !pending.contains(reason) && pending.count < Self.maxReasons { pending.append(reason) }
            state = .running(pending: pending)
            return .none
        case .stopped:
            return .none
        }
    }

    /// The running reload ended (whether or not it succeeded).
    mutating func finished() -> Action {
        switch state {
        case .running(let pending) where !pending.isEmpty:
            state = .running(pending: [])
            started += 1
            return .start(reason: pending.joined(separator: "; "))
        case .running:
            state = .idle
            return .none
        case .idle, .stopped:
            return .none
        }
    }

    /// Shutdown began: pending requests are dropped and none is accepted (a reload already running
    /// finishes on its own; nobody waits for it).
    mutating func shutdown() {
        state = .stopped
    }
}
