#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif

/// A failed file operation: what was done to which file, and the system's reason.
public struct FileProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed on which path, and the system's reason.
    public let message: String
    init(_ what: String, _ path: String, errno code: Int32) {
        message = "\(what) \(path): \(String(cString: strerror(code)))"
    }
    init(message: String) { self.message = message }
    public var description: String { message }
}

/// Reading a whole (bounded) file.
public enum FileBytes {
    /// The file's bytes; throws when it cannot be read or is larger than `limit`.
    public static func read(_ path: String, limit: Int) throws(FileProblem) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileProblem("cannot open", path, errno: errno) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileProblem("cannot read", path, errno: errno)
            }
            if n == 0 { break }
            out += chunk[0..<n]
            guard out.count <= limit else { throw FileProblem(message: "\(path) is larger than \(limit) bytes") }
        }
        return out
    }
}

/// Replacing a file so that readers see the old or the new contents, never a mix: a temporary
/// file in the same directory, written and fsync'd, given the original's mode and owner, then
/// renamed over the original, and the directory fsync'd.
public enum AtomicFile {
    /// How the file was replaced.
    public enum Method: Sendable, Hashable {
        /// Temp file + rename (atomic).
        case renamed
        /// In place (truncate and write), because the path is a mount point (a container's
        /// bind-mounted /etc/hosts) where rename fails with EBUSY. Not atomic.
        case inPlace
    }

    /// The mode, owner and group of an existing file, or nil when it does not exist.
    public static func attributes(_ path: String) throws(FileProblem) -> (mode: mode_t, uid: uid_t, gid: gid_t)? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw FileProblem("cannot stat", path, errno: errno)
        }
        return (info.st_mode & 0o7777, info.st_uid, info.st_gid)
    }

    /// Replaces `path` (following a symbolic link to the real file) with `bytes`. An existing
    /// file keeps its mode, owner and group; a new one gets `newFileMode`. `createDirectory`
    /// makes a missing parent directory (mode 0700) first.
    @discardableResult
    public static func replace(_ path: String, with bytes: [UInt8], newFileMode: mode_t = 0o600,
                               createDirectory: Bool = false) throws(FileProblem) -> Method {
        var target = path
        if let resolved = realpath(path, nil) {
            target = String(cString: resolved)
            free(resolved)
        }
        let directory = target.lastIndex(of: "/").map { target[..<$0].isEmpty ? "/" : String(target[..<$0]) } ?? "."
        let base = target.split(separator: "/").last.map(String.init) ?? target
        if createDirectory {
            try makeDirectories(directory)
        }
        let existing = try attributes(target)

        var template = Array("\(directory)/.\(base).proxima-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileProblem("cannot create a temporary file in", directory, errno: errno) }
        let temp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var renamed = false
        defer {
            if !renamed { unlink(temp) }
        }
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, path: temp)
            let mode = existing?.mode ?? newFileMode
            guard fchmod(fd, mode) == 0 else { throw FileProblem("cannot chmod", temp, errno: errno) }
            if let existing, existing.uid != geteuid() || existing.gid != getegid() {
                guard fchown(fd, existing.uid, existing.gid) == 0 else {
                    throw FileProblem("cannot give the owner of \(target) to", temp, errno: errno)
                }
            }
            guard fsync(fd) == 0 else { throw FileProblem("cannot fsync", temp, errno: errno) }
        }
        if rename(temp, target) != 0 {
            let code = errno
            guard code == EBUSY || code == EXDEV, existing != nil else {
                throw FileProblem("cannot rename \(temp) to", target, errno: code)
            }
            try overwrite(target, bytes)
            return .inPlace
        }
        renamed = true
        syncDirectory(directory)
        return .renamed
    }

    static func overwrite(_ path: String, _ bytes: [UInt8]) throws(FileProblem) {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw FileProblem("cannot open", path, errno: errno) }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        guard fsync(fd) == 0 else { throw FileProblem("cannot fsync", path, errno: errno) }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileProblem) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileProblem("cannot write", path, errno: errno)
            }
            offset += n
        }
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func makeDirectories(_ directory: String) throws(FileProblem) {
        var current = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw FileProblem("cannot create directory", current, errno: errno)
            }
        }
    }
}
