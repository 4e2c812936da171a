import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads on SIGHUP and when a watched file (config, zones, geo data, database) changes. Requests
/// go through `ProximaServer.requestReload`, which serializes and coalesces them.
///
/// Files are polled (stat: inode, size, mtime) rather than watched with inotify: it sees atomic
/// renames (how `Scripts/refresh-geoip-db` and editors install files) and costs nothing measurable
/// at a 2 s interval. A change is acted on once the file has been stable for one interval, so a
/// file being written is not read half-way.
struct ReloadService: Service {
    let server: ProximaServer

    static func stamp(_ path: String) -> FileStamp? { FileStamp(path: path) }

    func run() async throws {
        // Both loops end when shutdown begins (a poll sleep may be long).
        await cancelWhenGracefulShutdown {
            await runLoops()
        }
        // Shutdown does not wait for queued reloads; one already running finishes on its thread.
        server.stopReloads()
    }

    func runLoops() async {
        await withTaskGroup(of: Void.self) { group in
            if server.options.handleSignals {
                group.addTask {
                    let signals = await UnixSignalsSequence(trapping: .sighup)
                    // Queued, not run here: a burst of signals during a reload adds one reload.
                    for await _ in signals {
                        server.requestReload(reason: "SIGHUP")
                    }
                }
                group.addTask {
                    // logrotate: reopen the query log's file (it was renamed; new lines go to a new file).
                    let signals = await UnixSignalsSequence(trapping: .sigusr1)
                    for await _ in signals {
                        server.reopenLogs()
                    }
                }
            }
            group.addTask { await poll() }
            await group.waitForAll()
        }
    }

    func poll() async {
        var stamps: [String: FileStamp?] = [:]
        for f in server.watchedFiles { stamps[f] = ReloadService.stamp(f) }
        var pending: [String: FileStamp?] = [:]
        while !Task.isCancelled {
            do { try await Task.sleep(for: server.options.pollInterval) } catch { return }
            let files = server.watchedFiles
            var changed: [String] = []
            for f in files {
                let now = ReloadService.stamp(f)
                if stamps[f] == nil { stamps[f] = now; continue }   // newly watched after a reload
                if now != stamps[f]! {
                    // Act once the new state has held for one interval (the writer is done).
                    if let p = pending[f], p == now {
                        changed.append(f)
                        pending[f] = nil
                    } else {
                        pending[f] = now
                    }
                } else {
                    pending[f] = nil
                }
            }
            if !changed.isEmpty {
                server.requestReload(reason: "changed: " + changed.joined(separator: ", "))
                // Remember what we saw whether or not the reload succeeded: a bad file is reported
                // once, and the next change to it triggers another attempt.
                for f in server.watchedFiles { stamps[f] = ReloadService.stamp(f) }
                for f in changed { stamps[f] = ReloadService.stamp(f) }
            }
        }
    }
}
