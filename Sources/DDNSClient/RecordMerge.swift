import DDNS
import DNSWire

/// How `proxima ddns update` changes a silo: the named hostnames get the new addresses, every
/// other record stays as it was. Pure.
public enum RecordMerge {
    /// At most one IPv4 and one IPv6 address, the first of each family (IPv4-mapped IPv6 counts
    /// as IPv4), IPv4 first.
    public static func perFamily(_ addresses: [IPAddress]) -> [IPAddress] {
        let normalized = addresses.map { $0.mappedIPv4 ?? $0 }
        let v4 = normalized.first { $0.family == 1 }
        let v6 = normalized.first { $0.family == 2 }
        return [v4, v6].compactMap { $0 }
    }

    /// `current` with, for each hostname, the record of each family in `addresses` replaced (its
    /// TTL kept) or added (with `ttl`, nil meaning the server's default). Records of a family
    /// not in `addresses` are kept: `GET /ip` reports one family only, and that is no reason to
    /// delete the other. Hostnames compare case-insensitively. Records of other hostnames keep
    /// their order; new records follow, in the order of `hostnames`.
    public static func merged(current: [DDNSRecord], hostnames: [String], addresses: [IPAddress], ttl: UInt32? = nil) -> [DDNSRecord] {
        let wanted = perFamily(addresses)
        var out: [DDNSRecord] = []
        var done = Set<String>()
        let names = hostnames.map { $0.lowercased() }
        for record in current {
            let name = record.hostname.lowercased()
            guard names.contains(name) else {
                out.append(record)
                continue
            }
            let family = (record.address.mappedIPv4 ?? record.address).family
            guard let address = wanted.first(where: { $0.family == family }) else {
                out.append(record)
                continue
            }
            let key = "\(name)/\(family)"
            // A second record of the same name and family (which the server should not have
            // accepted) is dropped: the name gets exactly one address per family.
            guard done.insert(key).inserted else { continue }
            out.append(DDNSRecord(hostname: record.hostname, address: address, ttl: record.ttl))
        }
        for name in names {
            for address in wanted where !done.contains("\(name)/\(address.family)") {
                done.insert("\(name)/\(address.family)")
                out.append(DDNSRecord(hostname: name, address: address, ttl: ttl))
            }
        }
        return out
    }
}
