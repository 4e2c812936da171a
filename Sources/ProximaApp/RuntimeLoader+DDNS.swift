import DNSWire
import DNSZone
import ProximaConfig

extension RuntimeLoader {
    /// The SOA timers of a generated DDNS zone (one without a zone file, `ddns.nameservers`).
    /// Secondaries are not expected (the records live in the store, and every node reads it), so
    /// refresh/retry/expire are conventional values (RFC 1912 §2.2); MINIMUM, the negative-caching
    /// TTL (RFC 2308 §4), is short because names appear whenever a silo writes them.
    public enum GeneratedDDNSZone {
        public static let soaTTL: UInt32 = 3600
        public static let nsTTL: UInt32 = 3600
        /// The serial before any change; the served serial is this plus the store's version.
        public static let serial: UInt32 = 0
        public static let refresh: UInt32 = 3600
        public static let retry: UInt32 = 600
        public static let expire: UInt32 = 1_209_600
        public static let minimum: UInt32 = 60
    }

    /// The zone generated for `ddns.zone`: SOA (MNAME the first name server, RNAME `hostmaster`
    /// or `hostmaster.<zone>`) and one NS record per `ddns.nameservers`.
    static func generatedDDNSZone(_ s: DDNSSettings) throws(ZoneError) -> Zone {
        let g = GeneratedDDNSZone.self
        let rname = s.hostmaster ?? ((try? s.zone.prepending(label: Array("hostmaster".utf8))) ?? s.zone)
        let soa = SOAData(mname: s.nameservers[0], rname: rname, serial: g.serial, refresh: g.refresh, retry: g.retry,
                          expire: g.expire, minimum: g.minimum)
        var records = [ResourceRecord(name: s.zone, ttl: g.soaTTL, rdata: .soa(soa))]
        records += s.nameservers.map { ResourceRecord(name: s.zone, ttl: g.nsTTL, rdata: .ns($0)) }
        return try Zone(origin: s.zone, records: records, file: "ddns.zone (generated)")
    }
}
