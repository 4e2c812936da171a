import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bound `AF_UNIX` datagram socket standing in for systemd's `NOTIFY_SOCKET` or journald's
/// native socket: the tests receive exactly what the server sent.
final class UnixDatagramListener: @unchecked Sendable {
    let fd: Int32
    /// What to put in `NOTIFY_SOCKET` / `journal_socket`: a path, or `@name` (abstract).
    let address: String
    private let path: String?

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Binds a fresh path in `directory`, or an abstract name when `abstract`.
    init(directory: URL, abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var bytes: [UInt8]
        if abstract {
            let name = "proxima-test-\(UUID().uuidString)"
            address = "@" + name
            path = nil
            bytes = [0] + Array(name.utf8)
        } else {
            let p = directory.appendingPathComponent("n-\(UUID().uuidString.prefix(8)).sock").path
            address = p
            path = p
            bytes = Array(p.utf8) + [0]
        }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sa.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard r == 0 else { close(fd); throw Failure(description: "bind \(address): \(errno)") }
        if path != nil { chmod(address, 0o666) }   // the server may have dropped root
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram within `timeout` seconds, or nil.
    func receive(timeout: Double) -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { return Array(buffer[0..<n]) }
        }
        return nil
    }

    /// Datagrams as text until one satisfies `match` (returned) or `timeout` passes (nil); every
    /// datagram seen is appended to `seen`.
    func receive(until match: (String) -> Bool, timeout: Double, seen: inout [String]) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let d = receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return nil }
            let text = String(decoding: d, as: UTF8.self)
            seen.append(text)
            if match(text) { return text }
        }
        return nil
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }
}
