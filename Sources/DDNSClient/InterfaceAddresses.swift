import DNSWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The addresses of a local network interface (for `--ip-from interface:NAME`), read with
/// getifaddrs(3).
public enum InterfaceAddresses {
    /// True for loopback (127.0.0.0/8, ::1) and link-local (169.254.0.0/16, fe80::/10)
    /// addresses: not reachable from elsewhere, so not reported unless asked for.
    public static func isLocalOnly(_ address: IPAddress) -> Bool {
        switch address.mappedIPv4 ?? address {
        case .v4(let a):
            return a >> 24 == 127 || a >> 16 == 0xA9FE
        case .v6(let hi, let lo):
            return (hi == 0 && lo == 1) || (hi >> 54) == (0xFE80 >> 6)
        }
    }

    /// Every IPv4 and IPv6 address of interface `name`, in the kernel's order, without
    /// loopback and link-local ones unless `includeLocal`. Throws `.usage` when there is no such
    /// interface.
    public static func addresses(of name: String, includeLocal: Bool) throws(DDNSClientError) -> [IPAddress] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else {
            throw DDNSClientError(.usage, "getifaddrs: \(String(cString: strerror(errno)))")
        }
        defer { freeifaddrs(head) }
        var found = false
        var out: [IPAddress] = []
        var cursor = head
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let cName = entry.pointee.ifa_name, String(cString: cName) == name else { continue }
            found = true
            guard let sa = entry.pointee.ifa_addr else { continue }
            var address: IPAddress?
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                address = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    IPAddress.v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
                }
            case AF_INET6:
                address = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { IPAddress(bytes: $0) }
                }
            default:
                break
            }
            guard let address, includeLocal || !isLocalOnly(address) else { continue }
            if !out.contains(address) { out.append(address) }
        }
        guard found else { throw DDNSClientError(.usage, "there is no network interface named '\(name)'") }
        return out
    }
}
