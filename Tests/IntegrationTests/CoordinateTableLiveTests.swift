import DNSWire
import Foundation
import GeoIP
import GeoRouting
import ProximaApp
import Synchronization
import XCTest

/// Issue #12.3: the database's coordinate table is built after the listeners are up, on the
/// answer-map builder's thread. Until it is published the server places clients with the
/// database's own lookup: routed answers are already right, and they stay the same after the
/// table (and then the answer maps) are in place.
final class CoordinateTableLiveTests: XCTestCase {
    /// Holds the builder before the coordinate table until the test lets it go (bounded: a
    /// failing test cannot hang the server for more than `limit` seconds).
    final class Gate: Sendable {
        let entered = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        static let limit = 60.0

        func hold() {
            entered.store(true, ordering: .releasing)
            _ = release.wait(timeout: .now() + Gate.limit)
        }
    }

    /// /24s of the fixture's located networks with one clearly nearest member (5% band), and
    /// one the database does not place.
    static let clients = ["66.10.7.0", "81.2.69.0", "85.10.3.0", "126.16.9.0", "101.161.2.0", "177.33.0.0",
                          "41.0.200.0", "116.12.0.0", "130.10.0.0", "5.3.0.0", "8.8.8.0"]

    func ask(_ live: LiveServer, _ client: String) throws -> (answers: [String], scope: Int?) {
        let ecs = ClientSubnet(address: IPAddress(client)!, sourcePrefixLength: 24)
        let m = try live.udp("www.geo.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
        return (m.answerSection.map { $0.rdata.description }, m.edns?.clientSubnet.map { Int($0.scopePrefixLength) })
    }

    func testRoutedAnswersBeforeTheCoordinateTableEqualThoseAfter() async throws {
        let gate = Gate()
        let fixture = LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")
        let live = try await LiveServer.start(config: AnswerMapLiveTests.config,
                                              files: ["geo.zone": AnswerMapLiveTests.zone,
                                                      "geo_data.json": AnswerMapLiveTests.geoData],
                                              copies: ["geo.mmdb": fixture],
                                              beforeFirstPlacement: { gate.hold() })
        defer { gate.release.signal() }
        do {
            XCTAssertTrue(LiveServer.eventually(timeout: 20) { gate.entered.load(ordering: .acquiring) },
                          "the builder reaches the coordinate table after start")
            // The listeners answer while the table is not built: no placement space, no maps.
            let before = live.server.snapshotStore.current()
            XCTAssertNil(before.snapshot.locator.placementSpace, "the coordinate table is not built yet")
            XCTAssertNil(live.server.snapshotStore.answerMaps)

            let db = try MaxMindDatabase(path: fixture.path, precomputeCoordinates: true)
            var early: [String: [String]] = [:]
            for client in Self.clients {
                let a = IPAddress(client)!
                let (answers, scope) = try ask(live, client)
                early[client] = answers
                // Two rounds: the second is answered from the per-thread table the first filled.
                XCTAssertEqual(try ask(live, client).answers, answers, client)
                if client == "8.8.8.0" {
                    XCTAssertEqual(answers, ["192.0.2.200"], "not placed: the zone's last-resort record")
                    continue
                }
                let c: Coordinate
                if client.hasPrefix("5.") {
                    c = Coordinate(latitude: 48.86, longitude: 2.35)  // the config's override
                } else {
                    c = try XCTUnwrap(db.quickLocate(a)?.coordinate, client)
                }
                let nearest = AnswerMapLiveTests.sites.min {
                    haversineDistance(c, Coordinate(latitude: $0.lat, longitude: $0.lon))
                        < haversineDistance(c, Coordinate(latitude: $1.lat, longitude: $1.lon))
                }!
                XCTAssertEqual(answers, [nearest.address], client)
                // Scoped by the database record (the per-query path), never wider than the source.
                XCTAssertNotNil(scope, client)
                XCTAssertLessThanOrEqual(scope ?? 99, 24, client)
            }
            XCTAssertNil(live.server.snapshotStore.current().snapshot.locator.placementSpace,
                         "the table was still not built while those were answered")

            gate.release.signal()
            XCTAssertTrue(LiveServer.eventually(timeout: 20) { live.server.snapshotStore.answerMaps != nil },
                          "the table, then the answer maps, are built once the builder goes on")
            XCTAssertNotNil(live.server.snapshotStore.current().snapshot.locator.placementSpace)
            for client in Self.clients {
                XCTAssertEqual(try ask(live, client).answers, early[client], "\(client): same answer after the table")
            }
        } catch {
            gate.release.signal()
            await live.stop()
            throw error
        }
        await live.stop()
    }
}
