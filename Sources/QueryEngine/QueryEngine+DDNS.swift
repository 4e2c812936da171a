import DNSWire
import DNSZone

/// What the DDNS step decided for one name.
enum DynamicStep {
    /// The response is complete.
    case done
    /// Not a DDNS name: the zone's data answers.
    case zone
    /// The zone answers, but a name error (or a wildcard answer) becomes NODATA: the name exists
    /// through DDNS records at or below it.
    case zoneOrNoData
}

extension QueryEngine {
    /// Answers `name` from the DDNS table when it holds records there (issue #9, "Model"):
    ///
    /// - `host.silo.<ddns zone>`: A/AAAA from the silo's record; every other type NODATA.
    /// - `silo.<ddns zone>` while the silo has records, and ancestors of absolute names:
    ///   empty non-terminals (NODATA, not NXDOMAIN; RFC 8020).
    /// - an absolute name in an `allow_names_in` zone: its A/AAAA replace the zone file's at that
    ///   name; other types are the zone's (NODATA when it has none).
    ///
    /// Negative answers carry the zone's SOA (RFC 2308 §3); in the DDNS zone its serial is then
    /// rewritten by `patchSerials`.
    static func dynamicAnswer(name: DomainName, type: RecordType, table: DDNSTable, zone: Zone,
                              into res: inout Resolution) -> DynamicStep {
        switch table.lookup(name, zone: zone.origin) {
        case .none:
            return .zone
        case .emptyNonTerminal:
            return .zoneOrNoData
        case .records(let addresses, let silo, let hostname):
            let inDDNSZone = zone.origin == table.settings.zone
            var rrs: [ResourceRecord]
            switch type {
            case .a, .aaaa:
                rrs = table.records(addresses, type: type, owner: name)
            case .any:
                rrs = table.records(addresses, type: .a, owner: name) + table.records(addresses, type: .aaaa, owner: name)
                if !inDDNSZone, case .answer(let zoneRRs, false) = zone.lookup(name, .any) {
                    rrs += zoneRRs.filter { $0.type != .a && $0.type != .aaaa }
                }
                if res.transport == .udp { rrs = minimalANY(rrs) }
            default:
                guard inDDNSZone else {
                    res.note(name, .ddns(zone: zone.origin, silo: silo, hostname: hostname, records: 0))
                    return .zoneOrNoData
                }
                rrs = []
            }
            res.note(name, .ddns(zone: zone.origin, silo: silo, hostname: hostname, records: rrs.count))
            if rrs.isEmpty {
                res.authority = [negativeSOA(zone)]
            } else {
                res.answers += rrs
            }
            return .done
        }
    }

    /// Every SOA of the DDNS zone in the response gets the serial that follows the table's
    /// version, so secondaries and caches see each committed change (issue #9).
    static func patchSerials(_ res: inout Resolution, ddns: DDNSTable) {
        func patch(_ rrs: inout [ResourceRecord]) {
            for i in rrs.indices {
                guard case .soa(var d) = rrs[i].rdata, rrs[i].name == ddns.settings.zone else { continue }
                d.serial = ddns.serial(base: d.serial)
                rrs[i].rdata = .soa(d)
            }
        }
        patch(&res.answers)
        patch(&res.authority)
    }
}
