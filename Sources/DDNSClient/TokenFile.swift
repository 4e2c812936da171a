#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bearer token kept in a file (never on the command line, where `ps` shows it): the first
/// line, trimmed. A file that any user may read or write is refused, as ssh refuses such keys:
/// the silo token lets its holder point the silo's names anywhere.
public enum TokenFile {
    /// Reads the token, or throws `.usage` naming the file and what is wrong.
    public static func read(_ path: String) throws(DDNSClientError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DDNSClientError(.usage, "token file \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & 0o170000) == 0o100000 else {
            throw DDNSClientError(.usage, "token file \(path) is not a regular file")
        }
        if info.st_mode & 0o006 != 0 {
            throw DDNSClientError(.usage, """
                token file \(path) is readable or writable by every user (mode \(String(info.st_mode & 0o777, radix: 8))); \
                refusing to use it: chmod 600 \(path)
                """)
        }
        guard info.st_size <= 65_536 else {
            throw DDNSClientError(.usage, "token file \(path) is \(info.st_size) bytes; a token file holds one line")
        }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(path, limit: 65_536)
        } catch {
            throw DDNSClientError(.usage, "token file \(path): \(error.message)")
        }
        let firstLine = bytes.prefix(while: { $0 != 0x0A })
        let token = String(decoding: firstLine, as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else { throw DDNSClientError(.usage, "token file \(path) is empty") }
        guard !token.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw DDNSClientError(.usage, "token file \(path): the token contains control characters")
        }
        return token
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
