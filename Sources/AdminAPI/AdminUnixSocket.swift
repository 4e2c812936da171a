#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creating and removing the admin API's Unix-domain socket file safely.
///
/// - An existing *non-socket* file at the path is never touched: start-up fails instead.
/// - An existing socket that accepts connections belongs to a running server: start-up fails
///   rather than stealing its path. One that refuses (left by a crash) is removed.
/// - The socket is created with mode 0600 without a window in which another user could connect:
///   it is bound inside a fresh private directory (mode 0700) next to the final path, chmod-ed,
///   then renamed into place (a rename keeps the inode, and connections find a socket by its
///   inode).
enum AdminUnixSocket {
    /// Where to bind before the rename, in a private directory next to `path`.
    struct Staging {
        let finalPath: String
        let directory: String
        var bindPath: String { directory + "/s" }
    }

    /// Checks `path` and prepares the private staging directory.
    static func prepare(path: String) throws(AdminAPIError) -> Staging {
        guard path.utf8.count < 100 else {
            throw AdminAPIError(.startup, "admin socket path '\(path)' is too long for a Unix socket (max 99 bytes)")
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw AdminAPIError(.startup, "admin socket path '\(path)' exists and is not a socket; not replacing it")
            }
            if isListening(path) {
                throw AdminAPIError(.startup, "admin socket '\(path)' is in use by a running server")
            }
            guard unlink(path) == 0 else {
                throw AdminAPIError(.startup, "cannot remove stale admin socket '\(path)': \(errorText())")
            }
        }
        let parent = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        // sockaddr_un holds 108 bytes with the NUL; the staging path is the longer one.
        guard (parent + "/.proxima-admin.XXXXXX/s").utf8.count < 108 else {
            throw AdminAPIError(.startup, "admin socket directory '\(parent)' is too deep for a Unix socket path")
        }
        var template = Array((parent + "/.proxima-admin.XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw AdminAPIError(.startup, "cannot create a private directory next to '\(path)': \(errorText())")
        }
        let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Staging(finalPath: path, directory: directory)
    }

    /// After binding at `staging.bindPath`: mode 0600, then into place.
    static func publish(_ staging: Staging) throws(AdminAPIError) -> ino_t {
        defer { discard(staging) }
        guard chmod(staging.bindPath, 0o600) == 0 else {
            throw AdminAPIError(.startup, "cannot chmod admin socket: \(errorText())")
        }
        guard rename(staging.bindPath, staging.finalPath) == 0 else {
            throw AdminAPIError(.startup, "cannot move admin socket into place at '\(staging.finalPath)': \(errorText())")
        }
        var info = stat()
        return lstat(staging.finalPath, &info) == 0 ? info.st_ino : 0
    }

    /// Removes the staging directory (and a socket left in it).
    static func discard(_ staging: Staging) {
        unlink(staging.bindPath)
        rmdir(staging.directory)
    }

    /// Removes the socket at `path` if it is still the one this server created.
    static func remove(path: String, inode: ino_t) {
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, info.st_ino == inode {
            unlink(path)
        }
    }

    /// True when something accepts connections on the socket at `path`.
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
