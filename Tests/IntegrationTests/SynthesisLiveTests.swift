import DNSWire
import Foundation
import XCTest

/// `synthesize:` against the real server over UDP and TCP on loopback, and through the
/// `proxima check` / `proxima explain` commands.
final class SynthesisLiveTests: XCTestCase {
    static let forwardZone = """
        $ORIGIN example.test.
        $TTL 300
        @     SOA ns1 hostmaster 1 7200 3600 1209600 60
              NS  ns1
        ns1   A   192.0.2.53
        workstation7.office A 192.0.2.7
        sub   NS  ns.elsewhere.example.
        """
    static let reverseZone = """
        $ORIGIN 2.16.172.in-addr.arpa.
        @  SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 60
           NS  ns1.example.test.
        """

    static func config(listen: Bool = true) -> String {
        """
        \(listen ? "listen:\n  - 127.0.0.1:0\nudp_threads: 2\n" : "")log_level: warning
        zones:
          - origin: example.test.
            file: example.zone
          - origin: 2.16.172.in-addr.arpa.
            file: reverse.zone
        synthesize:
          - name: "workstation{n}.office.example.test."
            range: 1-254
            address: "172.16.2.{n}"
            ttl: 300
          - name: "ip-{ipv6}.hosts.example.test."
            within: ["2001:db8::/32"]
          - reverse: 172.16.2.0/24
            name: "workstation{n}.office.example.test."
        """
    }

    static let files = ["example.zone": forwardZone, "reverse.zone": reverseZone]

    /// (name, type, rcode, answers as presentation text).
    static let cases: [(String, RecordType, ResponseCode, [String])] = [
        ("workstation42.office.example.test.", .a, .noError, ["172.16.2.42"]),
        ("WORKSTATION42.Office.example.test.", .a, .noError, ["172.16.2.42"]),
        ("workstation042.office.example.test.", .a, .nxDomain, []),
        ("workstation255.office.example.test.", .a, .nxDomain, []),
        ("workstation42.office.example.test.", .txt, .noError, []),
        ("a.workstation42.office.example.test.", .a, .nxDomain, []),
        ("workstation7.office.example.test.", .a, .noError, ["192.0.2.7"]),
        ("ip-2001-db8--5.hosts.example.test.", .aaaa, .noError, ["2001:db8::5"]),
        ("ip-2001-db8-0-0-0-0-0-5.hosts.example.test.", .aaaa, .nxDomain, []),
        ("42.2.16.172.in-addr.arpa.", .ptr, .noError, ["workstation42.office.example.test."]),
        ("7.2.16.172.in-addr.arpa.", .ptr, .nxDomain, []),
    ]

    func check(_ m: Message, _ c: (String, RecordType, ResponseCode, [String]), _ how: String) {
        let what = "\(how) \(c.0) \(c.1)"
        XCTAssertEqual(m.rcode, c.2, what)
        XCTAssertEqual(m.answerSection.map { $0.rdata.description }, c.3, what)
        XCTAssertEqual(m.questions.first?.name.description, c.0, "\(what): question echoed as asked")
        for rr in m.answerSection { XCTAssertEqual(rr.name.description, c.0, "\(what): answered with the question's case") }
        if c.3.isEmpty { XCTAssertEqual(m.authoritySection.map(\.type), [.soa], "\(what): SOA for negative answers") }
    }

    func testSynthesizedNamesOverUDPAndTCP() async throws {
        let live = try await LiveServer.start(config: Self.config(), files: Self.files)
        defer { Task { await live.stop() } }
        for c in Self.cases {
            check(try live.udp(c.0, c.1), c, "UDP")
            check(try live.udp(c.0, c.1, edns: nil), c, "UDP without EDNS")
            check(try live.udp(c.0, c.1), c, "UDP again")
            check(try live.tcp(c.0, c.1), c, "TCP")
        }
        await live.stop()
    }

    func testExplainNamesTheRuleAndItsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-explain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in Self.files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let configPath = dir.appendingPathComponent("proxima.yaml").path
        try Data(Self.config(listen: false).utf8).write(to: URL(fileURLWithPath: configPath))

        let (status, out, err) = try ServerProcess.run(["explain", "workstation9.office.example.test", "A", "--config", configPath])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("synthesize[0]"), out)
        XCTAssertTrue(out.contains("proxima.yaml:8)"), out)
        XCTAssertTrue(out.contains("172.16.2.9"), out)

        let (s2, json, err2) = try ServerProcess.run(["explain", "host.sub.example.test", "--json", "--config", configPath])
        XCTAssertEqual(s2, 0, err2)
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let steps = doc?["steps"] as? [[String: Any]]
        XCTAssertEqual(steps?.first?["kind"] as? String, "delegation", json)

        let (s3, out3, _) = try ServerProcess.run(["explain", "7.2.16.172.in-addr.arpa", "PTR", "--config", configPath])
        XCTAssertEqual(s3, 0)
        XCTAssertTrue(out3.contains("NXDOMAIN"), out3)
        XCTAssertTrue(out3.contains("synthesize[2]"), out3)
    }

    func testCheckReportsOverlapsAndRulesOutsideZones() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in Self.files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let configPath = dir.appendingPathComponent("bad.yaml").path
        try Data((Self.config(listen: false) + """

              - name: "workstation{n}.office.example.test."
                range: 200-250
                address: "10.0.0.{n}"
              - name: "host{n}.other.test."
                range: 1-2
                address: "10.0.1.{n}"
            """).utf8).write(to: URL(fileURLWithPath: configPath))
        let (status, out, err) = try ServerProcess.run(["check", "--config", configPath])
        let lines = (out + err).split(separator: "\n").map { $0.replacingOccurrences(of: dir.path + "/", with: "") }
        XCTAssertEqual(status, 1)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("bad.yaml:16: synthesize[3]: overlaps synthesize[0] (line 8)") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("bad.yaml:19: synthesize[4].name: 'host{n}.other.test.' is not inside any configured zone") }, text)
    }

    /// A rule that zone data hides entirely (here: below a zone cut) loads, with a warning.
    func testCheckWarnsAboutRulesTheZoneHides() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in Self.files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let configPath = dir.appendingPathComponent("ok.yaml").path
        try Data((Self.config(listen: false) + """

              - name: "host{n}.sub.example.test."
                range: 1-9
                address: "10.0.2.{n}"
            """).utf8).write(to: URL(fileURLWithPath: configPath))
        let (status, out, err) = try ServerProcess.run(["check", "--config", configPath])
        let text = (out + err).replacingOccurrences(of: dir.path + "/", with: "")
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("warning: ok.yaml:16: synthesize[3].name: names under sub.example.test. are below the zone cut sub.example.test."), text)
    }
}
