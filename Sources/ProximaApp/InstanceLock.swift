import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The single-instance lock of `proxima serve`: an exclusive `flock(2)` on a lock file, held
/// (the descriptor open) for the life of the process. The holder's PID is written into the file
/// after locking so a second `serve` can name it. The kernel releases the lock when the holder
/// exits however it exits (kill -9 included), so a stale file never blocks a start.
public final class InstanceLock: Sendable {
    /// Why the lock could not be taken.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    let fd: Int32

    /// The default lock file for a config: `$RUNTIME_DIRECTORY/proxima.lock` when systemd gave a
    /// runtime directory (the config directory is read-only under `ProtectSystem=strict`), else
    /// the config's path with `.lock` appended.
    public static func defaultPath(configPath: String, environment: [String: String]) -> String {
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return String(runtime) + "/proxima.lock"
        }
        let absolute = configPath.hasPrefix("/") ? configPath
            : FileManager.default.currentDirectoryPath + "/" + configPath
        return URL(fileURLWithPath: absolute).standardizedFileURL.path + ".lock"
    }

    /// Takes the lock or throws naming the PID that holds it.
    public init(path: String, configPath: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw Failure(description: "lock_file \(path): cannot open: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            let holder = InstanceLock.readPID(fd)
            close(fd)
            if e == EWOULDBLOCK {
                let who = holder.map { "process \($0)" } ?? "another process"
                throw Failure(description: """
                    another proxima serve is already running with \(configPath): \(who) holds the lock \(path); \
                    stop it first (or give this instance its own config or lock_file)
                    """)
            }
            throw Failure(description: "lock_file \(path): flock: \(String(cString: strerror(e)))")
        }
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) != 0 || pwrite(fd, text, text.count, 0) != text.count {
            let e = errno
            close(fd)
            throw Failure(description: "lock_file \(path): cannot write the PID: \(String(cString: strerror(e)))")
        }
        self.fd = fd
    }

    /// The PID written in the file, if any.
    static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text).flatMap { $0 > 0 ? $0 : nil }
    }

    deinit { close(fd) }
}
