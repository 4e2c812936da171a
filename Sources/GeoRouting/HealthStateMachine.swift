/// What the health shell must do after a probe result.
public enum HealthAction: Hashable, Sendable {
    /// Nothing changed.
    case none
    /// The backend just went down (`fall` consecutive failures): publish it as unhealthy.
    case markDown
    /// The backend just came back (`rise` consecutive successes): publish it as healthy.
    case markUp
}

/// Anti-flap health of one backend (DESIGN §3 "Health", STYLE §5): a value with a mutating event
/// method that returns the action the shell carries out.
///
/// Starts up (starting everything down is a known PowerDNS complaint). While up, `fall`
/// consecutive failures take it down; while down, `rise` consecutive successes bring it back. A
/// result of the other kind resets the streak, so an alternating backend never changes state.
public struct HealthStateMachine: Hashable, Sendable {
    /// Current state.
    public enum State: String, Hashable, Sendable {
        /// Serving traffic.
        case up
        /// Taken out of answers.
        case down
    }

    /// Current state.
    public private(set) var state: State
    /// Consecutive successes needed to come back up (≥ 1).
    public let rise: Int
    /// Consecutive failures needed to go down (≥ 1).
    public let fall: Int
    /// Length of the current run of results that push towards the other state.
    public private(set) var streak: Int = 0

    /// Creates a machine; thresholds below 1 count as 1.
    public init(rise: Int, fall: Int, initial: State = .up) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.state = initial
    }

    /// Creates a machine with the thresholds of `spec`.
    public init(spec: HealthCheckSpec, initial: State = .up) {
        self.init(rise: spec.rise, fall: spec.fall, initial: initial)
    }

    /// True when up.
    public var isUp: Bool { state == .up }

    /// Feeds one probe result and returns what to do.
    public mutating func probeResult(success: Bool) -> HealthAction {
        switch (state, success) {
        case (.up, true), (.down, false):
            // Confirms the current state: any run towards the other state is broken.
            streak = 0
            return .none
        case (.up, false):
            streak += 1
            guard streak >= fall else { return .none }
            state = .down
            streak = 0
            return .markDown
        case (.down, true):
            streak += 1
            guard streak >= rise else { return .none }
            state = .up
            streak = 0
            return .markUp
        }
    }
}
