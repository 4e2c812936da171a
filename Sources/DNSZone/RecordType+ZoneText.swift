import DNSWire

extension RecordType {
    /// Mnemonics of registered types DNSWire has no constant for (IANA "Resource Record (RR)
    /// TYPEs"). Knowing them lets a zone use the generic `\# len hex` form with the familiar name
    /// (`TLSA \# ...`) and gives a precise message when the text form is used instead.
    static let zoneExtraMnemonics: [String: UInt16] = [
        "RP": 17, "AFSDB": 18, "LOC": 29, "NAPTR": 35, "KX": 36, "CERT": 37, "APL": 42, "SSHFP": 44,
        "IPSECKEY": 45, "DHCID": 49, "NSEC3": 50, "NSEC3PARAM": 51, "TLSA": 52, "SMIMEA": 53,
        "HIP": 55, "CDS": 59, "CDNSKEY": 60, "OPENPGPKEY": 61, "CSYNC": 62, "ZONEMD": 63, "SVCB": 64,
        "HTTPS": 65, "SPF": 99, "EUI48": 108, "EUI64": 109, "URI": 256,
    ]

    /// Parses a type as written in a master file: a DNSWire mnemonic, `TYPEnnn` (RFC 3597 §5), or
    /// one of `zoneExtraMnemonics`.
    init?(zoneText text: String) {
        if let t = RecordType(mnemonic: text) {
            self = t
        } else if let v = RecordType.zoneExtraMnemonics[text.uppercased()] {
            self.init(rawValue: v)
        } else {
            return nil
        }
    }

    /// Types whose presentation format DNSZone parses into typed `RData`.
    var hasTypedText: Bool {
        switch self {
        case .a, .aaaa, .ns, .cname, .ptr, .soa, .mx, .txt, .srv, .caa: return true
        default: return false
        }
    }
}
