import DNSWire
import XCTest
@testable import GeoRouting

/// Ranking rules of `Router.decide` (DESIGN §2 step 5 and §3): distance, tie band and weights,
/// capacity spill-over, every policy, address families, unknown location, all-down behaviours,
/// stale loads and forced health.
final class RouterTests: XCTestCase {
    // Backends on different continents.
    static let nyc = IPAddress("192.0.2.10")!
    static let lon = IPAddress("192.0.2.20")!
    static let fra = IPAddress("192.0.2.60")!
    static let tyo = IPAddress("192.0.2.30")!
    static let syd = IPAddress("192.0.2.40")!
    static let gru = IPAddress("192.0.2.50")!
    static let nyc6 = IPAddress("2001:db8::10")!
    static let lon6 = IPAddress("2001:db8::20")!
    static let backupA = IPAddress("198.51.100.1")!
    static let backupB = IPAddress("198.51.100.2")!

    static let paris = Coordinate(latitude: 48.86, longitude: 2.35)
    static let boston = Coordinate(latitude: 42.36, longitude: -71.06)

    static let geo: GeoData = {
        func m(_ a: IPAddress, _ lat: Double, _ lon: Double, weight: Double = 1, capacity: Double? = nil) -> PoolMember {
            PoolMember(address: a, coordinate: Coordinate(latitude: lat, longitude: lon), name: a.description,
                       weight: weight, capacity: capacity)
        }
        do {
            return try GeoData(pools: [
                Pool(name: "web", members: [
                    m(nyc, 40.71, -74.0), m(lon, 51.5, -0.12, capacity: 0.8), m(tyo, 35.68, 139.69),
                    m(syd, -33.87, 151.21), m(gru, -23.55, -46.63), m(fra, 50.11, 8.68),
                    m(nyc6, 40.71, -74.0), m(lon6, 51.5, -0.12),
                ]),
                Pool(name: "backup", members: [m(backupA, 52.37, 4.89), m(backupB, 1.35, 103.82)]),
                // Equal-distance members for tie-band tests: client at (0, 0).
                Pool(name: "tie", members: [
                    m(IPAddress("203.0.113.1")!, 0, 10, weight: 1),
                    m(IPAddress("203.0.113.2")!, 0, -10.3, weight: 3),
                    m(IPAddress("203.0.113.3")!, 0, 30, weight: 100),
                ]),
                Pool(name: "v4only", members: [m(IPAddress("203.0.113.9")!, 0, 0)]),
            ])
        } catch {
            preconditionFailure("test data: \(error)")
        }
    }()

    func decide(_ route: RouteSpec, client: Coordinate? = RouterTests.paris, family: AddressFamily = .v4,
                states: BackendStates = BackendStates(), now: Double = 1000, entropy: UInt64 = 0,
                explain: Bool = true) -> RouteDecision {
        Router.decide(route: route, pools: Self.geo, client: client, family: family, states: states, now: now,
                      loadMaxAge: 30, entropy: entropy, explain: explain)
    }

    static func states(_ entries: [(IPAddress, BackendStatus)]) -> BackendStates {
        BackendStates(byAddress: Dictionary(uniqueKeysWithValues: entries))
    }

    static let down = BackendStatus(probeHealthy: false)

    // MARK: nearest

    func testNearestRanksByGreatCircleDistance() {
        let d = decide(RouteSpec(pool: "web", answers: 8))
        XCTAssertEqual(d.answers, [Self.lon, Self.fra, Self.nyc, Self.gru, Self.tyo, Self.syd])
        XCTAssertEqual(d.answeringPool, "web")
        XCTAssertFalse(d.failedOpen)
        XCTAssertFalse(d.usedFallback)
        XCTAssertEqual(decide(RouteSpec(pool: "web"), client: Self.boston).answers, [Self.nyc])
        // Sydney's nearest across the antimeridian-free Pacific is Sydney, then Tokyo.
        XCTAssertEqual(decide(RouteSpec(pool: "web", answers: 2), client: Coordinate(latitude: -36.85, longitude: 174.76)).answers,
                       [Self.syd, Self.tyo])
    }

