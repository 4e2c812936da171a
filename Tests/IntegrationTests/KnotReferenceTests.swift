import DNSWire
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Serves the battery zone from Knot DNS (the reference for plain authoritative behaviour) and from
/// Proxima, asks both the same questions, and compares rcode, flags and sections. Names are compared
/// case-insensitively. `Scripts/test` installs Knot; without it the test fails under CI and is
/// skipped elsewhere with the reason.
final class KnotReferenceTests: XCTestCase {
    static func knotd() -> String? {
        for p in ["/usr/sbin/knotd", "/usr/bin/knotd"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return nil
    }

    /// A port free for both UDP and TCP on 127.0.0.1 right now. Drawn from below Linux's ephemeral
    /// range (32768–60999), so no outgoing connection of a parallel test can take it before knotd binds.
    static func freePort() -> UInt16 {
        for _ in 0..<200 {
            let t = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            sin.sin_port = UInt16.random(in: 20_000..<32_000).bigEndian
            let ok = withUnsafeMutablePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(t, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            let port = UInt16(bigEndian: sin.sin_port)
            close(t)
            guard ok else { continue }
            let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var sin2 = sin
            let uok = withUnsafeMutablePointer(to: &sin2) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(u, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(u)
            if uok { return port }
        }
        return 0
    }

    func testProximaAgreesWithKnot() async throws {
        guard let knotd = Self.knotd() else {
            // The reference server is a prerequisite, not optional: fail and say how to get it.
            XCTFail("knotd is not installed: run Scripts/setup --for-tests (apt-get install knot)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("knot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zone = dir.appendingPathComponent("battery.zone")
        try FileManager.default.copyItem(at: LiveServer.fixture("Tests/Fixtures/engine/battery.zone"), to: zone)
        let port = Self.freePort()
        let conf = """
        server:
            listen: 127.0.0.1@\(port)
            rundir: \(dir.path)
        database:
            storage: \(dir.path)/db
        zone:
          - domain: battery.test.
            file: \(zone.path)
            zonefile-load: whole
            journal-content: none
        log:
          - target: stderr
            any: error
        """
        try Data(conf.utf8).write(to: dir.appendingPathComponent("knot.conf"))
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: knotd)
        proc.arguments = ["-c", dir.appendingPathComponent("knot.conf").path]
        try proc.run()
        defer { proc.terminate(); proc.waitUntilExit() }
        let localhost = IPAddress("127.0.0.1")!
        let up = LiveServer.eventually(timeout: 10) {
            (try? DNSTestClient.udp("battery.test.", .soa, server: localhost, port: port))?.rcode == .noError
        }
        XCTAssertTrue(up, "knotd did not start on port \(port)")

        let live = try await LiveServer.start(config: TestConfigs.battery(),
                                              copies: ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")])
        var compared = 0
        for c in QueryBattery.cases {
            for tcp in [false, true] {
                let knot = tcp ? try DNSTestClient.tcp(c.qname, c.qtype, server: localhost, port: port)
                               : try DNSTestClient.udp(c.qname, c.qtype, server: localhost, port: port)
                let ours = tcp ? try live.tcp(c.qname, c.qtype) : try live.udp(c.qname, c.qtype)
                let label = "\(c.name) over \(tcp ? "TCP" : "UDP")"
                XCTAssertEqual(ours.rcode, knot.rcode, label)
                XCTAssertEqual(ours.header.authoritative, knot.header.authoritative, label)
                XCTAssertEqual(ours.header.truncated, knot.header.truncated, label)
                XCTAssertEqual(ours.header.recursionAvailable, knot.header.recursionAvailable, label)
                XCTAssertEqual(QueryBattery.render(ours.answerSection), QueryBattery.render(knot.answerSection), label)
                XCTAssertEqual(QueryBattery.render(ours.authoritySection), QueryBattery.render(knot.authoritySection), label)
                XCTAssertEqual(QueryBattery.render(ours.additionalSection), QueryBattery.render(knot.additionalSection), label)
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 30)
        await live.stop()
    }
}
