import ProximaConfig
import XCTest

/// The DDNS client config file (`proxima ddns update|hosts --config`) and the value rules the
/// command line shares with it.
final class DDNSClientConfigTests: XCTestCase {
    func testFullFile() throws {
        let yaml = """
            server: https://ns1.example.test:8054/
            silo: Home
            token_file: home.token
            hostnames: [gw, www.example.test.]
            ip_from: interface:eth0
            include_local: false
            interval: 2m
            state_file: /var/lib/proxima/state.json
            hosts_file: hosts
            zone: dyn.example.test.
            attempts: 5
            timeout: 3s
            """
        let s = try DDNSClientConfigLoader.load(yaml: yaml, file: "/etc/proxima/client.yaml").get()
        XCTAssertEqual(s.server, "https://ns1.example.test:8054")
        XCTAssertEqual(s.silo, "home")
        XCTAssertEqual(s.tokenFile, "/etc/proxima/home.token")
        XCTAssertEqual(s.hostnames, ["gw", "www.example.test."])
        XCTAssertEqual(s.ipFrom, .interface("eth0"))
        XCTAssertEqual(s.interval, .seconds(120))
        XCTAssertEqual(s.hostsFile, "/etc/proxima/hosts")
        XCTAssertEqual(s.zone, "dyn.example.test")
        XCTAssertEqual(s.attempts, 5)
        XCTAssertEqual(s.timeout, .seconds(3))
        XCTAssertEqual(try DDNSClientConfigLoader.load(yaml: "hostnames: gw", file: "c.yaml").get().hostnames, ["gw"])
        XCTAssertEqual(try DDNSClientConfigLoader.load(yaml: "", file: "c.yaml").get(), DDNSClientFileSettings())
    }

    func testEveryBadValueIsReportedWithLineAndKey() {
        let yaml = """
            server: ftp://x
            silo: -bad
            hostnames: [ok, "a b", ok]
            ip_from: eth0
            interval: 0s
            attempts: 99
            once: true
            tokn_file: x
            """
        guard case .failure(let error) = DDNSClientConfigLoader.load(yaml: yaml, file: "c.yaml") else {
            return XCTFail("accepted")
        }
        let text = error.description
        for expected in ["c.yaml:1: server:", "c.yaml:2: silo:", "c.yaml:3: hostnames[1]:", "c.yaml:3: hostnames[2]: hostname 'ok' is listed twice",
                         "c.yaml:4: ip_from:", "c.yaml:5: interval:", "c.yaml:6: attempts:", "c.yaml:8: tokn_file: unknown key (did you mean 'token_file'?)"] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
    }

    func testRules() {
        XCTAssertEqual(try DDNSClientRules.serverURL("http://127.0.0.1:8054").get(), "http://127.0.0.1:8054")
        for bad in ["127.0.0.1:8054", "http://", "http://u:p@h", "http://h/?x=1", "http://h /"] {
            XCTAssertThrowsError(try DDNSClientRules.serverURL(bad).get(), bad)
        }
        XCTAssertEqual(try DDNSClientRules.hostname("DB-1").get(), "db-1")
        XCTAssertEqual(try DDNSClientRules.hostname("_srv").get(), "_srv")
        for bad in ["", "a.b", ".", "a b", String(repeating: "a", count: 64), "-a", "a..b.", "é"] {
            XCTAssertThrowsError(try DDNSClientRules.hostname(bad).get(), bad)
        }
        XCTAssertThrowsError(try DDNSClientRules.siloID("a_b").get())
        XCTAssertEqual(DDNSAddressSource("api"), .api)
        XCTAssertEqual(DDNSAddressSource("interface:wlp0s20f3"), .interface("wlp0s20f3"))
        for bad in ["", "interface:", "interface:a/b", "interface:0123456789abcdef", "interface:a b", "iface:eth0"] {
            XCTAssertNil(DDNSAddressSource(bad), bad)
        }
    }
}
