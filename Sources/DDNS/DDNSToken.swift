import Crypto

/// Silo tokens: made here, shown once, kept only as their SHA-256.
///
/// A token is 32 bytes from the system's CSPRNG (`SystemRandomNumberGenerator`: getrandom(2) on
/// Linux), written as 43 characters of unpadded base64url (RFC 4648 §5) — safe in a Bearer header,
/// in HTTP Basic's password (no ':') and in a file. 256 random bits need no slow password hash:
/// nobody can guess them, so a fast hash is enough to make a stolen database useless for
/// authenticating.
public enum DDNSToken {
    /// A new random token.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            var word = generator.next()
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return base64URL(bytes)
    }

    /// SHA-256 of the token's UTF-8 bytes.
    public static func hash(_ token: some StringProtocol) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// True when `token` hashes to `stored`; the comparison takes the same time wherever the
    /// bytes differ (no early exit), so response times do not leak how much of a hash matched.
    public static func matches(_ token: some StringProtocol, hash stored: [UInt8]) -> Bool {
        // Hashed from the text's own bytes and compared in place (no arrays on every request).
        let digest = token.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
            ?? SHA256.hash(data: Array(token.utf8))
        return digest.withUnsafeBytes { computed in
            guard computed.count == stored.count else { return false }
            var difference: UInt8 = 0
            for i in 0..<stored.count { difference |= computed[i] ^ stored[i] }
            return difference == 0
        }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