    func testAnswersAreClampedToEightAndToHealthyMembers() {
        XCTAssertEqual(decide(RouteSpec(pool: "web", answers: 50)).answers.count, 6)
        XCTAssertEqual(decide(RouteSpec(pool: "web", answers: 0)).answers.count, 1)
        let d = decide(RouteSpec(pool: "web", answers: 8), states: Self.states([(Self.lon, Self.down), (Self.tyo, Self.down)]))
        XCTAssertEqual(d.answers, [Self.fra, Self.nyc, Self.gru, Self.syd])
    }

    func testTieBandSharesTrafficByWeight() {
        // From (0,0): .1 is 1112 km away, .2 is 1145 km (within 5%), .3 is 3336 km.
        let route = RouteSpec(pool: "tie", answers: 3)
        var firsts: [IPAddress: Int] = [:]
        let runs = 8000
        for e in 0..<runs {
            let d = decide(route, client: Coordinate(latitude: 0, longitude: 0), entropy: UInt64(e))
            firsts[d.answers[0], default: 0] += 1
            // The far member is always last, whatever its weight.
            XCTAssertEqual(d.answers[2], IPAddress("203.0.113.3"))
        }
        let share1 = Double(firsts[IPAddress("203.0.113.1")!] ?? 0) / Double(runs)
        XCTAssertEqual(share1, 0.25, accuracy: 0.025, "weights 1:3 share the band")
        XCTAssertNil(firsts[IPAddress("203.0.113.3")!])
        // Without a band the strictly nearest always wins.
        for e in 0..<200 {
            let d = decide(RouteSpec(pool: "tie", tieBand: 0), client: Coordinate(latitude: 0, longitude: 0),
                           entropy: UInt64(e))
            XCTAssertEqual(d.answers, [IPAddress("203.0.113.1")!])
        }
        // A band wide enough to include the far member lets its weight dominate.
        var far = 0
        for e in 0..<1000 {
            let d = decide(RouteSpec(pool: "tie", tieBand: 2.5), client: Coordinate(latitude: 0, longitude: 0),
                           entropy: UInt64(e))
            if d.answers[0] == IPAddress("203.0.113.3") { far += 1 }
        }
        XCTAssertEqual(Double(far) / 1000, 100.0 / 104.0, accuracy: 0.03)
    }

    func testSameEntropySameDecision() {
        for e: UInt64 in [0, 1, 42, .max] {
            let a = decide(RouteSpec(pool: "tie", answers: 3), client: Coordinate(latitude: 0, longitude: 0), entropy: e)
            let b = decide(RouteSpec(pool: "tie", answers: 3), client: Coordinate(latitude: 0, longitude: 0), entropy: e)
            XCTAssertEqual(a, b)
        }
    }

