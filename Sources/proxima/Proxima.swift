import ArgumentParser
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// `proxima`: the nameserver and its operator tools.
struct Proxima: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxima",
        abstract: "An authoritative DNS server that sends every client to the nearest healthy backend.",
        discussion: """
        Proxima serves RFC 1035 zone files and answers the names you route (config `routing.names`) with \
        the backends of a pool, nearest healthy one first, by great-circle distance from the client \
        (EDNS Client Subnet, else the source address), located by config overrides, a MaxMind-format \
        database, or the ipstack API.

        Start with:  proxima serve --config config/proxima.yaml
        Validate:    proxima check --config config/proxima.yaml
        Explain:     proxima route 81.2.69.160 --name www.example.test --config config/proxima.yaml
                     proxima explain workstation7.office.example.test --config config/proxima.yaml
        """,
        subcommands: [Serve.self, Check.self, Route.self, Explain.self, Locate.self, ReportLoad.self, Force.self, DDNSCommand.self]
    )
}

/// The entry point. An `async` main would end the main thread (Linux runs it with
/// `dispatch_main()`, which exits that thread); the process's leader thread must stay alive so
/// that when `serve` switches to `user:` the switch covers it too — glibc changes the IDs of every
/// live thread, and `/proc/PID/status`, `ps` and the kernel's per-process checks read the
/// leader's. So the main thread waits here while the command runs on the concurrency pool.
@main
enum ProximaMain {
    static func main() {
        // A parent may start us with signals blocked (a signal mask is inherited across exec:
        // e.g. a process spawned from a Dispatch worker thread has SIGTERM blocked). Unblock all
        // before any thread exists, so SIGTERM/SIGINT stop the clients and reach serve's handlers.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await Proxima.main()
            done.signal()
        }
        done.wait()
        exit(0)
    }
}
