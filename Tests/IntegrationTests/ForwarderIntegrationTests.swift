import DNSWire
import Forwarder
import Foundation
import Synchronization
import XCTest

/// The opt-in fallback resolver (`forward:`, issue #10) against real upstreams on loopback: knotd
/// serving `upstream.test.`, a counting relay in front of it, and scripted UDP upstreams.
final class ForwarderIntegrationTests: XCTestCase {
    let localhost = IPAddress("127.0.0.1")!

    func config(upstreams: [String], timeout: String = "1500ms", extra: String = "") -> String {
        TestConfigs.battery(extra: """
        forward:
          allow: [127.0.0.1/32]
          upstreams: [\(upstreams.map { "\"\($0)\"" }.joined(separator: ", "))]
          timeout: \(timeout)
        \(extra)
        """)
    }

    func start(_ config: String) async throws -> LiveServer {
        try await LiveServer.start(config: config, copies: ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")])
    }

    /// Answers relayed with RA and cached: the second answer comes without an upstream packet and
    /// with a TTL no higher than the first; NXDOMAIN is cached too (RFC 2308). Names in our zones
    /// are never forwarded; a client outside `allow` is REFUSED.
    func testRelayCacheNegativeCacheOwnNamesAndAllow() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        let relay = try TestUpstreams.ScriptedUDP.relay(to: knot.port)
        defer { relay.stop() }
        let live = try await start(config(upstreams: ["127.0.0.1:\(relay.port)"]))
        defer { Task { await live.stop() } }

        let first = try live.udp("www.upstream.test.", .a)
        XCTAssertEqual(first.rcode, .noError)
        XCTAssertTrue(first.header.recursionAvailable)
        XCTAssertFalse(first.header.authoritative)
        XCTAssertEqual(first.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
        let firstTTL = try XCTUnwrap(first.answerSection.first?.ttl)
        XCTAssertLessThanOrEqual(firstTTL, 300)
        XCTAssertEqual(relay.count, 1)

        // Case differs: same cache entry; the question is echoed as asked.
        let second = try live.udp("WWW.Upstream.TEST.", .a)
        XCTAssertEqual(second.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
        XCTAssertLessThanOrEqual(try XCTUnwrap(second.answerSection.first?.ttl), firstTTL)
        XCTAssertTrue(second.header.recursionAvailable)
        XCTAssertEqual(second.questions.first?.name.description, "WWW.Upstream.TEST.")
        // Over TCP too (the cache is shared by UDP threads and TCP event loops).
        XCTAssertEqual(try live.tcp("www.upstream.test.", .a).answerSection.count, 1)
        XCTAssertEqual(relay.count, 1, "cache hits send nothing upstream")

        let nx = try live.udp("nope.upstream.test.", .a)
        XCTAssertEqual(nx.rcode, .nxDomain)
        XCTAssertTrue(nx.header.recursionAvailable)
        XCTAssertEqual(nx.authoritySection.first?.rdata.type, .soa)
        XCTAssertLessThanOrEqual(try XCTUnwrap(nx.authoritySection.first?.ttl), 120)
        XCTAssertEqual(relay.count, 2)
        XCTAssertEqual(try live.udp("nope.upstream.test.", .a).rcode, .nxDomain)
        XCTAssertEqual(relay.count, 2, "NXDOMAIN is cached")

        // Our own names, existing or not, are answered authoritatively and never forwarded.
        let own = try live.udp("www.battery.test.", .a)
        XCTAssertTrue(own.header.authoritative)
        XCTAssertFalse(own.header.recursionAvailable)
        XCTAssertEqual(try live.udp("missing.battery.test.", .a).rcode, .nxDomain)
        XCTAssertTrue(try live.udp("www.battery.test.", .a).header.authoritative, "again (the in-zone memo)")
        XCTAssertTrue(try live.tcp("www.battery.test.", .a).header.authoritative)
        XCTAssertEqual(relay.count, 2, "names in our zones are never forwarded")

        // 127.0.0.2 is outside allow: REFUSED as without forward:, RA clear, nothing sent upstream.
        let refused = try XCTUnwrap(TestUpstreams.udp(from: IPAddress("127.0.0.2")!,
                                                      DNSTestClient.query("other.upstream.test.", .a), to: live.port))
        XCTAssertEqual(refused.rcode, .refused)
        XCTAssertFalse(refused.header.recursionAvailable)
        // ::1 is not in allow either (IPv4 networks never match IPv6 clients), even for a cached name.
        let v6 = try DNSTestClient.udp("www.upstream.test.", .a, server: IPAddress("::1")!, port: live.endpoints[1].port)
        XCTAssertEqual(v6.rcode, .refused)
        XCTAssertFalse(v6.header.recursionAvailable)
        XCTAssertEqual(relay.count, 2)
        let stats = try XCTUnwrap(live.server.forwarder?.stats)
        XCTAssertGreaterThanOrEqual(stats.cacheHits.load(ordering: .relaxed), 3)
    }

    /// A large answer: the UDP reply from knotd is truncated, the forwarder retries over TCP; a
    /// TCP client gets all of it, a 1232-byte UDP client gets TC.
    func testTruncatedUpstreamReplyIsRetriedOverTCP() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        let live = try await start(config(upstreams: ["127.0.0.1:\(knot.port)"]))
        defer { Task { await live.stop() } }
        let tcp = try live.tcp("big.upstream.test.", .txt)
        XCTAssertEqual(tcp.rcode, .noError)
        XCTAssertEqual(tcp.answerSection.count, 1)
        XCTAssertFalse(tcp.header.truncated)
        let stats = try XCTUnwrap(live.server.forwarder?.stats)
        XCTAssertEqual(stats.tcpRetries.load(ordering: .relaxed), 1)
        let udp = try live.udp("big.upstream.test.", .txt)
        XCTAssertTrue(udp.header.truncated)
        XCTAssertTrue(udp.answerSection.isEmpty)
        XCTAssertTrue(udp.header.recursionAvailable)
    }

    /// A dead first upstream: the second answers after the first's timeout; with only dead
    /// upstreams the client gets SERVFAIL (RA set) once the timeouts ran out.
    func testFailoverAndServFailWhenUpstreamsAreDown() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        // A bound socket that never answers: a silent upstream.
        let (silent, silentPort) = try TestUpstreams.boundUDP()
        defer { close(silent) }
        let live = try await start(config(upstreams: ["127.0.0.1:\(silentPort)", "127.0.0.1:\(knot.port)"], timeout: "300ms"))
        defer { Task { await live.stop() } }
        let answer = try live.udp("www.upstream.test.", .a)
        XCTAssertEqual(answer.rcode, .noError)
        XCTAssertEqual(answer.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
        XCTAssertEqual(live.server.forwarder?.stats.timeouts.load(ordering: .relaxed), 1)

        let dead = try await start(config(upstreams: ["127.0.0.1:\(silentPort)"], timeout: "300ms"))
        defer { Task { await dead.stop() } }
        let fail = try dead.udp("www.upstream.test.", .a)
        XCTAssertEqual(fail.rcode, .servFail)
        XCTAssertTrue(fail.header.recursionAvailable)
        XCTAssertEqual(dead.server.forwarder?.stats.servFails.load(ordering: .relaxed), 1)
    }

    /// RFC 5452 §9.1: a reply from another port, and one with a wrong ID, are dropped and counted;
    /// the genuine reply that follows is relayed.
    func testSpoofedRepliesAreDropped() async throws {
        let fake = try TestUpstreams.ScriptedUDP { query, reply, spoofFD in
            guard var m = try? Message(parsing: query), let q = m.questions.first else { return }
            m.header.isResponse = true
            m.header.recursionAvailable = true
            m.edns = nil
            func answer(_ a: String) -> [UInt8] {
                var r = m
                r.answerSection = [ResourceRecord(name: q.name, ttl: 60, rdata: .a(IPAddress(a)!))]
                return r.serialized()
            }
            reply(spoofFD, answer("203.0.113.66"))          // right ID, wrong source port
            var wrongID = answer("203.0.113.66")
            wrongID[0] ^= 0x5a
            reply(-1, wrongID)                               // right source, wrong ID
            var otherQuestion = m
            otherQuestion.questions = [Question(name: try! DomainName(parsing: "evil.example."), type: .a)]
            reply(-1, otherQuestion.serialized())            // right source and ID, wrong question
            reply(-1, answer("192.0.2.77"))                  // the genuine reply
        }
        defer { fake.stop() }
        let live = try await start(config(upstreams: ["127.0.0.1:\(fake.port)"]))
        defer { Task { await live.stop() } }
        let r = try live.udp("spoof.example.", .a)
        XCTAssertEqual(r.rcode, .noError)
        XCTAssertEqual(r.answerSection.map(\.rdata), [.a(IPAddress("192.0.2.77")!)])
        let stats = try XCTUnwrap(live.server.forwarder?.stats)
        let dropped = LiveServer.eventually(timeout: 5) { stats.mismatchedReplies.load(ordering: .relaxed) >= 2 }
        XCTAssertTrue(dropped, "spoofed replies counted: \(stats.mismatchedReplies.load(ordering: .relaxed))")
        XCTAssertEqual(fake.count, 1)
    }

    /// Concurrent identical questions share one upstream query; past `max_pending` distinct
    /// questions a client gets SERVFAIL at once. The upstream holds its reply until released, so
    /// the test waits on the forwarder's pending counts, not on time.
    func testIdenticalQuestionsShareOneUpstreamQueryAndPendingIsBounded() async throws {
        let release = DispatchSemaphore(value: 0)
        let held = try TestUpstreams.ScriptedUDP { query, reply, _ in
            guard var m = try? Message(parsing: query), let q = m.questions.first else { return }
            _ = release.wait(timeout: .now() + 10)
            m.header.isResponse = true
            m.edns = nil
            m.answerSection = [ResourceRecord(name: q.name, ttl: 60, rdata: .a(IPAddress("192.0.2.88")!))]
            reply(-1, m.serialized())
        }
        defer { held.stop() }
        let live = try await start(config(upstreams: ["127.0.0.1:\(held.port)"], timeout: "10s", extra: "  max_pending: 1"))
        defer { Task { await live.stop() } }
        let forwarder = try XCTUnwrap(live.server.forwarder)
        let port = live.port
        final class Answers: @unchecked Sendable {
            let lock = NSLock()
            var messages: [Message] = []
            func add(_ m: Message) { lock.lock(); messages.append(m); lock.unlock() }
            var all: [Message] { lock.lock(); defer { lock.unlock() }; return messages }
        }
        let collected = Answers()
        // Dedicated threads (GCD may start blocking work late) and a generous client timeout.
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<5 {
            Thread.detachNewThread {
                defer { done.signal() }
                let query = DNSTestClient.query("same.example.", .a)
                if let r = try? DNSTestClient.udpRaw(query, to: IPAddress("127.0.0.1")!, port: port, timeout: 20),
                   let m = try? Message(parsing: r), m.header.id == UInt16(query[0]) << 8 | UInt16(query[1]) {
                    collected.add(m)
                }
            }
        }
        let waiting = LiveServer.eventually(timeout: 10) { forwarder.pendingCounts == (1, 5) }
        XCTAssertTrue(waiting, "pending: \(forwarder.pendingCounts)")
        // A second distinct question while the first is pending: over max_pending, SERVFAIL now.
        let over = try live.udp("other.example.", .a)
        XCTAssertEqual(over.rcode, .servFail)
        XCTAssertTrue(over.header.recursionAvailable)
        XCTAssertEqual(forwarder.stats.overloaded.load(ordering: .relaxed), 1)
        release.signal()
        for _ in 0..<5 { XCTAssertEqual(done.wait(timeout: .now() + 30), .success) }
        let answers = collected.all
        XCTAssertEqual(answers.count, 5)
        XCTAssertTrue(answers.allSatisfy { $0.answerSection.first?.rdata == .a(IPAddress("192.0.2.88")!) })
        XCTAssertEqual(held.count, 1, "five clients, one upstream query")
        XCTAssertEqual(forwarder.pendingCounts.questions, 0)
    }

    /// A reload that adds a zone covering a cached name: the zone answers, the cache entry
    /// (learned under the old snapshot) is never served again.
    func testCachedNameCoveredByANewZoneIsAnsweredFromTheZone() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        let cfg = config(upstreams: ["127.0.0.1:\(knot.port)"])
        let live = try await start(cfg)
        defer { Task { await live.stop() } }
        XCTAssertEqual(try live.udp("www.upstream.test.", .a).answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
        try live.write("upstream.zone", "$ORIGIN upstream.test.\n$TTL 60\n@ SOA ns h 1 1 1 1 1\n  NS ns\nns A 192.0.2.1\nwww A 192.0.2.200\n")
        let withZone = cfg.replacingOccurrences(of: "zones:\n", with: "zones:\n  - origin: upstream.test.\n    file: upstream.zone\n")
        XCTAssertNotEqual(withZone, cfg)
        try live.write("proxima.yaml", withZone)
        XCTAssertTrue(live.server.reload(reason: "test"))
        let own = try live.udp("www.upstream.test.", .a)
        XCTAssertTrue(own.header.authoritative)
        XCTAssertFalse(own.header.recursionAvailable)
        XCTAssertEqual(own.answerSection.first?.rdata, .a(IPAddress("192.0.2.200")!))
        XCTAssertTrue(try live.udp("www.upstream.test.", .a).header.authoritative, "again (the in-zone memo)")
        // And back: with the zone gone the name is forwarded again (the memo is per snapshot).
        try live.write("proxima.yaml", cfg)
        XCTAssertTrue(live.server.reload(reason: "test"))
        let forwarded = try live.udp("www.upstream.test.", .a)
        XCTAssertTrue(forwarded.header.recursionAvailable)
        XCTAssertFalse(forwarded.header.authoritative)
        XCTAssertEqual(forwarded.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
    }

    /// An upstream that answers garbage (from the right address, with the right ID) is counted
    /// and skipped: the next upstream answers.
    func testGarbageUpstreamIsSkipped() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        let garbage = try TestUpstreams.ScriptedUDP { query, reply, _ in
            // Header of a response with our ID and question, then bytes that do not parse.
            var r = query
            r[2] |= 0x80
            r[7] = 5   // claims 5 answers that are not there
            reply(-1, r)
        }
        defer { garbage.stop() }
        let live = try await start(config(upstreams: ["127.0.0.1:\(garbage.port)", "127.0.0.1:\(knot.port)"]))
        defer { Task { await live.stop() } }
        let r = try live.udp("www.upstream.test.", .a)
        XCTAssertEqual(r.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
        XCTAssertEqual(live.server.forwarder?.stats.garbageReplies.load(ordering: .relaxed), 1)
    }

    /// An upstream answering SERVFAIL (or FORMERR) is passed over for the next one.
    func testServFailAndFormErrUpstreamsAreSkipped() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        func failing(_ rcode: UInt8) throws -> TestUpstreams.ScriptedUDP {
            try TestUpstreams.ScriptedUDP { query, reply, _ in
                var r = query
                r[2] |= 0x80
                r[3] = (r[3] & 0xf0) | rcode
                reply(-1, r)
            }
        }
        let servfail = try failing(2), formerr = try failing(1)
        defer { servfail.stop(); formerr.stop() }
        let live = try await start(config(upstreams: ["127.0.0.1:\(servfail.port)", "127.0.0.1:\(formerr.port)",
                                                      "127.0.0.1:\(knot.port)"]))
        defer { Task { await live.stop() } }
        let r = try live.udp("www.upstream.test.", .a)
        XCTAssertEqual(r.rcode, .noError)
        XCTAssertEqual(r.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
        XCTAssertEqual(live.server.forwarder?.stats.upstreamFailures.load(ordering: .relaxed), 2)
        XCTAssertEqual(servfail.count, 1)
        XCTAssertEqual(formerr.count, 1)
    }

    /// `upstreams: [from-resolv-conf]` reads the injected file, dropping our own address.
    func testUpstreamsFromResolvConf() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        // resolv.conf has no port (always 53), so its nameservers here are silent loopback
        // addresses; the configured address after them answers.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resolv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let resolv = dir.appendingPathComponent("resolv.conf")
        try Data("# test\nnameserver 127.0.0.9\nnameserver 127.0.0.10\n".utf8).write(to: resolv)
        let live = try await start("""
        listen: ["127.0.0.1:0"]
        udp_threads: 1
        zones:
          - origin: battery.test.
            file: battery.zone
        forward:
          allow: [127.0.0.1/32]
          upstreams: [from-resolv-conf, "127.0.0.1:\(knot.port)"]
          resolv_conf: \(resolv.path)
          timeout: 200ms
        """)
        defer { Task { await live.stop() } }
        let ups = try XCTUnwrap(live.server.forwarder?.configuration.upstreams)
        XCTAssertEqual(ups.map { "\($0.address):\($0.port)" }, ["127.0.0.9:53", "127.0.0.10:53", "127.0.0.1:\(knot.port)"])
        // Both resolv.conf upstreams are silent on loopback here; the third answers.
        let r = try live.udp("www.upstream.test.", .a)
        XCTAssertEqual(r.answerSection.first?.rdata, .a(IPAddress("198.51.100.7")!))
    }
}

/// Without `forward:` Proxima is not an open resolver: a name outside our zones is REFUSED with
/// RA clear, and nothing is sent anywhere.
final class NotAnOpenResolverTests: XCTestCase {
    func testOutOfZoneNameIsRefusedWithoutForwardSection() async throws {
        let knot = try TestUpstreams.Knot()
        defer { knot.stop() }
        let relay = try TestUpstreams.ScriptedUDP.relay(to: knot.port)
        defer { relay.stop() }
        let live = try await LiveServer.start(config: TestConfigs.battery(),
                                              copies: ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")])
        defer { Task { await live.stop() } }
        XCTAssertNil(live.server.forwarder)
        for name in ["www.upstream.test.", "example.com.", "."] {
            let r = try live.udp(name, .a)
            XCTAssertEqual(r.rcode, .refused, name)
            XCTAssertFalse(r.header.recursionAvailable, name)
        }
        XCTAssertEqual(relay.count, 0)
    }
}
