import DNSWire

/// The `nameserver` lines of a resolv.conf (resolv.conf(5)): what `upstreams: [from-resolv-conf]`
/// forwards to.
public enum ResolvConf {
    /// The addresses of `nameserver` lines, in order, without duplicates. Comments (`#`, `;`),
    /// other keywords and malformed addresses are skipped; an IPv6 zone index (`fe80::1%eth0`)
    /// is skipped too (we cannot bind a scope from here). Port is always 53 (resolv.conf has none).
    public static func nameservers(_ text: String) -> [IPAddress] {
        var out: [IPAddress] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver", !fields[1].hasPrefix("#"),
                  let a = IPAddress(fields[1]), !out.contains(a) else { continue }
            out.append(a)
        }
        return out
    }

    /// The upstreams `nameservers` yields once our own listen addresses are removed: forwarding
    /// to ourselves would loop. A listen address of 0.0.0.0 / :: on port 53 means every local
    /// address of that family: `localAddresses` (the host's interface addresses) and loopback.
    public static func upstreams(_ text: String, excluding listen: [(address: IPAddress, port: Int)],
                                 localAddresses: Set<IPAddress> = []) -> [(IPAddress, Int)] {
        nameservers(text).compactMap { a in
            for l in listen where l.port == 53 {
                if l.address == a { return nil }
                let unspecified = l.address == .v4(0) || l.address == .v6(0, 0)
                if unspecified, l.address.family == a.family, localAddresses.contains(a) || isLoopback(a) { return nil }
            }
            return (a, 53)
        }
    }

    static func isLoopback(_ a: IPAddress) -> Bool {
        switch a {
        case .v4(let v): return v >> 24 == 127
        case .v6(let hi, let lo): return hi == 0 && lo == 1
        }
    }
}
