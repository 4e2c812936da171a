#if canImport(Glibc)
import Glibc
#endif

/// An `AF_UNIX` datagram address: a filesystem path, or an abstract name written with a leading
/// `@` (unix(7): the first byte of `sun_path` is NUL and the name is not NUL-terminated), as
/// `$NOTIFY_SOCKET` may be.
struct UnixDatagramAddress: Sendable, Hashable {
    /// The bytes of `sun_path` (abstract names start with 0).
    let path: [UInt8]

    /// nil when `text` is empty or too long for `sun_path` (108 bytes with the NUL).
    init?(_ text: String) {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty, !bytes.contains(0) else { return nil }
        if bytes[0] == UInt8(ascii: "@") {
            bytes[0] = 0
        } else {
            bytes.append(0)   // a path is NUL-terminated
        }
        guard bytes.count <= MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        path = bytes
    }

    /// Sends one datagram from a fresh unbound socket; returns errno on failure (0: sent).
    func send(_ payload: [UInt8]) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return send(payload, from: fd)
    }

    /// Sends one datagram on `fd` (an unconnected AF_UNIX datagram socket); 0 or errno.
    func send(_ payload: [UInt8], from fd: Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), sa, length)
                }
            }
        }
        return sent < 0 ? errno : 0
    }
}
