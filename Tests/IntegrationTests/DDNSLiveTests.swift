import DDNS
import DNSWire
import Foundation
@testable import ProximaApp
import XCTest

/// Dynamic DNS records served by the real server (issue #9): changes applied through the
/// publisher the DDNS service uses are answered over real UDP and TCP on loopback at once, the
/// DDNS zone's SOA serial follows them, and a reload keeps them.
final class DDNSLiveTests: XCTestCase {
    static let zone = """
        $ORIGIN example.test.
        $TTL 300
        @     SOA ns1 hostmaster 7 7200 3600 1209600 120
              NS  ns1
        ns1   A   192.0.2.53
        www   A   192.0.2.80
              TXT "zone text"
        other A   192.0.2.81
        geo   A   192.0.2.10
        """

    static let geoData = """
        {"192.0.2.10": {"latitude": 38.8, "longitude": -77.0}}
        """

    static func config(defaultTTL: Int = 60) -> String {
        """
        listen:
          - 127.0.0.1:0
        udp_threads: 2
        log_level: warning
        rrl:
          enabled: false   # bursts of queries from one address
        zones:
          - origin: example.test.
            file: example.zone
        geo_data: geo_data.json
        routing:
          names:
            geo.example.test.: {}
        ddns:
          zone: dyn.example.test.
          nameservers: [ns1.example.test.]
          allow_names_in: [example.test.]
          listen: 127.0.0.1:0
          store: sqlite:ddns.sqlite3
          admin_token: test-admin-token
          default_ttl: \(defaultTTL)
        """
    }

    static let files = ["example.zone": zone, "geo_data.json": geoData]

    func addresses(_ m: Message) -> [String] {
        m.answerSection.compactMap { rr in
            switch rr.rdata {
            case .a(let a), .aaaa(let a): return a.description
            default: return nil
            }
        }
    }

    func serial(_ m: Message) -> UInt32? {
        for rr in m.answerSection + m.authoritySection {
            if case .soa(let d) = rr.rdata { return d.serial }
        }
        return nil
    }

    static func silo1(db: String = "203.0.113.7") -> Silo {
        Silo(id: "silo1", records: [
            DDNSRecord(hostname: "dbserver", address: IPAddress(db)!),
            DDNSRecord(hostname: "webserver", address: IPAddress("2001:db8::7")!, ttl: 30),
            DDNSRecord(hostname: "www.example.test.", address: IPAddress("198.51.100.1")!),
        ])
    }

    func testPublishedChangesAreAnsweredOverUDPAndTCPAndSurviveReload() async throws {
        let live = try await LiveServer.start(config: Self.config(), files: Self.files)
        do {
            try await run(live)
        } catch {
            await live.stop()
            throw error
        }
        await live.stop()
    }

