import QueryEngine
import XCTest
@testable import ProximaConfig

/// The operations keys (issue #11): `log`, `lock_file`, `user`, `group`, `identity`.
final class OperationsConfigTests: XCTestCase {
    func testDefaults() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly))
        XCTAssertEqual(c.log, LogSettings(target: .stderr, format: .text))
        XCTAssertEqual(c.process, ProcessSettings(lockFile: nil, user: nil, group: nil))
        XCTAssertNil(c.identity, "no identity: no NSID, CHAOS refused")
    }

    func testValues() throws {
        let c = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + """

            log: {target: file, path: ../log/proxima.log, format: json}
            lock_file: /run/proxima/serve.lock
            user: proxima
            group: dns
            identity: {id: ns1-fra, version: "proxima 1.0"}
            """))
        XCTAssertEqual(c.log, LogSettings(target: .file("/etc/log/proxima.log"), format: .json))
        XCTAssertEqual(c.process, ProcessSettings(lockFile: "/run/proxima/serve.lock", user: "proxima", group: "dns"))
        XCTAssertEqual(c.identity, ServerIdentity(id: Array("ns1-fra".utf8), version: Array("proxima 1.0".utf8)))

        let j = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly + "\nlog: {target: journald}\nidentity: {id: a}\n"))
        XCTAssertEqual(j.log.target, .journald(socket: "/run/systemd/journal/socket"))
        XCTAssertEqual(j.identity, ServerIdentity(id: [UInt8(ascii: "a")], version: nil), "version defaults to hide")
        let h = try XCTUnwrap(ConfigTestSupport.load(ConfigTestSupport.zoneOnly
            + "\nlog: {target: journald, journal_socket: /tmp/j.sock}\nidentity: {id: a, version: hide}\n"))
        XCTAssertEqual(h.log.target, .journald(socket: "/tmp/j.sock"))
        XCTAssertNil(h.identity?.version)
    }

    func testErrorsNameLineAndKeyPath() {
        let zone = ConfigTestSupport.zoneOnly + "\n"   // lines 1-3
        let long = String(repeating: "x", count: 256)
        let cases: [(String, ConfigIssue.Code, Int, String)] = [
            ("log:\n  target: syslog\n", .invalidValue, 5, "log.target"),
            ("log:\n  target: file\n", .missingKey, 5, "log.path"),
            ("log:\n  format: xml\n", .invalidValue, 5, "log.format"),
            ("log:\n  path: /tmp/x.log\n", .conflict, 5, "log.path"),
            ("log:\n  target: stderr\n  journal_socket: /tmp/j\n", .conflict, 6, "log.journal_socket"),
            ("log:\n  level: debug\n", .unknownKey, 5, "log.level"),
            ("user: root\n", .invalidValue, 4, "user"),
            ("user: \"bad name\"\n", .invalidValue, 4, "user"),
            ("group: dns\n", .missingKey, 4, "user"),
            ("identity:\n  version: hide\n", .missingKey, 5, "identity.id"),
            ("identity:\n  id: \"\"\n", .invalidValue, 5, "identity.id"),
            ("identity:\n  id: \(long)\n", .invalidValue, 5, "identity.id"),
            ("identity:\n  id: a\n  version: \"caf\\u00e9\"\n", .invalidValue, 6, "identity.version"),
            ("identity:\n  id: a\n  name: b\n", .unknownKey, 6, "identity.name"),
            ("lock_file: \"\"\n", .invalidValue, 4, "lock_file"),
        ]
        ConfigTestSupport.assertSingleIssues(cases, prefix: zone)
    }
}
