/// What a probe result asks the shell to do to a backend's health (STYLE §5: the state machine
/// returns actions, the monitor carries them out).
enum ProbeTransition: Equatable, Sendable {
    /// Nothing changes.
    case none
    /// `fall` consecutive failures: the backend goes down.
    case markDown
    /// `rise` consecutive successes: the backend comes back up.
    case markUp
}

/// Anti-flap hysteresis for one backend (DESIGN §3 "Health"): a backend starts *up*, goes down after
/// `fall` consecutive failed probes and comes back after `rise` consecutive successes. A result that
/// agrees with the current state resets the opposing streak.
///
/// This is HealthChecks' private equivalent of GeoRouting's `HealthStateMachine`, written in
/// parallel so the monitor is not blocked on it; the two can be deduplicated later.
struct ProbeStreak: Equatable, Sendable {
    /// Consecutive successes needed to come back up (at least 1).
    let rise: Int
    /// Consecutive failures needed to go down (at least 1).
    let fall: Int
    /// Current health.
    private(set) var isUp: Bool
    /// Consecutive results that disagree with `isUp`.
    private(set) var streak: Int = 0

    /// A machine in state `isUp` (backends start up); `rise`/`fall` below 1 are treated as 1.
    init(rise: Int, fall: Int, isUp: Bool = true) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.isUp = isUp
    }

    /// Feeds one probe result and returns the transition it causes, if any.
    mutating func probeResult(success: Bool) -> ProbeTransition {
        if success == isUp {
            streak = 0
            return .none
        }
        streak += 1
        if isUp, streak >= fall {
            isUp = false
            streak = 0
            return .markDown
        }
        if !isUp, streak >= rise {
            isUp = true
            streak = 0
            return .markUp
        }
        return .none
    }
}