    func run(_ live: LiveServer) async throws {
        let publisher = DDNSOverlayPublisher(store: live.server.snapshotStore)
        // Before any change: the generated zone answers with serial 0 (+ version 0), names are NXDOMAIN.
        XCTAssertEqual(serial(try live.udp("dyn.example.test.", .soa)), 0)
        XCTAssertEqual(try live.udp("dbserver.silo1.dyn.example.test.", .a).rcode, .nxDomain)
        XCTAssertEqual(addresses(try live.udp("www.example.test.", .a)), ["192.0.2.80"])

        publisher.apply([.upsert(Self.silo1())], version: 1)
        for (how, ask) in [("UDP", live.udp), ("TCP", live.tcp)] as [(String, (String, RecordType, EDNS?) throws -> Message)] {
            let e = EDNS(udpPayloadSize: 1232)
            var m = try ask("dbserver.silo1.dyn.example.test.", .a, e)
            XCTAssertEqual(addresses(m), ["203.0.113.7"], how)
            XCTAssertEqual(m.answerSection.first?.ttl, 60, how)
            XCTAssertTrue(m.header.authoritative, how)
            m = try ask("WebServer.Silo1.DYN.example.test.", .aaaa, e)
            XCTAssertEqual(addresses(m), ["2001:db8::7"], how)
            XCTAssertEqual(m.answerSection.first?.name.description, "WebServer.Silo1.DYN.example.test.", "\(how): question's case")
            m = try ask("dbserver.silo1.dyn.example.test.", .aaaa, e)
            XCTAssertEqual(m.rcode, .noError, how)
            XCTAssertEqual(m.answerSection, [], how)
            XCTAssertEqual(m.authoritySection.map(\.type), [.soa], "\(how): NODATA carries the SOA")
            XCTAssertEqual(serial(m), 1, "\(how): serial = generated 0 + version 1")
            m = try ask("silo1.dyn.example.test.", .a, e)
            XCTAssertEqual(m.rcode, .noError, "\(how): silo name is an empty non-terminal")
            m = try ask("nobody.silo1.dyn.example.test.", .a, e)
            XCTAssertEqual(m.rcode, .nxDomain, how)
            XCTAssertEqual(serial(m), 1, how)
            XCTAssertEqual(addresses(try ask("www.example.test.", .a, e)), ["198.51.100.1"], "\(how): override in allow_names_in")
            XCTAssertEqual(try ask("www.example.test.", .txt, e).answerSection.map(\.type), [.txt], "\(how): other types from the file")
            XCTAssertEqual(addresses(try ask("other.example.test.", .a, e)), ["192.0.2.81"], how)
            XCTAssertEqual(try ask("dyn.example.test.", .ns, e).answerSection.map { $0.rdata.description }, ["ns1.example.test."], how)
        }

        // A burst: every change is answered by the very next query (no coalescing delay), and the
        // per-thread caches never replay an old address or serial.
        for i in 1...300 {
            let db = "203.0.113.\(i % 250 + 1)"
            publisher.apply([.upsert(Self.silo1(db: db))], version: UInt64(1 + i))
            let m = i.isMultiple(of: 2) ? try live.udp("dbserver.silo1.dyn.example.test.", .a)
                                        : try live.tcp("dbserver.silo1.dyn.example.test.", .a)
            XCTAssertEqual(addresses(m), [db], "change \(i)")
            XCTAssertEqual(serial(try live.udp("dyn.example.test.", .soa)), UInt32(1 + i), "change \(i)")
        }
        XCTAssertEqual(addresses(try live.udp("other.example.test.", .a)), ["192.0.2.81"])

        // The name policy the API consults, from the data being served.
        let policy = ServingDDNSNamePolicy(store: live.server.snapshotStore)
        XCTAssertNil(policy.refusal(for: try DomainName(parsing: "h.silo2.dyn.example.test.")))
        XCTAssertNil(policy.refusal(for: try DomainName(parsing: "new.example.test.")))
        XCTAssertNotNil(policy.refusal(for: try DomainName(parsing: "geo.example.test.")), "routed names cannot be DDNS names")
        XCTAssertNotNil(policy.refusal(for: try DomainName(parsing: "x.dyn.example.test.")))
        XCTAssertNotNil(policy.refusal(for: try DomainName(parsing: "www.elsewhere.test.")))

        // A reload (zone file and config changed) keeps every DDNS answer; the new default_ttl applies.
        try live.write("example.zone", Self.zone + "\nadded A 192.0.2.99\n")
        try live.write("proxima.yaml", Self.config(defaultTTL: 45))
        XCTAssertTrue(live.server.reload(reason: "test"))
        XCTAssertEqual(addresses(try live.udp("added.example.test.", .a)), ["192.0.2.99"])
        let last = "203.0.113.\(300 % 250 + 1)"
        var m = try live.udp("dbserver.silo1.dyn.example.test.", .a)
        XCTAssertEqual(addresses(m), [last], "a reload keeps DDNS records")
        XCTAssertEqual(m.answerSection.first?.ttl, 45)
        m = try live.tcp("www.example.test.", .a)
        XCTAssertEqual(addresses(m), ["198.51.100.1"])
        XCTAssertEqual(serial(try live.tcp("dyn.example.test.", .soa)), 301)

        // Deleting the silo removes its names at once; the zone's own answer comes back.
        publisher.apply([.delete(id: "silo1")], version: 302)
        XCTAssertEqual(try live.udp("dbserver.silo1.dyn.example.test.", .a).rcode, .nxDomain)
        XCTAssertEqual(addresses(try live.udp("www.example.test.", .a)), ["192.0.2.80"])
    }

