import NIOCore

/// A Swift concurrency task executor that runs jobs on one NIO event loop.
///
/// The DDNS API runs every connection's task on the event loop that owns the connection (its own
/// one-thread group, see `DDNSHTTPServer`): reading a request, handling it (the SQLite store is
/// synchronous, a few microseconds per call), and writing the reply then all happen on one thread,
/// with no hand-off to the concurrency pool and back. Measured on the bench machine, those
/// hand-offs (a futex wake-up and a context switch each) were most of an update's CPU. A job
/// enqueued from the loop's own thread is queued without a wake-up; from elsewhere (a PostgreSQL
/// reply) it wakes the loop as any `execute` does.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { [self] in
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
