import CProximaNet
import Dispatch
import Synchronization

/// Hands freed heap back to the kernel after connections that buffered a lot have closed.
///
/// glibc keeps freed memory in its arenas: after 40 connections that never read had each held
/// their cap of answers and reads, about 22 MB stayed resident long after they closed. `request()`
/// schedules one `malloc_trim(0)` a second later on a background queue (never on an event loop or
/// a query thread, since it walks every arena); requests meanwhile coalesce into it, so there is
/// at most one trim per `delay`. Without glibc (musl) the trim does nothing.
final class HeapTrimmer: Sendable {
    private let scheduled = Mutex(false)
    private let delay: Duration

    /// Creates a trimmer that trims `delay` after the first request of a burst.
    init(delay: Duration = .seconds(1)) {
        self.delay = delay
    }

    /// Asks for a trim; a no-op while one is already scheduled.
    func request() {
        let first = scheduled.withLock { scheduled -> Bool in
            if scheduled { return false }
            scheduled = true
            return true
        }
        guard first else { return }
        let nanoseconds = Int(clamping: delay.clampedNanoseconds)
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
            // Cleared before trimming, so a close during the trim schedules the next one.
            scheduled.withLock { $0 = false }
            _ = cproxima_malloc_trim()
        }
    }
}
