import DNSWire
import Foundation
import QueryEngine
import XCTest

/// Issue #13: `proxima route` names every answer the running server can give a client, with the
/// probability the server draws it. The live server is asked thousands of times over real UDP with
/// the ECS of a client in the tie band; every answer seen must be listed by the CLI, and each
/// answer's share must match its stated probability within 5 binomial standard deviations (a
/// bound a correct server misses with probability < 10⁻⁶, so the test does not flake).
final class RouteTruthTests: XCTestCase {
    static let zone = """
        $ORIGIN tie.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.200
        any  A   192.0.2.201
        """

    // Mexico City: us-west (San Jose) 2,971 km, us-east (Ashburn) 3,011 km: inside the 5% band.
    static let geoData = """
        {"pools": {"web": {"members": [
          {"address": "192.0.2.1", "name": "us-east", "latitude": 39.04, "longitude": -77.49, "weight": 3},
          {"address": "192.0.2.2", "name": "us-west", "latitude": 37.34, "longitude": -121.89, "weight": 1},
          {"address": "192.0.2.3", "name": "eu", "latitude": 50.11, "longitude": 8.68}
        ]}}}
        """

    static let config = """
        listen:
          - 127.0.0.1:0
        udp_threads: 2
        log_level: warning
        rrl:
          enabled: false   # thousands of queries from one address: rate limiting would drop most
        zones:
          - origin: tie.test.
            file: tie.zone
        geoip:
          overrides:
            - network: 189.189.209.0/24
              latitude: 19.4326
              longitude: -99.1332
              label: Mexico City
        geo_data: geo_data.json
        routing:
          names:
            www.tie.test.: { pool: web }
            any.tie.test.: { pool: web, policy: weighted, answers: 2 }
        admin:
          listen: 127.0.0.1:0
        """

    func testLiveAnswersMatchTheStatedDistribution() async throws {
        let live = try await LiveServer.start(config: Self.config, files: [
            "tie.zone": Self.zone, "geo_data.json": Self.geoData,
        ])
        let configPath = live.directory.appendingPathComponent("proxima.yaml").path
        for name in ["www.tie.test", "any.tie.test"] {
            // What the CLI says, from the files (with ECS) and from the running server (its admin socket).
            let (status, out, err) = try ServerProcess.run(["route", "127.0.0.1", "--ecs", "189.189.209.0/24", "--json",
                                                            "--name", name, "--config", configPath])
            XCTAssertEqual(status, 0, err)
            let doc = try JSONDecoder().decode(RouteReportDocument.self, from: Data(out.utf8))
            let (adminStatus, adminOut, adminErr) = try ServerProcess.run([
                "route", "189.189.209.7", "--json", "--name", name, "--live", "--config", configPath,
            ])
            XCTAssertEqual(adminStatus, 0, adminErr)
            let adminDoc = try JSONDecoder().decode(RouteReportDocument.self, from: Data(adminOut.utf8))
            XCTAssertEqual(adminDoc.possibleAnswerSets, doc.possibleAnswerSets, name)
            XCTAssertEqual(doc.deterministic, false, name)
            let sets = try XCTUnwrap(doc.possibleAnswerSets, name)
            XCTAssertFalse(sets.isEmpty, name)

            let rounds = 2_000
            var seen: [[String]: Int] = [:]
            let ecs = ClientSubnet(address: IPAddress("189.189.209.0")!, sourcePrefixLength: 24)
            for _ in 0..<rounds {
                let m = try live.udp(name + ".", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
                let answer = m.answerSection.map { $0.rdata.description }
                let key = answer.compactMap(IPAddress.init).sorted().map(\.description)
                seen[key, default: 0] += 1
            }
            for (set, count) in seen {
                guard let listed = sets.first(where: { $0.addresses == set }) else {
                    XCTFail("\(name): the server answered \(set) \(count) times; `proxima route` lists \(sets)")
                    continue
                }
                let p = listed.probability
                let sigma = (Double(rounds) * p * (1 - p)).squareRoot()
                XCTAssertLessThanOrEqual(abs(Double(count) - Double(rounds) * p), 5 * sigma + 1,
                                         "\(name): \(set) seen \(count)/\(rounds), stated \(p)")
            }
            for listed in sets where Double(rounds) * listed.probability > 100 {
                XCTAssertNotNil(seen[listed.addresses], "\(name): \(listed.addresses) stated but never answered")
            }
        }

        // The single answer of the tie case, in the terms of the issue.
        let (_, text, _) = try ServerProcess.run(["route", "127.0.0.1", "--ecs", "189.189.209.0/24", "--name", "www.tie.test",
                                                  "--config", configPath])
        XCTAssertTrue(text.contains("2 members within 5% of the nearest"), text)
        XCTAssertTrue(text.contains("75.0%") && text.contains("25.0%"), text)
        await live.stop()
    }
}
