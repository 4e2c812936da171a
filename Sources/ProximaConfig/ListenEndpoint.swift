import DNSWire

/// A socket address to listen on: an IP address and a port (0 = ephemeral, as tests use).
///
/// Text forms are `a.b.c.d:port` and `[ipv6]:port` (RFC 3986 §3.2.2 brackets); host names are
/// not accepted, so the config never depends on a resolver.
public struct ListenEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The address to bind.
    public var address: IPAddress
    /// The port, 0...65535; 0 asks the kernel for an ephemeral port.
    public var port: Int

    /// The DNS default, `127.0.0.1:5353`.
    public static let defaultDNS = ListenEndpoint(address: .v4(0x7f00_0001), port: 5353)
    /// The admin API default, `127.0.0.1:8053`.
    public static let defaultAdmin = ListenEndpoint(address: .v4(0x7f00_0001), port: 8053)

    /// Creates an endpoint from parts (port is not range-checked here; the parser checks it).
    public init(address: IPAddress, port: Int) {
        self.address = address
        self.port = port
    }

    /// Parses `a.b.c.d:port` or `[ipv6]:port`; nil for anything else, including a missing port,
    /// an unbracketed IPv6 address or a port outside 0...65535.
    public init?(_ text: some StringProtocol) {
        let s = Substring(text)
        let hostPart: Substring
        let portPart: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            hostPart = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
            guard hostPart.contains(":") else { return nil }
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            hostPart = s[s.startIndex..<colon]
            portPart = s[s.index(after: colon)...]
            guard !hostPart.contains(":") else { return nil }
        }
        guard !portPart.isEmpty, portPart.count <= 5,
              portPart.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let port = Int(portPart), port <= 65535,
              let address = IPAddress(hostPart) else { return nil }
        self.init(address: address, port: port)
    }

    /// `127.0.0.1:5353` or `[::1]:5353`.
    public var description: String {
        switch address {
        case .v4: return "\(address):\(port)"
        case .v6: return "[\(address)]:\(port)"
        }
    }

    /// True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
    public var isLoopback: Bool {
        switch address {
        case .v4(let a): return a >> 24 == 127
        case .v6(let hi, let lo):
            if hi == 0 && lo == 1 { return true }
            if let v4 = address.mappedIPv4, case .v4(let a) = v4 { return a >> 24 == 127 }
            return false
        }
    }
}
