import DNSWire
import Foundation
import XCTest
@testable import GeoRouting

/// The committed sample files under data/ load, in the forms they claim to be in.
final class SampleDataTests: XCTestCase {
    func dataFile(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("data").appendingPathComponent(name)
        return Array(try Data(contentsOf: url))
    }

    func testFlatSampleHasBackendsOnEveryInhabitedContinent() throws {
        let data = try GeoData.parse(json: try dataFile("geo_data.json"), file: "geo_data.json")
        XCTAssertEqual(data.form, .flat)
        let pool = try XCTUnwrap(data.pool(named: "default"))
        XCTAssertGreaterThanOrEqual(pool.members.count, 6)
        // Documentation addresses only (RFC 5737).
        let docNets = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"].compactMap { IPNetwork($0) }
        XCTAssertTrue(pool.members.allSatisfy { m in docNets.contains { $0.contains(m.address) } })
        // A client in Paris is answered from Europe, one in Sydney from Sydney.
        let paris = Router.decide(route: RouteSpec(pool: "default"), pools: data,
                                  client: Coordinate(latitude: 48.86, longitude: 2.35), family: .v4,
                                  states: BackendStates(), now: 0, loadMaxAge: 30, entropy: 0, explain: false)
        XCTAssertEqual(paris.answers.map(\.description), ["198.51.100.20"])
        let sydney = Router.decide(route: RouteSpec(pool: "default"), pools: data,
                                   client: Coordinate(latitude: -33.9, longitude: 151.2), family: .v4,
                                   states: BackendStates(), now: 0, loadMaxAge: 30, entropy: 0, explain: false)
        XCTAssertEqual(sydney.answers.map(\.description), ["203.0.113.30"])
    }

    func testRichSampleHasTwoPoolsWithIPv6AndChecks() throws {
        let data = try GeoData.parse(json: try dataFile("geo_data.rich.json"), file: "geo_data.rich.json")
        XCTAssertEqual(data.form, .rich)
        XCTAssertEqual(data.pools.map(\.name), ["web", "backup"])
        let web = try XCTUnwrap(data.pool(named: "web"))
        XCTAssertGreaterThan(web.memberCount(of: .v6), 0)
        XCTAssertTrue(web.members.allSatisfy { $0.healthCheck != nil })
        XCTAssertEqual(web.members.first { $0.name == "syd" }?.healthCheck?.probe, .tcp(port: 18443))
        XCTAssertEqual(web.members.first { $0.name == "syd" }?.healthCheck?.fall, 5)
        XCTAssertEqual(data.pool(named: "backup")?.members.last?.healthCheck, nil)
        XCTAssertEqual(data.probeTargets.count, web.members.count + 2)
    }
}
