import DNSWire

/// One entry of the IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890), or of the
/// multicast space, that the ipstack fallback must never be asked about.
public struct SpecialPurposeBlock: Sendable, Hashable {
    /// The reserved network.
    public let network: IPNetwork
    /// The registry's name for it.
    public let name: String
    /// The defining document.
    public let reference: String

    init(_ cidr: String, _ name: String, _ reference: String) {
        // The table below is a compile-time constant; every literal parses (checked by a test).
        network = IPNetwork(cidr) ?? IPNetwork(address: .v4(0), prefixLength: 32)
        self.name = name
        self.reference = reference
    }

    /// The IPv4 blocks: IANA IPv4 Special-Purpose Address Registry plus multicast (RFC 5771).
    public static let ipv4: [SpecialPurposeBlock] = [
        .init("0.0.0.0/8", "This network", "RFC 791"),
        .init("10.0.0.0/8", "Private-Use", "RFC 1918"),
        .init("100.64.0.0/10", "Shared Address Space (CGNAT)", "RFC 6598"),
        .init("127.0.0.0/8", "Loopback", "RFC 1122"),
        .init("169.254.0.0/16", "Link Local", "RFC 3927"),
        .init("172.16.0.0/12", "Private-Use", "RFC 1918"),
        .init("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890"),
        .init("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
        .init("192.31.196.0/24", "AS112-v4", "RFC 7535"),
        .init("192.52.193.0/24", "AMT", "RFC 7450"),
        .init("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
        .init("192.168.0.0/16", "Private-Use", "RFC 1918"),
        .init("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
        .init("198.18.0.0/15", "Benchmarking", "RFC 2544"),
        .init("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
        .init("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
        .init("224.0.0.0/4", "Multicast", "RFC 5771"),
        .init("240.0.0.0/4", "Reserved (includes Limited Broadcast)", "RFC 1112, RFC 919"),
    ]

    /// The IPv6 blocks: IANA IPv6 Special-Purpose Address Registry plus multicast (RFC 4291) and
    /// the deprecated site-local space (RFC 3879).
    public static let ipv6: [SpecialPurposeBlock] = [
        .init("::/128", "Unspecified Address", "RFC 4291"),
        .init("::1/128", "Loopback Address", "RFC 4291"),
        .init("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291"),
        .init("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052"),
        .init("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "RFC 8215"),
        .init("100::/64", "Discard-Only Address Block", "RFC 6666"),
        .init("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
        .init("2001::/23", "IETF Protocol Assignments (TEREDO, benchmarking, ORCHID, AMT, AS112)",
              "RFC 2928"),
        .init("2001:db8::/32", "Documentation", "RFC 3849"),
        .init("2002::/16", "6to4", "RFC 3056"),
        .init("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
        .init("3fff::/20", "Documentation", "RFC 9637"),
        .init("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
        .init("fc00::/7", "Unique-Local", "RFC 4193"),
        .init("fe80::/10", "Link-Local Unicast", "RFC 4291"),
        .init("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
        .init("ff00::/8", "Multicast", "RFC 4291"),
    ]
}

extension IPAddress {
    /// The special-purpose block this address falls in, if any (see ``SpecialPurposeBlock``).
    public var specialPurposeBlock: SpecialPurposeBlock? {
        let table: [SpecialPurposeBlock]
        switch self {
        case .v4: table = SpecialPurposeBlock.ipv4
        case .v6: table = SpecialPurposeBlock.ipv6
        }
        for block in table where block.network.contains(self) {
            return block
        }
        return nil
    }

    /// True for addresses that identify no public client location: private, loopback,
    /// link-local, CGNAT, multicast, documentation, benchmarking, ULA, unspecified and every other
    /// entry of the IANA special-purpose registries (RFC 6890). Such addresses are never sent to
    /// the ipstack API.
    public var isSpecialPurpose: Bool { specialPurposeBlock != nil }
}
