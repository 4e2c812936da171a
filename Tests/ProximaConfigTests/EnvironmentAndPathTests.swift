import XCTest
@testable import ProximaConfig

/// Secrets from the environment (`access_key_env`, `token_env`) and relative path resolution.
final class EnvironmentAndPathTests: XCTestCase {
    func testAdminTokenFromInlineValueWinsOverEnvironment() throws {
        let yaml = ConfigTestSupport.zoneOnly + "\nadmin:\n  token: inline\n"
        let c = try XCTUnwrap(ConfigTestSupport.load(yaml, environment: ["PROXIMA_ADMIN_TOKEN": "env"]))
        XCTAssertEqual(c.admin?.token, "inline")
    }

    func testAdminTokenFromDefaultAndCustomEnvironmentVariable() throws {
        let base = ConfigTestSupport.zoneOnly + "\nadmin:\n  token: \"\"\n"
        XCTAssertEqual(ConfigTestSupport.load(base, environment: ["PROXIMA_ADMIN_TOKEN": "env"])?.admin?.token, "env")
        XCTAssertNil(ConfigTestSupport.load(base, environment: [:])?.admin?.token)
        XCTAssertNil(ConfigTestSupport.load(base, environment: ["PROXIMA_ADMIN_TOKEN": ""])?.admin?.token,
                     "an empty variable is no token")
        let custom = ConfigTestSupport.zoneOnly + "\nadmin:\n  token_env: MY_TOKEN\n"
        let c = ConfigTestSupport.load(custom, environment: ["MY_TOKEN": "mine", "PROXIMA_ADMIN_TOKEN": "other"])
        XCTAssertEqual(c?.admin?.token, "mine")
        XCTAssertEqual(c?.admin?.tokenEnv, "MY_TOKEN")
    }

    func testIPStackKeyFromEnvironment() throws {
        let yaml = ConfigTestSupport.zoneOnly + "\ngeoip:\n  ipstack:\n    access_key_env: GEO_KEY\n"
        XCTAssertEqual(ConfigTestSupport.load(yaml, environment: ["GEO_KEY": "abc"])?.geoip.ipstack.accessKey, "abc")
        let missing = ConfigTestSupport.issues(yaml, environment: ["IPSTACK_ACCESS_KEY": "not-this-one"])
        XCTAssertEqual(missing.map(\.keyPath), ["geoip.ipstack.access_key"])
        XCTAssertTrue(missing.first?.message.contains("GEO_KEY") ?? false)
        let defaultName = ConfigTestSupport.zoneOnly + "\ngeoip:\n  ipstack:\n    enabled: true\n"
        XCTAssertEqual(ConfigTestSupport.load(defaultName, environment: ["IPSTACK_ACCESS_KEY": "d"])?.geoip.ipstack.accessKey, "d")
        let disabled = ConfigTestSupport.zoneOnly + "\ngeoip:\n  ipstack:\n    enabled: false\n"
        XCTAssertNil(ConfigTestSupport.load(disabled)?.geoip.ipstack.accessKey, "disabled needs no key")
    }

    func testSecretsNeverAppearInIssues() {
        let yaml = ConfigTestSupport.zoneOnly + "\nadmin:\n  token: hunter2\n  listen: nowhere\n"
        let issues = ConfigTestSupport.issues(yaml, environment: ["PROXIMA_ADMIN_TOKEN": "hunter3"])
        XCTAssertEqual(issues.map(\.keyPath), ["admin.listen"])
        XCTAssertFalse(ConfigError(issues: issues).description.contains("hunter"))
    }

    func testRelativePathsResolveAgainstTheConfigFileDirectory() throws {
        let yaml = """
            zones:
              - origin: example.test.
                file: ../data/example.test.zone
              - origin: other.test.
                file: /srv/zones/other.zone
              - origin: third.test.
                file: ./zones//third.zone
            geo_data: geo_data.json
            geoip:
              database: ../../../../geo.mmdb
            """
        let c = try ConfigLoader.load(yaml: yaml, file: "/opt/proxima/config/proxima.yaml", environment: [:]).get()
        XCTAssertEqual(c.zones.map(\.file), ["/opt/proxima/data/example.test.zone", "/srv/zones/other.zone",
                                             "/opt/proxima/config/zones/third.zone"])
        XCTAssertEqual(c.geoDataPath, "/opt/proxima/config/geo_data.json")
        XCTAssertEqual(c.geoip.databasePath, "/geo.mmdb", "'..' never climbs above the root")
    }

    func testRelativeConfigFileUsesWorkingDirectory() throws {
        let yaml = ConfigTestSupport.zoneOnly
        let c = try ConfigLoader.load(yaml: yaml, file: "config/proxima.yaml", environment: [:],
                                      workingDirectory: "/home/op/proxima").get()
        XCTAssertEqual(c.zones.first?.file, "/home/op/proxima/config/example.test.zone")
        let noCwd = try ConfigLoader.load(yaml: yaml, file: "config/proxima.yaml", environment: [:]).get()
        XCTAssertEqual(noCwd.zones.first?.file, "config/example.test.zone")
        let bare = try ConfigLoader.load(yaml: yaml, file: "proxima.yaml", environment: [:]).get()
        XCTAssertEqual(bare.zones.first?.file, "example.test.zone")
        // Issues name the file as the caller gave it.
        guard case .failure(let error) = ConfigLoader.load(yaml: "zones: 1", file: "config/p.yaml", environment: [:],
                                                           workingDirectory: "/x") else { return XCTFail("expected failure") }
        XCTAssertEqual(error.issues.first?.file, "config/p.yaml")
    }

    func testThrowingEntryPoint() {
        XCTAssertThrowsError(try ConfigLoader.loadOrThrow(yaml: "zones: []", file: "f", environment: [:])) { error in
            XCTAssertEqual((error as? ConfigError)?.issues.first?.keyPath, "zones")
        }
        XCTAssertNoThrow(try ConfigLoader.loadOrThrow(yaml: ConfigTestSupport.zoneOnly, file: "/f", environment: [:]))
    }
}