    func testFastPathMatchesFullRanking() {
        // nearest + 1 answer + explain:false takes the no-sort path; it must pick what the full
        // ranking puts first, for every state mix, client and entropy.
        let stateMixes: [BackendStates] = [
            BackendStates(),
            Self.states([(Self.lon, Self.down)]),
            Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 995)))]),
            Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 995))),
                         (Self.fra, Self.down), (Self.nyc, Self.down), (Self.gru, Self.down), (Self.tyo, Self.down),
                         (Self.syd, Self.down)]),
            Self.states([(Self.nyc, Self.down), (Self.lon, Self.down), (Self.tyo, Self.down), (Self.syd, Self.down),
                         (Self.gru, Self.down), (Self.fra, Self.down)]),
        ]
        let clients: [Coordinate?] = [nil, Self.paris, Self.boston, Coordinate(latitude: 0, longitude: 0),
                                      Coordinate(latitude: -80, longitude: 179.9)]
        for pool in ["web", "tie", "backup"] {
            for (si, states) in stateMixes.enumerated() {
                for client in clients {
                    for e in 0..<64 {
                        let entropy = UInt64(e) &* 0x9E37_79B9_7F4A_7C15
                        for tieBand in [0.0, 0.05, 3.0] {
                            let route = RouteSpec(pool: pool, tieBand: tieBand)
                            let fast = decide(route, client: client, states: states, entropy: entropy, explain: false)
                            let full = decide(route, client: client, states: states, entropy: entropy, explain: true)
                            XCTAssertNil(fast.explanation)
                            XCTAssertEqual(fast.outcome, full.outcome, "\(pool) states#\(si) \(String(describing: client)) e=\(e)")
                            XCTAssertEqual(fast.failedOpen, full.failedOpen)
                            // Resolved states give the very same decisions, explanation included.
                            let resolved = ResolvedBackendStates(states, for: Self.geo)
                            XCTAssertEqual(Router.decide(route: route, pools: Self.geo, client: client, family: .v4,
                                                         states: resolved, now: 1000, loadMaxAge: 30, entropy: entropy,
                                                         explain: false), fast)
                            XCTAssertEqual(Router.decide(route: route, pools: Self.geo, client: client, family: .v4,
                                                         states: resolved, now: 1000, loadMaxAge: 30, entropy: entropy,
                                                         explain: true), full)
                        }
                    }
                }
            }
        }
    }

    func testResolvedStatesMatchAddressLookupsForEveryPolicy() {
        let states = Self.states([
            (Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 990))),
            (Self.fra, BackendStatus(lastLoad: LoadReport(load: 0.3, receivedAt: 900))),  // stale at now=1000
            (Self.tyo, BackendStatus(probeHealthy: false, forced: .up, lastLoad: LoadReport(load: 0.1, receivedAt: 999))),
            (Self.syd, BackendStatus(forced: .down)),
            (Self.backupA, Self.down),
        ])
        let resolved = ResolvedBackendStates(states, for: Self.geo)
        for policy in RoutePolicy.allCases {
            for answers in [1, 3] {
                for allDown in [AllDownBehavior.failOpen, .servfail, .fallback(pool: "backup")] {
                    for family in AddressFamily.allCases {
                        for e: UInt64 in 0..<16 {
                            let route = RouteSpec(pool: "web", policy: policy, answers: answers, allDown: allDown)
                            for explain in [false, true] {
                                let plain = decide(route, family: family, states: states, entropy: e, explain: explain)
                                let fast = Router.decide(route: route, pools: Self.geo, client: Self.paris, family: family,
                                                         states: resolved, now: 1000, loadMaxAge: 30, entropy: e,
                                                         explain: explain)
                                XCTAssertEqual(plain, fast, "\(policy) \(answers) \(allDown) \(family) \(e)")
                            }
                        }
                    }
                }
            }
        }
    }

    func testResolvedStatesForOtherGeoDataFallBackToLookups() throws {
        let other = try GeoData(pools: [Pool(name: "web", members: [
            PoolMember(address: Self.fra, coordinate: Coordinate(latitude: 50.11, longitude: 8.68)),
            PoolMember(address: Self.lon, coordinate: Coordinate(latitude: 51.5, longitude: -0.12)),
        ])])
        // Resolved against `other`, where London is slot 1; used with `geo`, where slot 1 is London too
        // but slot 0 is New York: a stale layout must not leak into the decision.
        let states = Self.states([(Self.fra, Self.down)])
        let stale = ResolvedBackendStates(states, for: other)
        let d = Router.decide(route: RouteSpec(pool: "web", answers: 2), pools: Self.geo, client: Self.paris, family: .v4,
                              states: stale, now: 1000, loadMaxAge: 30, entropy: 0)
        XCTAssertEqual(d.answers, [Self.lon, Self.nyc])
    }

    // MARK: capacity spill-over and loads

    func testCapacitySpillOverMovesFullMembersToTheEnd() {
        // London (capacity 0.8) reports 0.85: Paris clients go to Frankfurt; London is ranked last
        // among healthy members, not dropped.
        let full = Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.85, receivedAt: 990)))])
        let d = decide(RouteSpec(pool: "web", answers: 8), states: full)
        XCTAssertEqual(d.answers, [Self.fra, Self.nyc, Self.gru, Self.tyo, Self.syd, Self.lon])
        let london = d.explanation?.pools.first?.members.first { $0.address == Self.lon }
        XCTAssertEqual(london?.overCapacity, true)
        XCTAssertEqual(london?.load, 0.85)
        XCTAssertEqual(london?.rank, 5)
        // Exactly at capacity counts as full.
        let atCapacity = Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.8, receivedAt: 990)))])
        XCTAssertEqual(decide(RouteSpec(pool: "web"), states: atCapacity).answers, [Self.fra])
        // Below capacity: London keeps its place.
        let room = Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.79, receivedAt: 990)))])
        XCTAssertEqual(decide(RouteSpec(pool: "web"), states: room).answers, [Self.lon])
    }

    func testSpillOverOnlyWhileAHealthyMemberHasRoom() {
        // Everyone else down: the full London still answers (healthy beats down).
        var entries: [(IPAddress, BackendStatus)] = [(Self.lon, BackendStatus(lastLoad: LoadReport(load: 5, receivedAt: 999)))]
        for a in [Self.nyc, Self.fra, Self.tyo, Self.syd, Self.gru] { entries.append((a, Self.down)) }
        let d = decide(RouteSpec(pool: "web", answers: 3), states: Self.states(entries))
        XCTAssertEqual(d.answers, [Self.lon])
        XCTAssertFalse(d.failedOpen)
    }

    func testStaleLoadIsIgnored() {
        // Received 31 s before now with a 30 s maximum age: unknown, so no spill-over.
        let stale = Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.95, receivedAt: 969)))])
        let d = decide(RouteSpec(pool: "web"), states: stale)
        XCTAssertEqual(d.answers, [Self.lon])
        let london = d.explanation?.pools.first?.members.first { $0.address == Self.lon }
        XCTAssertNil(london?.load)
        XCTAssertEqual(london?.overCapacity, false)
        // Exactly at the maximum age still counts.
        let edge = Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.95, receivedAt: 970)))])
        XCTAssertEqual(decide(RouteSpec(pool: "web"), states: edge).answers, [Self.fra])
    }

    // MARK: nearestPick (the fast path's shortcut)

    /// `nearestPick` answers exactly what `decide` answers, says when no draw chose, and stays valid
    /// until the first load report that decides a capacity tier goes stale.
    func testNearestPickEqualsDecideAndKnowsHowLongItHolds() {
        // nil: a client no locator placed (every healthy member of the best tier is in the band).
        let clients: [Coordinate?] = [Self.paris, Self.boston, Coordinate(latitude: 0, longitude: 0),
                                      Coordinate(latitude: -30, longitude: 150), Coordinate(latitude: 35, longitude: 139), nil]
        let stateSets: [BackendStates] = [
            BackendStates(),
            Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 990)))]),
            Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.1, receivedAt: 985)))]),
            Self.states([(Self.fra, Self.down), (Self.nyc, Self.down)]),
        ]
        for pool in ["web", "tie", "backup"] {
            for family in [AddressFamily.v4, .v6] {
                for states in stateSets {
                    let resolved = ResolvedBackendStates(states, for: Self.geo)
                    for client in clients {
                        for entropy in [UInt64(0), 1, 0xdead_beef, .max] {
                            let route = RouteSpec(pool: pool, tieBand: pool == "tie" ? 0.05 : 0)
                            let d = Router.decide(route: route, pools: Self.geo, client: client, family: family, states: resolved,
                                                  now: 1000, loadMaxAge: 30, entropy: entropy, explain: false)
                            let pick = Router.nearestPick(route: route, pools: Self.geo, client: client, family: family,
                                                          states: resolved, now: 1000, loadMaxAge: 30, entropy: entropy)
                            if let pick {
                                XCTAssertEqual([pick.address], d.answers, "\(pool) \(family) \(String(describing: client))")
                            } else {
                                XCTAssertTrue(family == .v6 && pool != "web", "only pools without IPv6 members have no pick")
                            }
                        }
                    }
                }
            }
        }
        let none = ResolvedBackendStates(BackendStates(), for: Self.geo)
        // One member alone nearest: no draw, valid forever without load reports.
        let paris = Router.nearestPick(route: RouteSpec(pool: "web"), pools: Self.geo, client: Self.paris, family: .v4,
                                       states: none, now: 1000, loadMaxAge: 30, entropy: 7)
        XCTAssertEqual(paris, NearestPick(address: Self.lon, drawn: false, validUntil: .infinity))
        // Two equally near members (tie band): drawn.
        let tie = Router.nearestPick(route: RouteSpec(pool: "tie", tieBand: 0.05), pools: Self.geo,
                                     client: Coordinate(latitude: 0, longitude: 0), family: .v4, states: none, now: 1000,
                                     loadMaxAge: 30, entropy: 7)
        XCTAssertEqual(tie?.drawn, true)
        // London (capacity 0.8) full since 990: Frankfurt, until the report goes stale at 1020.
        let full = ResolvedBackendStates(Self.states([(Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.9, receivedAt: 990)))]),
                                         for: Self.geo)
        let spill = Router.nearestPick(route: RouteSpec(pool: "web"), pools: Self.geo, client: Self.paris, family: .v4,
                                       states: full, now: 1000, loadMaxAge: 30, entropy: 7)
        XCTAssertEqual(spill, NearestPick(address: Self.fra, drawn: false, validUntil: 1020))
        let later = Router.nearestPick(route: RouteSpec(pool: "web"), pools: Self.geo, client: Self.paris, family: .v4,
                                       states: full, now: 1020.5, loadMaxAge: 30, entropy: 7)
        XCTAssertEqual(later, NearestPick(address: Self.lon, drawn: false, validUntil: .infinity))
        // Other policies and answer counts are not picks.
        XCTAssertNil(Router.nearestPick(route: RouteSpec(pool: "web", answers: 2), pools: Self.geo, client: Self.paris,
                                        family: .v4, states: none, now: 1000, loadMaxAge: 30, entropy: 0))
        XCTAssertNil(Router.nearestPick(route: RouteSpec(pool: "web", policy: .leastLoad), pools: Self.geo, client: Self.paris,
                                        family: .v4, states: none, now: 1000, loadMaxAge: 30, entropy: 0))
    }

    // MARK: other policies

    func testRoundRobinRotatesHealthyMembersByCounter() {
        let route = RouteSpec(pool: "web", policy: .roundRobin, answers: 2)
        let order = [Self.nyc, Self.lon, Self.tyo, Self.syd, Self.gru, Self.fra]  // file order
        for counter in 0..<12 {
            let d = decide(route, entropy: UInt64(counter))
            XCTAssertEqual(d.answers, [order[counter % 6], order[(counter + 1) % 6]], "counter \(counter)")
        }
        // Down members are skipped; the rotation is over the healthy ones.
        let healthy = [Self.nyc, Self.syd, Self.gru, Self.fra]
        let states = Self.states([(Self.lon, Self.down), (Self.tyo, Self.down)])
        for counter in 0..<8 {
            XCTAssertEqual(decide(RouteSpec(pool: "web", policy: .roundRobin), states: states, entropy: UInt64(counter)).answers,
                           [healthy[counter % 4]])
        }
    }

    func testRandomIsUniformAndIgnoresDistanceAndWeight() {
        var counts: [IPAddress: Int] = [:]
        let runs = 6000
        for e in 0..<runs {
            let d = decide(RouteSpec(pool: "tie", policy: .random, answers: 3), client: Coordinate(latitude: 0, longitude: 0),
                           entropy: UInt64(e))
            XCTAssertEqual(Set(d.answers).count, 3, "a permutation")
            counts[d.answers[0], default: 0] += 1
        }
        for (_, c) in counts {
            XCTAssertEqual(Double(c) / Double(runs), 1.0 / 3.0, accuracy: 0.03)
        }
        XCTAssertEqual(counts.count, 3)
    }

    func testWeightedFollowsWeightsRegardlessOfDistance() {
        var counts: [IPAddress: Int] = [:]
        let runs = 10400
        for e in 0..<runs {
            let d = decide(RouteSpec(pool: "tie", policy: .weighted), client: Coordinate(latitude: 0, longitude: 0),
                           entropy: UInt64(e))
            counts[d.answers[0], default: 0] += 1
        }
        XCTAssertEqual(Double(counts[IPAddress("203.0.113.1")!] ?? 0) / Double(runs), 1.0 / 104, accuracy: 0.005)
        XCTAssertEqual(Double(counts[IPAddress("203.0.113.2")!] ?? 0) / Double(runs), 3.0 / 104, accuracy: 0.008)
        XCTAssertEqual(Double(counts[IPAddress("203.0.113.3")!] ?? 0) / Double(runs), 100.0 / 104, accuracy: 0.01)
    }

    func testLeastLoadOrdersByFreshLoadThenDistanceThenAddress() {
        let states = Self.states([
            (Self.lon, BackendStatus(lastLoad: LoadReport(load: 0.5, receivedAt: 999))),
            (Self.fra, BackendStatus(lastLoad: LoadReport(load: 0.2, receivedAt: 999))),
            (Self.tyo, BackendStatus(lastLoad: LoadReport(load: 0.2, receivedAt: 999))),
            (Self.syd, BackendStatus(lastLoad: LoadReport(load: 0.01, receivedAt: 100))),  // stale: unknown
            (Self.gru, BackendStatus(probeHealthy: false, lastLoad: LoadReport(load: 0, receivedAt: 999))),  // down
        ])
        let d = decide(RouteSpec(pool: "web", policy: .leastLoad, answers: 8), states: states)
        // FRA and TYO tie on load: FRA is nearer Paris. Unknown loads (NYC, SYD) after known, by distance.
        XCTAssertEqual(d.answers, [Self.fra, Self.tyo, Self.lon, Self.nyc, Self.syd])
        // Without a location, ties fall to address order.
        let noClient = decide(RouteSpec(pool: "web", policy: .leastLoad, answers: 8), client: nil, states: states)
        XCTAssertEqual(noClient.answers, [Self.tyo, Self.fra, Self.lon, Self.nyc, Self.syd])
    }

    func testPolicyConfigSpellings() {
        XCTAssertEqual(RoutePolicy.allCases.map(\.configName), ["nearest", "round-robin", "random", "weighted", "least-load"])
        XCTAssertEqual(RoutePolicy(configName: "least-load"), .leastLoad)
        XCTAssertNil(RoutePolicy(configName: "roundrobin"))
        XCTAssertEqual(AllDownBehavior(configName: "fail-open"), .failOpen)
        XCTAssertEqual(AllDownBehavior(configName: "servfail"), .servfail)
        XCTAssertEqual(AllDownBehavior(configName: "fallback", fallbackPool: "backup"), .fallback(pool: "backup"))
        XCTAssertNil(AllDownBehavior(configName: "fallback"))
        XCTAssertEqual(AllDownBehavior.fallback(pool: "x").configName, "fallback")
    }

    // MARK: families and location

    func testAAAAUsesOnlyIPv6Members() {
        let d = decide(RouteSpec(pool: "web", answers: 8), family: .v6)
        XCTAssertEqual(d.answers, [Self.lon6, Self.nyc6])
        XCTAssertEqual(decide(RouteSpec(pool: "web"), client: Self.boston, family: .v6, explain: false).answers, [Self.nyc6])
        XCTAssertEqual(d.explanation?.pools.first?.members.count, 2)
    }

    func testNoMembersOfTheFamily() {
        let d = decide(RouteSpec(pool: "v4only"), family: .v6)
        XCTAssertEqual(d.outcome, .noMembers)
        XCTAssertEqual(decide(RouteSpec(pool: "v4only"), family: .v6, explain: false).outcome, .noMembers)
    }

    func testUnknownPool() {
        XCTAssertEqual(decide(RouteSpec(pool: "nope")).outcome, .unknownPool)
        XCTAssertEqual(decide(RouteSpec(pool: "nope"), explain: false).outcome, .unknownPool)
    }

    func testUnknownLocationUsesWeightsAmongHealthyMembers() {
        var counts: [IPAddress: Int] = [:]
        for e in 0..<5200 {
            let d = decide(RouteSpec(pool: "tie"), client: nil, entropy: UInt64(e))
            XCTAssertNil(d.client)
            XCTAssertFalse(d.clientLocated)
            counts[d.answers[0], default: 0] += 1
        }
        XCTAssertEqual(Double(counts[IPAddress("203.0.113.3")!] ?? 0) / 5200, 100.0 / 104, accuracy: 0.015)
        let explained = decide(RouteSpec(pool: "web", answers: 8), client: nil)
        XCTAssertEqual(explained.answers.count, 6)
        XCTAssertTrue(explained.explanation?.pools.first?.members.allSatisfy { $0.distanceKm == nil } ?? false)
        // An invalid coordinate counts as unknown.
        XCTAssertNil(decide(RouteSpec(pool: "web"), client: Coordinate(latitude: .nan, longitude: 0)).client)
    }

    // MARK: health

    func testForcedStateOverridesProbes() {
        // London's probe says down but an admin forced it up; Frankfurt's probe is fine but forced down.
        let states = Self.states([
            (Self.lon, BackendStatus(probeHealthy: false, forced: .up)),
            (Self.fra, BackendStatus(probeHealthy: true, forced: .down)),
        ])
        let d = decide(RouteSpec(pool: "web", answers: 3), states: states)
        XCTAssertEqual(d.answers, [Self.lon, Self.nyc, Self.gru])
        let members = d.explanation?.pools.first?.members ?? []
        let fra = members.first { $0.address == Self.fra }
        XCTAssertEqual(fra?.forced, .down)
        XCTAssertEqual(fra?.probeHealthy, true)
        XCTAssertEqual(fra?.healthy, false)
        XCTAssertNil(fra?.rank)
        XCTAssertEqual(fra?.chosen, false)
        let lon = members.first { $0.address == Self.lon }
        XCTAssertEqual(lon?.healthy, true)
        XCTAssertEqual(lon?.rank, 0)
        XCTAssertEqual(lon?.chosen, true)
    }

    static let allWebDown = states([nyc, lon, tyo, syd, gru, fra].map { ($0, down) })

    func testAllDownFailsOpenByDefault() {
        for explain in [true, false] {
            let d = decide(RouteSpec(pool: "web", answers: 2), states: Self.allWebDown, explain: explain)
            XCTAssertEqual(d.answers, [Self.lon, Self.fra])
            XCTAssertTrue(d.failedOpen)
            XCTAssertEqual(d.answeringPool, "web")
        }
        let d = decide(RouteSpec(pool: "web"), states: Self.allWebDown)
        XCTAssertEqual(d.explanation?.pools.count, 1)
        XCTAssertEqual(d.explanation?.pools.first?.allDown, true)
        XCTAssertEqual(d.explanation?.pools.first?.failedOpen, true)
        XCTAssertEqual(d.explanation?.pools.first?.members.map(\.rank), [0, 1, 2, 3, 4, 5])
        // The fast path agrees.
        XCTAssertEqual(decide(RouteSpec(pool: "web"), states: Self.allWebDown, explain: false).answers, [Self.lon])
    }

    func testAllDownServfail() {
        let d = decide(RouteSpec(pool: "web", allDown: .servfail), states: Self.allWebDown)
        XCTAssertEqual(d.outcome, .servfail)
        XCTAssertNil(d.answeringPool)
        XCTAssertEqual(d.explanation?.pools.first?.allDown, true)
        XCTAssertTrue(d.explanation?.pools.first?.members.allSatisfy { $0.rank == nil && !$0.chosen } ?? false)
        XCTAssertEqual(decide(RouteSpec(pool: "web", allDown: .servfail), states: Self.allWebDown, explain: false).outcome,
                       .servfail)
        // Only the asked family counts: IPv6 members are up, so AAAA still answers.
        XCTAssertEqual(decide(RouteSpec(pool: "web", allDown: .servfail), family: .v6, states: Self.allWebDown).answers,
                       [Self.lon6])
    }

    func testAllDownFallbackPool() {
        let route = RouteSpec(pool: "web", answers: 2, allDown: .fallback(pool: "backup"))
        let d = decide(route, states: Self.allWebDown)
        XCTAssertEqual(d.answers, [Self.backupA, Self.backupB])  // Amsterdam is nearer Paris than Singapore
        XCTAssertTrue(d.usedFallback)
        XCTAssertFalse(d.failedOpen)
        XCTAssertEqual(d.answeringPool, "backup")
        XCTAssertEqual(d.explanation?.pools.map(\.pool), ["web", "backup"])
        // A healthy primary does not use the fallback.
        XCTAssertFalse(decide(route).usedFallback)
    }

    func testFallbackPoolAlsoDownFailsOpenThere() {
        var entries = Self.allWebDown.byAddress
        entries[Self.backupA] = Self.down
        entries[Self.backupB] = Self.down
        let route = RouteSpec(pool: "web", allDown: .fallback(pool: "backup"))
        for explain in [true, false] {
            let d = decide(route, client: Coordinate(latitude: 1.3, longitude: 103.8), states: BackendStates(byAddress: entries),
                           explain: explain)
            XCTAssertEqual(d.answers, [Self.backupB])
            XCTAssertTrue(d.usedFallback)
            XCTAssertTrue(d.failedOpen)
        }
    }

    func testMissingFallbackPoolFailsOpenOnThePrimary() {
        let d = decide(RouteSpec(pool: "web", allDown: .fallback(pool: "gone")), states: Self.allWebDown)
        XCTAssertEqual(d.answers, [Self.lon])
        XCTAssertTrue(d.failedOpen)
        XCTAssertFalse(d.usedFallback)
    }

    // MARK: explanation

    func testExplanationListsEveryMember() throws {
        let states = Self.states([(Self.tyo, Self.down)])
        let d = decide(RouteSpec(pool: "web", answers: 2), states: states)
        let e = try XCTUnwrap(d.explanation)
        XCTAssertEqual(e.policy, .nearest)
        XCTAssertEqual(e.family, .v4)
        XCTAssertEqual(e.tieBand, 0.05)
        let members = try XCTUnwrap(e.pools.first?.members)
        XCTAssertEqual(members.map(\.address), [Self.lon, Self.fra, Self.nyc, Self.gru, Self.syd, Self.tyo])
        XCTAssertEqual(members.map(\.rank), [0, 1, 2, 3, 4, nil])
        XCTAssertEqual(members.map(\.chosen), [true, true, false, false, false, false])
        XCTAssertEqual(members[0].distanceKm ?? 0, haversineDistance(Self.paris, Coordinate(latitude: 51.5, longitude: -0.12)),
                       accuracy: 1e-6)
        XCTAssertEqual(members[0].capacity, 0.8)
        XCTAssertEqual(members[0].name, "192.0.2.20")
        XCTAssertEqual(members[5].healthy, false)
        XCTAssertEqual(e.pools.first?.allDown, false)
    }
}