    /// The name policy's per-snapshot shortcut (a plain DDNS zone accepts every
    /// `host.silo.<zone>` without lookups) never accepts what the full check refuses: the DDNS
    /// zone from a file, plain, then with a zone cut, a CNAME, a wildcard CNAME and a zone of its
    /// own below it, then plain again (each a reload).
    func testNamePolicyShortcutAgreesWithTheFullCheck() async throws {
        func config(subZone: Bool) -> String {
            """
            listen:
              - 127.0.0.1:0
            udp_threads: 1
            log_level: warning
            zones:
              - origin: example.test.
                file: example.zone
              - origin: dyn.example.test.
                file: dyn.zone
            \(subZone ? "  - origin: s2.dyn.example.test.\n    file: s2.zone" : "")
            ddns:
              zone: dyn.example.test.
              allow_names_in: [example.test.]
              listen: 127.0.0.1:0
              store: sqlite:ddns.sqlite3
              admin_token: test-admin-token
            """
        }
        let plain = """
            $ORIGIN dyn.example.test.
            $TTL 300
            @     SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 120
                  NS  ns1.example.test.
            """
        let busy = plain + """

            cut.s1  NS    ns.elsewhere.test.
            alias.s1 CNAME www.example.test.
            *.s3    CNAME www.example.test.
            """
        let sub = """
            $ORIGIN s2.dyn.example.test.
            $TTL 300
            @     SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 120
                  NS  ns1.example.test.
            """
        let live = try await LiveServer.start(config: config(subZone: false), files: ["example.zone": Self.zone, "dyn.zone": plain, "s2.zone": sub])
        defer { Task { await live.stop() } }
        let store = live.server.snapshotStore
        let policy = ServingDDNSNamePolicy(store: store)
        let names = try ["h.s1", "cut.s1", "x.cut.s1", "alias.s1", "h.s3", "h.s2", "s1", "H.S1"].map {
            try DomainName(parsing: $0 + ".dyn.example.test.")
        } + [try DomainName(parsing: "www.example.test.")]
        func agree(_ stage: String) throws -> [String?] {
            let table = try XCTUnwrap(store.ddns)
            let refusals = names.map { policy.refusal(for: $0) }
            for (name, refusal) in zip(names, refusals) {
                XCTAssertEqual(refusal, ServingDDNSNamePolicy.fullRefusal(for: name, snapshot: store.snapshot, table: table),
                               "\(stage): \(name)")
            }
            return refusals
        }
        let zone = try DomainName(parsing: "dyn.example.test.")
        XCTAssertTrue(ServingDDNSNamePolicy.PlainZone.isPlain(zone, in: store.snapshot))
        var refusals = try agree("plain")
        XCTAssertEqual(refusals.map { $0 == nil }, [true, true, false, true, true, true, false, true, true])

        try live.write("dyn.zone", busy)
        XCTAssertTrue(live.server.reload(reason: "test"))
        XCTAssertFalse(ServingDDNSNamePolicy.PlainZone.isPlain(zone, in: store.snapshot))
        refusals = try agree("cut, CNAME, wildcard")
        XCTAssertEqual(refusals.map { $0 == nil }, [true, false, false, false, false, true, false, true, true])
        XCTAssertTrue(refusals[1]?.contains("zone cut") == true, "\(refusals)")
        XCTAssertTrue(refusals[3]?.contains("CNAME") == true, "\(refusals)")

        try live.write("dyn.zone", plain)
        try live.write("s2.zone", sub)
        try live.write("proxima.yaml", config(subZone: true))
        XCTAssertTrue(live.server.reload(reason: "test"))
        XCTAssertFalse(ServingDDNSNamePolicy.PlainZone.isPlain(zone, in: store.snapshot))
        refusals = try agree("a zone below")
        XCTAssertTrue(refusals[5]?.contains("s2.dyn.example.test.") == true, "\(refusals)")

        try live.write("proxima.yaml", config(subZone: false))
        XCTAssertTrue(live.server.reload(reason: "test"))
        XCTAssertTrue(ServingDDNSNamePolicy.PlainZone.isPlain(zone, in: store.snapshot))
        refusals = try agree("plain again")
        XCTAssertEqual(refusals.map { $0 == nil }, [true, true, false, true, true, true, false, true, true])
    }

    /// `proxima explain` and `proxima route` tell the truth about DDNS names: live (through the
    /// admin socket) they name the silo, record and address; offline they say the records live in
    /// the store.
    func testExplainAndRouteTellTheTruthAboutDDNSNames() async throws {
        let config = Self.config() + "\nadmin:\n  listen: 127.0.0.1:0\n"
        let live = try await LiveServer.start(config: config, files: Self.files)
        defer { Task { await live.stop() } }
        DDNSOverlayPublisher(store: live.server.snapshotStore).apply([.upsert(Self.silo1())], version: 1)
        let configPath = live.directory.appendingPathComponent("proxima.yaml").path

        var (status, out, err) = try ServerProcess.run(["explain", "dbserver.silo1.dyn.example.test", "--live", "--config", configPath])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("DDNS silo silo1 record dbserver"), out)
        XCTAssertTrue(out.contains("203.0.113.7"), out)
        (status, out, err) = try ServerProcess.run(["explain", "www.example.test", "A", "--live", "--json", "--config", configPath])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("198.51.100.1"), out)
        XCTAssertTrue(out.contains(#""kind" : "ddns""#), out)

        // Offline: the files do not hold DDNS records, and explain says where they are.
        (status, out, err) = try ServerProcess.run(["explain", "dbserver.silo1.dyn.example.test", "--config", configPath])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("NXDOMAIN"), out)
        XCTAssertTrue(out.contains("live in the DDNS store"), out)

        // route: a DDNS name is not routed, and says so (offline and live).
        (status, out, err) = try ServerProcess.run(["route", "127.0.0.1", "--name", "dbserver.silo1.dyn.example.test", "--config", configPath])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("dynamic DNS"), err)
        (status, out, err) = try ServerProcess.run(["route", "127.0.0.1", "--live", "--name", "dbserver.silo1.dyn.example.test",
                                                    "--json", "--config", configPath])
        XCTAssertTrue((out + err).contains("DDNS silo silo1 record dbserver: 203.0.113.7"), out + err)
        (status, out, err) = try ServerProcess.run(["route", "127.0.0.1", "--live", "--name", "dbserver.silo1.dyn.example.test",
                                                    "--config", configPath])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(err.contains("DDNS silo silo1 record dbserver: 203.0.113.7"), err)
        await live.stop()
    }
}
