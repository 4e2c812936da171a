import Foundation
import ProximaConfig
#if canImport(Glibc)
import Glibc
#endif

/// Switching from root to the config's `user` (and `group`) once every socket is bound, for a
/// server started as root without systemd. The account is looked up when the server starts, so a
/// missing user is a startup error, not a surprise after binding.
public struct PrivilegeDrop: Sendable, Hashable {
    public let user: String
    public let uid: uid_t
    public let gid: gid_t

    /// Looks up the config's `user`/`group`; a problem names the config file, line and key.
    public static func resolve(_ config: ProximaConfiguration) throws(LoadProblem) -> PrivilegeDrop? {
        do {
            return try resolve(config.process)
        } catch {
            let key = error.text.hasPrefix("group") ? "group" : "user"
            let message = String(error.text.dropFirst(key.count + 2))   // "user: …" → "…"
            throw LoadProblem(config.source.issue(at: key, message).description)
        }
    }

    /// Looks up `settings.user`/`group` (names or numeric ids); nil when no `user` is set.
    static func resolve(_ settings: ProcessSettings) throws(LoadProblem) -> PrivilegeDrop? {
        guard let user = settings.user else { return nil }
        var uid: uid_t
        var gid: gid_t
        if let pw = getpwnam(user) {
            uid = pw.pointee.pw_uid
            gid = pw.pointee.pw_gid
        } else if let n = UInt32(user), let pw = getpwuid(n) {
            uid = n
            gid = pw.pointee.pw_gid
        } else {
            throw LoadProblem("user: no such user '\(user)' (see /etc/passwd)")
        }
        if let group = settings.group {
            if let gr = getgrnam(group) {
                gid = gr.pointee.gr_gid
            } else if let n = UInt32(group), getgrgid(n) != nil {
                gid = n
            } else {
                throw LoadProblem("group: no such group '\(group)' (see /etc/group)")
            }
        }
        guard uid != 0 else { throw LoadProblem("user: '\(user)' is root; name an unprivileged account") }
        return PrivilegeDrop(user: user, uid: uid, gid: gid)
    }

    /// Whether this process can switch users (it runs as root).
    public static var isRoot: Bool { geteuid() == 0 }

    /// Hands `files` (those written later: log file, ipstack usage file) to the account, then
    /// sets the supplementary groups to just `gid`, the group, and the user — glibc applies each
    /// to every thread — and checks that root cannot be regained.
    public func apply(handingOver files: [String]) throws(LoadProblem) {
        for f in files where FileManager.default.fileExists(atPath: f) {
            guard chown(f, uid, gid) == 0 else {
                throw LoadProblem("user: cannot give \(f) to \(user): \(String(cString: strerror(errno)))")
            }
        }
        var groups = [gid]
        guard setgroups(1, &groups) == 0 else { throw LoadProblem("user: setgroups: \(String(cString: strerror(errno)))") }
        guard setgid(gid) == 0 else { throw LoadProblem("group: setgid(\(gid)): \(String(cString: strerror(errno)))") }
        guard setuid(uid) == 0 else { throw LoadProblem("user: setuid(\(uid)): \(String(cString: strerror(errno)))") }
        // setuid from root sets real, effective and saved IDs: going back must fail.
        guard setuid(0) != 0, seteuid(0) != 0, getuid() == uid, geteuid() == uid, getegid() == gid else {
            throw LoadProblem("user: could still regain root after switching to \(user); refusing to run")
        }
    }
}
