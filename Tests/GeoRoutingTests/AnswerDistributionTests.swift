import DNSWire
import XCTest
@testable import GeoRouting

/// Issue #13: the explanation's answer distribution must be what the router's draw does. Each case
/// states the distribution, then draws 20,000 answers through `Router.decide` on the query path
/// (`explain: false`) and checks every answer is listed and every share is within 5 binomial
/// standard deviations of its probability (deterministic entropy, so the test cannot flake).
final class AnswerDistributionTests: XCTestCase {
    typealias T = RouterTests

    struct Case {
        var label: String
        var route: RouteSpec
        var client: Coordinate?
        var states = BackendStates()
        /// Expected per-member inclusion, when the case pins it exactly.
        var expected: [IPAddress: Double]?
        var draw: DrawKind
    }

    static let tie1 = IPAddress("203.0.113.1")!
    static let tie2 = IPAddress("203.0.113.2")!
    static let tie3 = IPAddress("203.0.113.3")!
    static let equator = Coordinate(latitude: 0, longitude: 0)

    static let cases: [Case] = [
        // Two members within 5% of the nearest, weights 1 and 3.
        Case(label: "nearest tie band, 1 answer", route: RouteSpec(pool: "tie"), client: equator,
             expected: [tie1: 0.25, tie2: 0.75], draw: .tieBand),
        // answers: 2 takes the whole band, no draw.
        Case(label: "nearest tie band, 2 answers", route: RouteSpec(pool: "tie", answers: 2), client: equator,
             expected: [tie1: 1, tie2: 1], draw: .none),
        Case(label: "nearest, no tie", route: RouteSpec(pool: "web"), client: T.paris,
             expected: [T.lon: 1], draw: .none),
        Case(label: "nearest, wide band, 2 of 3 by weight", route: RouteSpec(pool: "tie", answers: 2, tieBand: 3),
             client: equator, expected: nil, draw: .tieBand),
        Case(label: "nearest, unknown location", route: RouteSpec(pool: "tie"), client: nil,
             expected: [tie1: 1 / 104, tie2: 3 / 104, tie3: 100 / 104], draw: .weighted),
        Case(label: "weighted, 1 answer", route: RouteSpec(pool: "tie", policy: .weighted), client: equator,
             expected: [tie1: 1 / 104, tie2: 3 / 104, tie3: 100 / 104], draw: .weighted),
        Case(label: "weighted, 2 answers", route: RouteSpec(pool: "tie", policy: .weighted, answers: 2), client: equator,
             expected: nil, draw: .weighted),
        Case(label: "random, 2 of 6", route: RouteSpec(pool: "web", policy: .random, answers: 2), client: T.paris,
             expected: [T.nyc: 1 / 3, T.lon: 1 / 3, T.tyo: 1 / 3, T.syd: 1 / 3, T.gru: 1 / 3, T.fra: 1 / 3],
             draw: .uniform),
        Case(label: "round-robin, 2 of 6", route: RouteSpec(pool: "web", policy: .roundRobin, answers: 2), client: T.paris,
             expected: [T.nyc: 1 / 3, T.lon: 1 / 3, T.tyo: 1 / 3, T.syd: 1 / 3, T.gru: 1 / 3, T.fra: 1 / 3],
             draw: .rotation),
        // London over capacity: ranked after the five with room, so round-robin rotates 5, then 1.
        Case(label: "round-robin with a full member", route: RouteSpec(pool: "web", policy: .roundRobin, answers: 5),
             client: T.paris,
             states: T.states([(T.lon, BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 990)))]),
             expected: [T.nyc: 1, T.tyo: 1, T.syd: 1, T.gru: 1, T.fra: 1], draw: .none),
        Case(label: "least-load is deterministic", route: RouteSpec(pool: "web", policy: .leastLoad, answers: 2),
             client: T.paris, expected: nil, draw: .none),
        // London down: Paris's nearest is Frankfurt then.
        Case(label: "nearest with the nearest down", route: RouteSpec(pool: "web"), client: T.paris,
             states: T.states([(T.lon, BackendStatus(probeHealthy: false))]), expected: [T.fra: 1], draw: .none),
    ]

    func testDistributionMatchesTheRoutersDraw() throws {
        for c in Self.cases {
            let explained = Router.decide(route: c.route, pools: T.geo, client: c.client, family: .v4, states: c.states,
                                          now: 1000, loadMaxAge: 30, entropy: 0, explain: true)
            let ranking = try XCTUnwrap(explained.explanation?.pools.last, c.label)
            let dist = try XCTUnwrap(ranking.distribution, c.label)
            XCTAssertEqual(dist.draw, c.draw, c.label)
            XCTAssertTrue(dist.exact, c.label)
            XCTAssertFalse(dist.setsTruncated, c.label)
            XCTAssertEqual(dist.sets.reduce(0) { $0 + $1.probability }, 1, accuracy: 1e-9, c.label)
            var inclusion: [IPAddress: Double] = [:]
            for m in ranking.members where m.answerProbability > 0 { inclusion[m.address] = m.answerProbability }
            if let expected = c.expected {
                XCTAssertEqual(Set(inclusion.keys), Set(expected.keys), c.label)
                for (a, p) in expected { XCTAssertEqual(inclusion[a] ?? -1, p, accuracy: 1e-9, "\(c.label): \(a)") }
            }
            // The explanation's own draw is one of the listed sets.
            XCTAssertTrue(dist.sets.contains { $0.addresses == explained.answers.sorted() }, c.label)

            // The query path's draws, with entropy as the server makes it (a 64-bit generator).
            let rounds = 20_000
            var rng = SplitMix64(seed: 0xC0FFEE)
            var seen: [[IPAddress]: Int] = [:]
            for _ in 0..<rounds {
                let d = Router.decide(route: c.route, pools: T.geo, client: c.client, family: .v4, states: c.states,
                                      now: 1000, loadMaxAge: 30, entropy: rng.next(), explain: false)
                seen[d.answers.sorted(), default: 0] += 1
            }
            for (set, count) in seen {
                guard let listed = dist.sets.first(where: { $0.addresses == set }) else {
                    XCTFail("\(c.label): the server answered \(set), which the explanation does not list")
                    continue
                }
                let p = listed.probability
                let sigma = (Double(rounds) * p * (1 - p)).squareRoot()
                XCTAssertLessThanOrEqual(abs(Double(count) - Double(rounds) * p), 5 * sigma + 1,
                                         "\(c.label): \(set) seen \(count)/\(rounds), stated \(p)")
            }
            for listed in dist.sets where Double(rounds) * listed.probability > 50 {
                XCTAssertNotNil(seen[listed.addresses], "\(c.label): \(listed.addresses) never drawn")
            }
        }
    }

    /// Weighted 2-of-3 (weights 1, 3, 100) by hand: P({a,b}) = 1/104·3/103 + 3/104·1/101.
    func testWeightedPairProbabilityIsExact() throws {
        let d = Router.decide(route: RouteSpec(pool: "tie", policy: .weighted, answers: 2), pools: T.geo,
                              client: nil, family: .v4, states: BackendStates(), now: 0, loadMaxAge: 30, entropy: 0)
        let dist = try XCTUnwrap(d.explanation?.pools.last?.distribution)
        let pair = try XCTUnwrap(dist.sets.first { $0.addresses == [Self.tie1, Self.tie2] })
        XCTAssertEqual(pair.probability, 1.0 / 104 * 3 / 103 + 3.0 / 104 * 1 / 101, accuracy: 1e-15)
        XCTAssertEqual(dist.sets.count, 3)
    }

    /// Too many subsets to enumerate (8 of 30): per-member probabilities are estimated by running
    /// the router's own draw, flagged as such, and the set list is left out.
    func testLargePoolFallsBackToTheRoutersOwnDraw() throws {
        let members = (1...30).map { i in
            PoolMember(address: IPAddress("203.0.113.\(i)")!, coordinate: Coordinate(latitude: 0, longitude: Double(i)),
                       weight: Double(i))
        }
        let geo = try GeoData(pools: [Pool(name: "big", members: members)])
        let d = Router.decide(route: RouteSpec(pool: "big", policy: .weighted, answers: 8), pools: geo, client: nil,
                              family: .v4, states: BackendStates(), now: 0, loadMaxAge: 30, entropy: 0)
        let ranking = try XCTUnwrap(d.explanation?.pools.last)
        let dist = try XCTUnwrap(ranking.distribution)
        XCTAssertFalse(dist.exact)
        XCTAssertTrue(dist.setsTruncated)
        XCTAssertFalse(dist.isDeterministic)
        XCTAssertEqual(ranking.members.reduce(0) { $0 + $1.answerProbability }, 8, accuracy: 1e-9)
        // Heavier members are likelier: the heaviest is in far more answers than the lightest.
        let p = Dictionary(uniqueKeysWithValues: ranking.members.map { ($0.address, $0.answerProbability) })
        XCTAssertGreaterThan(p[IPAddress("203.0.113.30")!]!, 2 * p[IPAddress("203.0.113.1")!]!)
    }
}
