import DNSWire
import QueryEngine
import XCTest
@testable import ProximaConfig

/// `synthesize:`: rules decode into QueryEngine's `SynthesisRule`, and every problem is reported
/// at its file, line and key path (overlaps, rules outside every zone, reverse rules without
/// their forward rule, wrong keys).
final class SynthesizeConfigTests: XCTestCase {
    /// Lines 1-6: two zones.
    static let zones = """
        zones:
          - origin: example.test.
            file: z.zone
          - origin: 16.172.in-addr.arpa.
            file: r.zone
        synthesize:

        """

    func testDecodesForwardAndReverseRules() throws {
        let yaml = Self.zones + """
              - name: "workstation{n}.office.example.test."
                range: 1-254
                address: "172.16.2.{n}"
                ttl: 300
              - name: "ip-{ipv4}.hosts.example.test."
                within: [10.0.0.0/8]
              - name: "ip-{ipv6}.hosts.example.test."
                within: [2001:db8::/32]
              - reverse: 172.16.2.0/24
                name: "workstation{n}.office.example.test."
            """
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml))
        XCTAssertEqual(c.synthesize.count, 4)
        XCTAssertEqual(c.synthesize[0].kind, .forward(.number(range: 1...254, base: IPAddress("172.16.2.0")!)))
        XCTAssertEqual(c.synthesize[0].ttl, 300)
        XCTAssertEqual(c.synthesize[0].source.line, 7)
        XCTAssertEqual(c.synthesize[1].ttl, SynthesisRule.defaultTTL)
        XCTAssertEqual(c.synthesize[3].kind, .reverse(IPNetwork("172.16.2.0/24")!))
        XCTAssertEqual(c.synthesize[3].source.index, 3)
    }

    struct Case {
        let name: String
        let rules: String
        let line: Int
        let keyPath: String
        let message: String
    }

    static let cases: [Case] = [
        Case(name: "overlapping ranges", rules: """
              - name: "ws{n}.office.example.test."
                range: 1-100
                address: "172.16.2.{n}"
              - name: "ws{n}.office.example.test."
                range: 50-150
                address: "172.16.3.{n}"
            """, line: 10, keyPath: "synthesize[1]", message: "overlaps synthesize[0] (line 7)"),
        Case(name: "overlapping reverse networks", rules: """
              - name: "ws{n}.office.example.test."
                range: 1-100
                address: "172.16.2.{n}"
              - reverse: 172.16.2.0/24
                name: "ws{n}.office.example.test."
              - reverse: 172.16.2.0/25
                name: "ws{n}.office.example.test."
            """, line: 12, keyPath: "synthesize[2]", message: "overlaps synthesize[1] (line 10): its network overlaps"),
        Case(name: "forward rule outside every zone", rules: """
              - name: "ws{n}.office.other.test."
                range: 1-100
                address: "172.16.2.{n}"
            """, line: 7, keyPath: "synthesize[0].name", message: "is not inside any configured zone"),
        Case(name: "reverse rule outside every zone", rules: """
              - name: "ws{n}.office.example.test."
                range: 1-100
                address: "10.1.2.{n}"
              - reverse: 10.1.2.0/24
                name: "ws{n}.office.example.test."
            """, line: 10, keyPath: "synthesize[1].reverse", message: "(2.1.10.in-addr.arpa.) is not inside any configured zone"),
        Case(name: "reverse without forward rule", rules: """
              - reverse: 172.16.2.0/24
                name: "ws{n}.office.example.test."
            """, line: 7, keyPath: "synthesize[0].name", message: "no forward rule has the name"),
        Case(name: "placeholder not in the first label", rules: """
              - name: "ws.{n}.example.test."
                range: 1-9
                address: "172.16.2.{n}"
            """, line: 7, keyPath: "synthesize[0].name", message: "must be in the first label"),
        Case(name: "range missing", rules: """
              - name: "ws{n}.example.test."
                address: "172.16.2.{n}"
            """, line: 7, keyPath: "synthesize[0].range", message: "required key is missing"),
        Case(name: "range leaves the last octet", rules: """
              - name: "ws{n}.example.test."
                range: 1-300
                address: "172.16.2.{n}"
            """, line: 9, keyPath: "synthesize[0].address", message: "must stay within 0...255"),
        Case(name: "bad range", rules: """
              - name: "ws{n}.example.test."
                range: 9-1
                address: "172.16.2.{n}"
            """, line: 8, keyPath: "synthesize[0].range", message: "is not a range like 1-254"),
        Case(name: "within of the other family", rules: """
              - name: "ip-{ipv4}.example.test."
                within: [10.0.0.0/8, 2001:db8::/32]
            """, line: 8, keyPath: "synthesize[0].within[1]", message: "is not IPv4"),
        Case(name: "unknown key", rules: """
              - name: "ip-{ipv4}.example.test."
                within: [10.0.0.0/8]
                adress: "x"
            """, line: 9, keyPath: "synthesize[0].adress", message: "unknown key"),
    ]

    func testErrorsNameFileLineAndKey() {
        for c in Self.cases {
            let issues = ConfigTestSupport.issues(Self.zones + c.rules)
            let match = issues.first { $0.keyPath == c.keyPath && $0.message.contains(c.message) }
            XCTAssertNotNil(match, "\(c.name): got \(issues.map(\.description))")
            XCTAssertEqual(match?.line, c.line, c.name)
            XCTAssertEqual(match?.file, "t.yaml", c.name)
        }
    }
}
