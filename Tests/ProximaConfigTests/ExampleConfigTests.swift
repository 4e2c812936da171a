import DNSWire
import Foundation
import GeoRouting
import XCTest
@testable import ProximaConfig

/// The committed examples in `config/` load, with the values the README's serve command relies on.
final class ExampleConfigTests: XCTestCase {
    private func loadExample(_ name: String, environment: [String: String] = [:]) throws -> ProximaConfiguration {
        let path = ConfigTestSupport.configDirectory + "/" + name
        let yaml = try String(contentsOfFile: path, encoding: .utf8)
        return try ConfigLoader.load(yaml: yaml, file: path, environment: environment).get()
    }

    func testExampleConfigLoadsWithDocumentedValues() throws {
        let c = try loadExample("proxima.yaml", environment: ["PROXIMA_ADMIN_TOKEN": "s3cret"])
        let repo = ConfigText.directory(of: ConfigTestSupport.configDirectory)
        XCTAssertEqual(c.listen.map(\.description), ["127.0.0.1:5353", "[::1]:5353"])
        XCTAssertEqual(c.listen[1].address, IPAddress("::1"))
        XCTAssertEqual(c.udpThreads, 0)
        XCTAssertEqual(c.maxUDPPayload, 1232)
        XCTAssertEqual(c.logLevel, .info)
        XCTAssertEqual(c.tcp, TCPSettings(idleTimeout: .seconds(10), maxConnections: 1024))
        XCTAssertEqual(c.zones, [ZoneSettings(origin: "example.test.", file: repo + "/data/example.test.zone")])
        XCTAssertEqual(c.geoip.databasePath, repo + "/data/geoip/GeoLite2-City.mmdb")
        XCTAssertTrue(c.geoip.watch)
        XCTAssertEqual(c.geoip.overrides, [LocationOverride(network: IPNetwork("10.0.0.0/8")!,
                                                            coordinate: Coordinate(latitude: 52.37, longitude: 4.89),
                                                            label: "office")])
        XCTAssertFalse(c.geoip.ipstack.enabled)
        XCTAssertEqual(c.geoip.ipstack.budget, .milliseconds(250))
        XCTAssertEqual(c.geoDataPath, repo + "/data/geo_data.json")
        XCTAssertEqual(c.routing.names.count, 1)
        let www = try XCTUnwrap(c.routing.names["www.example.test."])
        XCTAssertEqual(www.zoneOrigin, "example.test.")
        XCTAssertEqual(www.route, RouteSettings(pool: "default", policy: .nearest, answers: 1, ttl: 60,
                                                tieBand: 0.05, allDown: .failOpen))
        XCTAssertEqual(c.health, HealthSettings())
        XCTAssertEqual(c.admin?.listen.description, "127.0.0.1:8053")
        XCTAssertEqual(c.admin?.token, "s3cret")
        XCTAssertEqual(c.admin?.listen.isLoopback, true)
    }

    /// The sample forwards for this machine's own clients only: loopback in `allow` and nothing
    /// else, so `Scripts/serve` never becomes a resolver for the network it listens on.
    func testExampleConfigForwardsForLoopbackClientsOnly() throws {
        let c = try loadExample("proxima.yaml")
        let f = try XCTUnwrap(c.forward)
        XCTAssertEqual(f.allow, [IPNetwork("127.0.0.0/8")!, IPNetwork("::1/128")!])
        XCTAssertEqual(f.upstreams, [.fromResolvConf])
        XCTAssertEqual(f.resolvConf, "/etc/resolv.conf")
        XCTAssertEqual(f.timeout, .milliseconds(1500))
        XCTAssertEqual(f.cache, ForwardCacheSettings(maxEntries: 100_000, maxTTL: .seconds(86_400), negativeTTL: .seconds(300)))
        for client in ["127.0.0.1", "127.1.2.3", "::1"] {
            XCTAssertTrue(f.allow.contains { $0.contains(IPAddress(client)!) }, client)
        }
        for client in ["10.0.0.1", "192.168.1.1", "8.8.8.8", "2001:db8::1", "::2"] {
            XCTAssertFalse(f.allow.contains { $0.contains(IPAddress(client)!) }, client)
        }
    }

    func testEveryExampleInConfigDirectoryLoads() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: ConfigTestSupport.configDirectory)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertTrue(names.contains("proxima.yaml"))
        XCTAssertTrue(names.contains("minimal.yaml"))
        for name in names {
            XCTAssertNoThrow(try loadExample(name), name)
        }
    }

    func testMinimalExampleIsJustAZone() throws {
        let c = try loadExample("minimal.yaml")
        XCTAssertEqual(c.zones.map(\.origin), ["example.test."])
        XCTAssertEqual(c.listen, [ListenEndpoint.defaultDNS])
        XCTAssertNil(c.admin)
        XCTAssertTrue(c.routing.names.isEmpty)
    }
}
