#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DNSWire

/// An IP address and port a DNS listener binds to (or is bound to, once started).
///
/// Port 0 asks the kernel for an ephemeral port; after start the servers report the real port.
/// (Distinct from `ProximaConfig.ListenEndpoint`, the config's parsed form with an `Int` port; the
/// composition root maps one to the other, so neither module depends on the other.)
public struct ServerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The local address (a specific address, or `0.0.0.0` / `::` for all).
    public var address: IPAddress
    /// The UDP/TCP port; 0 before binding means "any free port".
    public var port: UInt16

    /// Creates an endpoint from an address and port.
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `a.b.c.d:port`, `[v6]:port`, or a bare address (port 53).
    public init?(_ text: some StringProtocol) {
        let s = Substring(text)
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"),
                  let address = IPAddress(s[s.index(after: s.startIndex)..<close]) else { return nil }
            let rest = s[s.index(after: close)...]
            if rest.isEmpty { self.init(address: address, port: 53); return }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            self.init(address: address, port: port)
        } else if let colon = s.lastIndex(of: ":"), s.firstIndex(of: ":") == colon {
            guard let address = IPAddress(s[..<colon]), let port = UInt16(s[s.index(after: colon)...])
            else { return nil }
            self.init(address: address, port: port)
        } else {
            guard let address = IPAddress(s) else { return nil }
            self.init(address: address, port: 53)
        }
    }

    /// `127.0.0.1:53` or `[::1]:53`.
    public var description: String {
        switch address {
        case .v4: return "\(address):\(port)"
        case .v6: return "[\(address)]:\(port)"
        }
    }
}

// MARK: - sockaddr conversion (allocation free; used per packet on the UDP fast path)

extension IPAddress {
    /// Reads the address and port out of a `sockaddr_in` / `sockaddr_in6` held in `storage`.
    /// An IPv4-mapped IPv6 source (`::ffff:a.b.c.d`, seen on dual-stack sockets) is reported as
    /// IPv4 so that routing and ECS logic see one family per client. Nil for other families.
    static func decode(sockaddr storage: UnsafeRawPointer) -> (IPAddress, UInt16)? {
        let family = storage.load(as: sa_family_t.self)
        switch Int32(family) {
        case AF_INET:
            let sin = storage.load(as: sockaddr_in.self)
            return (.v4(UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = storage.load(as: sockaddr_in6.self)
            let port = UInt16(bigEndian: sin6.sin6_port)
            var addr = sin6.sin6_addr
            let ip = withUnsafeBytes(of: &addr) { raw -> IPAddress in
                let hi = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
                let lo = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                return .v6(hi, lo)
            }
            return (ip.mappedIPv4 ?? ip, port)
        default:
            return nil
        }
    }

    /// Writes this address and `port` as a `sockaddr_in`/`sockaddr_in6` into `storage` and returns
    /// the length to pass to the kernel. With `asIPv6` an IPv4 address is written IPv4-mapped
    /// (`::ffff:a.b.c.d`), for sending on an IPv6 socket.
    func encode(port: UInt16, into storage: UnsafeMutablePointer<sockaddr_storage>,
                asIPv6: Bool = false) -> socklen_t {
        var target = self
        if asIPv6, case .v4(let a) = self { target = .v6(0, 0xffff_0000_0000 | UInt64(a)) }
        let raw = UnsafeMutableRawPointer(storage)
        switch target {
        case .v4(let a):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = a.bigEndian
            raw.storeBytes(of: sin, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let hi, let lo):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { bytes in
                bytes.storeBytes(of: hi.bigEndian, toByteOffset: 0, as: UInt64.self)
                bytes.storeBytes(of: lo.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            raw.storeBytes(of: sin6, as: sockaddr_in6.self)
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }
}
