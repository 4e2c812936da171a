import DNSWire
import Foundation

/// One query and the answer an RFC-correct authoritative server gives for it, against
/// Tests/Fixtures/engine/battery.zone. The same table runs against the engine in memory, against
/// the live server over UDP and TCP, and against Knot. Cases where Proxima differs from Knot by
/// design (ANY, AXFR over UDP, ECS echo) are tested in ProtocolEdgeTests instead.
struct BatteryCase {
    var name: String
    var qname: String
    var qtype: RecordType
    var rcode: ResponseCode
    var aa: Bool
    /// Records as `owner ttl TYPE rdata`, compared case-insensitively and order-insensitively.
    var answer: [String] = []
    var authority: [String] = []
    var additional: [String] = []
}

enum QueryBattery {
    static let soa = "battery.test. 300 SOA ns1.battery.test. hostmaster.battery.test. 2026112201 7200 3600 1209600 300"

    static let cases: [BatteryCase] = [
        BatteryCase(name: "RFC1034_4_3_2_exactMatch", qname: "www.battery.test.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["www.battery.test. 3600 A 192.0.2.10"]),
        BatteryCase(name: "RFC1034_4_3_2_aaaa", qname: "www.battery.test.", qtype: .aaaa, rcode: .noError, aa: true,
                    answer: ["www.battery.test. 3600 AAAA 2001:db8::10"]),
        BatteryCase(name: "RFC4343_caseInsensitiveMatch", qname: "WwW.BaTtErY.TeSt.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["www.battery.test. 3600 A 192.0.2.10"]),
        BatteryCase(name: "RFC1034_4_3_2_cnameFollowedInZone", qname: "alias.battery.test.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["alias.battery.test. 3600 CNAME www.battery.test.", "www.battery.test. 3600 A 192.0.2.10"]),
        BatteryCase(name: "RFC1034_4_3_2_cnameChainTwoHops", qname: "alias2.battery.test.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["alias2.battery.test. 3600 CNAME alias.battery.test.",
                             "alias.battery.test. 3600 CNAME www.battery.test.", "www.battery.test. 3600 A 192.0.2.10"]),
        BatteryCase(name: "RFC1034_4_3_2_cnameOutOfZoneReturnedAsIs", qname: "ext.battery.test.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["ext.battery.test. 3600 CNAME www.example.org."]),
        BatteryCase(name: "RFC1034_3_6_2_cnameAskedDirectly", qname: "alias.battery.test.", qtype: .cname, rcode: .noError, aa: true,
                    answer: ["alias.battery.test. 3600 CNAME www.battery.test."]),
        BatteryCase(name: "RFC1034_cnameLoopBounded", qname: "loop1.battery.test.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["loop1.battery.test. 3600 CNAME loop2.battery.test.", "loop2.battery.test. 3600 CNAME loop1.battery.test."]),
        BatteryCase(name: "RFC2308_2_2_noDataWithSOA", qname: "www.battery.test.", qtype: .mx, rcode: .noError, aa: true,
                    authority: [soa]),
        BatteryCase(name: "RFC2308_2_1_nxDomainWithSOA", qname: "nope.battery.test.", qtype: .a, rcode: .nxDomain, aa: true,
                    authority: [soa]),
        BatteryCase(name: "RFC8020_emptyNonTerminalIsNoData", qname: "b.ent.battery.test.", qtype: .txt, rcode: .noError, aa: true,
                    authority: [soa]),
        BatteryCase(name: "RFC4592_3_3_1_wildcardSynthesis", qname: "x.wild.battery.test.", qtype: .a, rcode: .noError, aa: true,
                    answer: ["x.wild.battery.test. 3600 A 192.0.2.99"]),
        BatteryCase(name: "RFC4592_2_2_1_existingNameBeatsWildcard", qname: "exists.wild.battery.test.", qtype: .a, rcode: .noError,
                    aa: true, authority: [soa]),
        BatteryCase(name: "RFC4592_2_2_1_noWildcardBelowExistingName", qname: "a.exists.wild.battery.test.", qtype: .a,
                    rcode: .nxDomain, aa: true, authority: [soa]),
        BatteryCase(name: "RFC1034_4_3_2_referralWithGlue", qname: "host.sub.battery.test.", qtype: .a, rcode: .noError, aa: false,
                    authority: ["sub.battery.test. 3600 NS ns.sub.battery.test."],
                    additional: ["ns.sub.battery.test. 3600 A 192.0.2.77"]),
        BatteryCase(name: "RFC1034_4_3_2_referralAtCut", qname: "sub.battery.test.", qtype: .ns, rcode: .noError, aa: false,
                    authority: ["sub.battery.test. 3600 NS ns.sub.battery.test."],
                    additional: ["ns.sub.battery.test. 3600 A 192.0.2.77"]),
        BatteryCase(name: "RFC1034_4_3_2_step6_mxAdditional", qname: "battery.test.", qtype: .mx, rcode: .noError, aa: true,
                    answer: ["battery.test. 3600 MX 10 mail.battery.test."],
                    additional: ["mail.battery.test. 3600 A 192.0.2.25"]),
        BatteryCase(name: "RFC1034_4_3_2_step6_nsAdditional", qname: "battery.test.", qtype: .ns, rcode: .noError, aa: true,
                    answer: ["battery.test. 3600 NS ns1.battery.test.", "battery.test. 3600 NS ns2.battery.test."],
                    additional: ["ns1.battery.test. 3600 A 192.0.2.53", "ns2.battery.test. 3600 A 198.51.100.53"]),
        BatteryCase(name: "RFC1035_3_3_13_soa", qname: "battery.test.", qtype: .soa, rcode: .noError, aa: true,
                    answer: ["battery.test. 3600 SOA ns1.battery.test. hostmaster.battery.test. 2026112201 7200 3600 1209600 300"]),
        BatteryCase(name: "RFC1035_3_3_14_txtMultiString", qname: "txt.battery.test.", qtype: .txt, rcode: .noError, aa: true,
                    answer: ["txt.battery.test. 3600 TXT \"hello\" \"world\" \"with \\\"quotes\\\" and \\\\ backslash\""]),
        BatteryCase(name: "RFC2782_srvWithAdditional", qname: "_sip._udp.battery.test.", qtype: .srv, rcode: .noError, aa: true,
                    answer: ["_sip._udp.battery.test. 3600 SRV 10 5 5060 www.battery.test."],
                    additional: ["www.battery.test. 3600 A 192.0.2.10", "www.battery.test. 3600 AAAA 2001:db8::10"]),
        BatteryCase(name: "RFC8659_caa", qname: "_sip._udp.battery.test.", qtype: .caa, rcode: .noError, aa: true,
                    answer: ["_sip._udp.battery.test. 3600 CAA 0 issue \"ca.example.net\""]),
        BatteryCase(name: "RFC3597_unknownTypeOpaque", qname: "opaque.battery.test.", qtype: RecordType(rawValue: 65280),
                    rcode: .noError, aa: true, answer: ["opaque.battery.test. 3600 TYPE65280 \\# 4 0A000001"]),
        BatteryCase(name: "notAuthoritativeIsRefused", qname: "www.example.org.", qtype: .a, rcode: .refused, aa: false),
    ]

    /// Records rendered for comparison: lowercased `owner ttl TYPE rdata` without the class.
    static func render(_ rrs: [ResourceRecord]) -> [String] {
        rrs.map { "\($0.name) \($0.ttl) \($0.type) \($0.rdata)".lowercased() }.sorted()
    }

    static func normalize(_ lines: [String]) -> [String] { lines.map { $0.lowercased() }.sorted() }

    /// Differences between a response and the expectation; empty when they agree.
    static func differences(_ c: BatteryCase, _ m: Message, checkAdditional: Bool = true) -> [String] {
        var d: [String] = []
        if m.rcode != c.rcode { d.append("rcode \(m.rcode) != \(c.rcode)") }
        if m.header.authoritative != c.aa { d.append("AA \(m.header.authoritative) != \(c.aa)") }
        if !m.header.isResponse { d.append("QR not set") }
        if m.header.recursionAvailable { d.append("RA set") }
        if render(m.answerSection) != normalize(c.answer) { d.append("answer \(render(m.answerSection)) != \(normalize(c.answer))") }
        if render(m.authoritySection) != normalize(c.authority) {
            d.append("authority \(render(m.authoritySection)) != \(normalize(c.authority))")
        }
        if checkAdditional && render(m.additionalSection) != normalize(c.additional) {
            d.append("additional \(render(m.additionalSection)) != \(normalize(c.additional))")
        }
        return d
    }
}
