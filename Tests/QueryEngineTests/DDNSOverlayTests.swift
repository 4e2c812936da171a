import DNSWire
import DNSZone
import GeoRouting
import XCTest
@testable import QueryEngine

/// Dynamic DNS records in the engine (issue #9, "Model"): silo names under the DDNS zone, empty
/// non-terminals (RFC 8020), NODATA/NXDOMAIN with the SOA (RFC 2308 §2), the SOA serial following
/// every committed change (RFC 1982), overrides in `allow_names_in` zones, case (RFC 4343), and the
/// fast path's caches staying correct while the table changes.
final class DDNSOverlayTests: XCTestCase {
    static let ddnsZone = """
        $ORIGIN dyn.example.test.
        $TTL 300
        @     SOA ns1.example.test. hostmaster.example.test. 1000 7200 3600 1209600 60
              NS  ns1.example.test.
        static A 192.0.2.50
        """
    static let mainZone = """
        $ORIGIN example.test.
        $TTL 300
        @     SOA ns1 hostmaster 7 7200 3600 1209600 120
              NS  ns1
        ns1   A   192.0.2.53
        www   A   192.0.2.80
              TXT "zone text"
        other A   192.0.2.81
        """

    static func snapshot() throws -> EngineSnapshot {
        let zones = try [(ddnsZone, "dyn.example.test."), (mainZone, "example.test.")].map {
            try ZoneParser.parse(text: $0.0, file: $0.1, origin: try DomainName(parsing: $0.1))
        }
        return EngineSnapshot(zones: try ZoneSet(zones), routes: [:], geoData: nil, locator: NoLocator(),
                              settings: EngineSettings(), generation: 1)
    }

    static let settings = DDNSTableSettings(zone: try! DomainName(parsing: "dyn.example.test."),
                                            allowNamesIn: [try! DomainName(parsing: "example.test.")], defaultTTL: 60)

    static func silo1() -> Silo {
        Silo(id: "silo1", records: [
            .init(hostname: "dbserver", address: IPAddress("203.0.113.7")!),
            .init(hostname: "webserver", address: IPAddress("2001:db8::7")!, ttl: 30),
            .init(hostname: "www.example.test.", address: IPAddress("198.51.100.1")!),
            .init(hostname: "deep.new.example.test.", address: IPAddress("198.51.100.2")!),
        ])
    }

    func ask(_ snap: EngineSnapshot, _ table: DDNSTable?, _ name: String, _ type: RecordType,
             transport: QueryTransport = .tcp) throws -> Message {
        let q = Message(header: Header(id: 7), questions: [Question(name: try DomainName(parsing: name), type: type)]).serialized()
        guard case .response(let r) = QueryEngine.respond(to: q, context: QueryContext(source: IPAddress("192.0.2.9")!, transport: transport),
                                                          snapshot: snap, states: BackendStates(), ddns: table) else {
            throw XCTSkip("unreachable: the engine always answers a well-formed query")
        }
        return try Message(parsing: r)
    }

    func serial(_ m: Message) -> UInt32? {
        for rr in m.answerSection + m.authoritySection {
            if case .soa(let d) = rr.rdata { return d.serial }
        }
        return nil
    }

    func addresses(_ m: Message) -> [String] {
        m.answerSection.compactMap { rr in
            switch rr.rdata {
            case .a(let a), .aaaa(let a): return a.description
            default: return nil
            }
        }
    }

    func testSiloNamesAnswerAndNegativeAnswersFollowRFC2308() throws {
        let snap = try Self.snapshot()
        let t = DDNSTable(settings: Self.settings).applying([.upsert(Self.silo1())], version: 5)

        var m = try ask(snap, t, "dbserver.silo1.dyn.example.test.", .a)
        XCTAssertEqual(m.rcode, .noError)
        XCTAssertTrue(m.header.authoritative)
        XCTAssertEqual(addresses(m), ["203.0.113.7"])
        XCTAssertEqual(m.answerSection.first?.ttl, 60, "default_ttl when the record names none")

        m = try ask(snap, t, "webserver.silo1.dyn.example.test.", .aaaa)
        XCTAssertEqual(addresses(m), ["2001:db8::7"])
        XCTAssertEqual(m.answerSection.first?.ttl, 30, "the record's own TTL")

        // RFC 2308 §2.2: the name exists, no data of the type → NODATA with the SOA.
        for (name, type) in [("dbserver.silo1.dyn.example.test.", RecordType.aaaa), ("dbserver.silo1.dyn.example.test.", .mx),
                             ("webserver.silo1.dyn.example.test.", .a), ("webserver.silo1.dyn.example.test.", .txt)] {
            m = try ask(snap, t, name, type)
            XCTAssertEqual(m.rcode, .noError, "\(name) \(type)")
            XCTAssertEqual(m.answerSection, [], "\(name) \(type)")
            XCTAssertEqual(m.authoritySection.first?.type, .soa, "\(name) \(type)")
            XCTAssertEqual(m.authoritySection.first?.ttl, 60, "RFC 2308 §3: min(SOA TTL, MINIMUM)")
        }
        // RFC 8020: silo1.dyn.example.test. has names below it: an empty non-terminal, NODATA.
        m = try ask(snap, t, "silo1.dyn.example.test.", .a)
        XCTAssertEqual(m.rcode, .noError)
        XCTAssertEqual(m.answerSection, [])
        XCTAssertEqual(m.authoritySection.first?.type, .soa)
        // RFC 2308 §2.1: unknown names are NXDOMAIN with the SOA.
        for name in ["nohost.silo1.dyn.example.test.", "dbserver.silo2.dyn.example.test.", "silo2.dyn.example.test.",
                     "x.dbserver.silo1.dyn.example.test."] {
            m = try ask(snap, t, name, .a)
            XCTAssertEqual(m.rcode, .nxDomain, name)
            XCTAssertEqual(m.authoritySection.first?.type, .soa, name)
        }
        // The zone file's own names still answer.
        XCTAssertEqual(addresses(try ask(snap, t, "static.dyn.example.test.", .a)), ["192.0.2.50"])
        // ANY over TCP: both addresses; over UDP one RRset (RFC 8482 §4.1).
        let both = DDNSTable(settings: Self.settings).applying([.upsert(.init(id: "s", records: [
            .init(hostname: "h", address: IPAddress("192.0.2.1")!), .init(hostname: "h", address: IPAddress("2001:db8::1")!),
        ]))], version: 1)
        XCTAssertEqual(Set(addresses(try ask(snap, both, "h.s.dyn.example.test.", .any))), ["192.0.2.1", "2001:db8::1"])
        XCTAssertEqual(addresses(try ask(snap, both, "h.s.dyn.example.test.", .any, transport: .udp)), ["192.0.2.1"])
    }

    func testRFC4343_caseInsensitiveAnsweredInTheQuestionsCase() throws {
        let snap = try Self.snapshot()
        let t = DDNSTable(settings: Self.settings).applying([.upsert(.init(id: "Silo1", records: [
            .init(hostname: "DBServer", address: IPAddress("203.0.113.7")!),
        ]))], version: 1)
        let m = try ask(snap, t, "dbSERVER.sILO1.Dyn.Example.TEST.", .a)
        XCTAssertEqual(addresses(m), ["203.0.113.7"])
        XCTAssertEqual(m.answerSection.first?.name.wire, try DomainName(parsing: "dbSERVER.sILO1.Dyn.Example.TEST.").wire,
                       "the owner is written as asked")
        XCTAssertEqual(m.questions.first?.name.wire, try DomainName(parsing: "dbSERVER.sILO1.Dyn.Example.TEST.").wire)
    }

    func testRFC1982_serialFollowsEveryCommittedChange() throws {
        let snap = try Self.snapshot()
        var t = DDNSTable(settings: Self.settings)
        var last: UInt32?
        for version in UInt64(1)...5 {
            t = t.applying([.upsert(.init(id: "s\(version)", records: [.init(hostname: "h", address: IPAddress("192.0.2.\(version)")!)]))],
                           version: version)
            // Every SOA the zone emits: the answer at the apex, and the authority of NODATA/NXDOMAIN.
            let apex = serial(try ask(snap, t, "dyn.example.test.", .soa))
            let nodata = serial(try ask(snap, t, "h.s1.dyn.example.test.", .txt))
            let nx = serial(try ask(snap, t, "nothing.dyn.example.test.", .a))
            XCTAssertEqual(apex, 1000 + UInt32(version))
            XCTAssertEqual(nodata, apex)
            XCTAssertEqual(nx, apex)
            if let last, let apex { XCTAssertGreaterThan(apex, last) }
            last = apex
        }
        // Other zones keep their file's serial.
        XCTAssertEqual(serial(try ask(snap, t, "nothing.example.test.", .a)), 7)
        // RFC 1982: the serial wraps modulo 2^32.
        let wrapped = t.applying([], version: UInt64(UInt32.max))
        XCTAssertEqual(serial(try ask(snap, wrapped, "dyn.example.test.", .soa)), 999)
    }

    func testAllowNamesInOverridesTheZonesAddresses() throws {
        let snap = try Self.snapshot()
        let t = DDNSTable(settings: Self.settings).applying([.upsert(Self.silo1())], version: 1)
        // Without DDNS: the zone file's A.
        XCTAssertEqual(addresses(try ask(snap, nil, "www.example.test.", .a)), ["192.0.2.80"])
        // With it: the silo's address replaces the zone's A; AAAA (none in DDNS) is NODATA.
        XCTAssertEqual(addresses(try ask(snap, t, "WWW.example.test.", .a)), ["198.51.100.1"])
        var m = try ask(snap, t, "www.example.test.", .aaaa)
        XCTAssertEqual(m.rcode, .noError)
        XCTAssertEqual(m.answerSection, [])
        XCTAssertEqual(m.authoritySection.first?.type, .soa)
        // Other types at the name are still the zone's.
        m = try ask(snap, t, "www.example.test.", .txt)
        XCTAssertEqual(m.answerSection.first?.type, .txt)
        // A name the zone does not have exists through DDNS; its parent is an empty non-terminal.
        XCTAssertEqual(addresses(try ask(snap, t, "deep.new.example.test.", .a)), ["198.51.100.2"])
        m = try ask(snap, t, "new.example.test.", .a)
        XCTAssertEqual(m.rcode, .noError, "RFC 8020: an ancestor of a DDNS name exists")
        m = try ask(snap, t, "deep.new.example.test.", .mx)
        XCTAssertEqual(m.rcode, .noError)
        XCTAssertEqual(m.answerSection, [])
        // Untouched names are unchanged, and the zone's serial is its file's.
        XCTAssertEqual(addresses(try ask(snap, t, "other.example.test.", .a)), ["192.0.2.81"])
        XCTAssertEqual(try ask(snap, t, "absent.example.test.", .a).rcode, .nxDomain)
        XCTAssertEqual(serial(try ask(snap, t, "absent.example.test.", .a)), 7)
        // Deleting the silo brings the zone's answers back.
        let gone = t.applying([.delete(id: "silo1")], version: 2)
        XCTAssertEqual(addresses(try ask(snap, gone, "www.example.test.", .a)), ["192.0.2.80"])
        XCTAssertEqual(try ask(snap, gone, "new.example.test.", .a).rcode, .nxDomain)
        XCTAssertEqual(try ask(snap, gone, "dbserver.silo1.dyn.example.test.", .a).rcode, .nxDomain)
    }

    func testChangesReplaceUpsertDelete() throws {
        let snap = try Self.snapshot()
        var t = DDNSTable(settings: Self.settings)
        t = t.applying([.replaceAll([Self.silo1(), .init(id: "b", records: [.init(hostname: "h", address: IPAddress("192.0.2.9")!)])])],
                       version: 10)
        XCTAssertEqual(t.siloCount, 2)
        t = t.applying([.upsert(.init(id: "b", records: [.init(hostname: "h", address: IPAddress("192.0.2.10")!)]))], version: 11)
        XCTAssertEqual(addresses(try ask(snap, t, "h.b.dyn.example.test.", .a)), ["192.0.2.10"])
        // A silo with no records has no names.
        t = t.applying([.upsert(.init(id: "b", records: []))], version: 12)
        XCTAssertEqual(try ask(snap, t, "b.dyn.example.test.", .a).rcode, .nxDomain)
        t = t.applying([.replaceAll([])], version: 13)
        XCTAssertEqual(t.siloCount, 0)
        XCTAssertEqual(addresses(try ask(snap, t, "www.example.test.", .a)), ["192.0.2.80"])
        XCTAssertEqual(try ask(snap, t, "new.example.test.", .a).rcode, .nxDomain)
    }

    /// The per-thread cache replays static answers across DDNS changes, and never a stale DDNS
    /// answer: every reply equals what the engine answers from the current table.
    func testFastPathStaysEqualToTheEngineAcrossChanges() throws {
        let snap = try Self.snapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1)
        var t = DDNSTable(settings: Self.settings)
        cache.install(ddns: t)
        var out = [UInt8](repeating: 0, count: 65535)
        let questions: [(String, RecordType)] = [
            ("h.s.dyn.example.test.", .a), ("H.S.dyn.example.test.", .a), ("s.dyn.example.test.", .a),
            ("dyn.example.test.", .soa), ("nothing.dyn.example.test.", .a), ("www.example.test.", .a),
            ("www.example.test.", .txt), ("other.example.test.", .a), ("static.dyn.example.test.", .a),
        ]
        var checked = 0
        for step in 0..<6 {
            switch step {
            case 1: t = t.applying([.upsert(.init(id: "s", records: [.init(hostname: "h", address: IPAddress("192.0.2.1")!)]))], version: 1)
            case 2: t = t.applying([.upsert(.init(id: "s", records: [.init(hostname: "h", address: IPAddress("192.0.2.2")!)]))], version: 2)
            case 3: t = t.applying([.upsert(.init(id: "w", records: [.init(hostname: "www.example.test.", address: IPAddress("192.0.2.3")!)]))],
                                   version: 3)
            case 4: t = t.applying([.delete(id: "w")], version: 4)
            case 5: t = t.applying([.delete(id: "s")], version: 5)
            default: break
            }
            cache.install(ddns: t)
            for _ in 0..<2 {
                for (name, type) in questions {
                    let q = Message(header: Header(id: 9), questions: [Question(name: try DomainName(parsing: name), type: type)],
                                    edns: EDNS(udpPayloadSize: 1232)).serialized()
                    let r = q.withUnsafeBytes { qb in
                        out.withUnsafeMutableBytes { ob in
                            cache.answer(query: qb, source: IPAddress("127.0.0.1")!, transport: .tcp, now: 100,
                                         states: BackendStates(), output: ob)
                        }
                    }
                    guard case .reply(let n) = r else { XCTFail("no reply"); continue }
                    let ref = QueryEngine.respond(to: q, context: QueryContext(source: IPAddress("127.0.0.1")!, transport: .tcp),
                                                  snapshot: snap, states: BackendStates(), ddns: t)
                    XCTAssertEqual(.response(Array(out[0..<n])), ref, "step \(step): \(name) \(type)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 6 * 2 * questions.count)
    }

    /// A silo-relative change (the common case) leaves `absoluteStamp` alone, so cached answers in
    /// `allow_names_in` zones stay valid; only the DDNS zone's answers are re-made.
    func testSiloChangesDoNotInvalidateAllowZoneAnswers() {
        let t = DDNSTable(settings: Self.settings).applying([.upsert(Self.silo1())], version: 1)
        let u = t.applying([.upsert(.init(id: "other", records: [.init(hostname: "h", address: IPAddress("192.0.2.1")!)]))], version: 2)
        XCTAssertEqual(t.absoluteStamp, u.absoluteStamp)
        XCTAssertNotEqual(t.stamp, u.stamp)
        let v = u.applying([.delete(id: "silo1")], version: 3)
        XCTAssertNotEqual(u.absoluteStamp, v.absoluteStamp)
    }

    func testExplainNamesTheSiloAndRecord() throws {
        let snap = try Self.snapshot()
        let t = DDNSTable(settings: Self.settings).applying([.upsert(Self.silo1())], version: 1)
        let e = QueryEngine.explain(name: try DomainName(parsing: "dbserver.silo1.dyn.example.test."), type: .a,
                                    snapshot: snap, states: BackendStates(), ddns: t)
        XCTAssertTrue(e.text().contains("DDNS silo silo1 record dbserver"), e.text())
        XCTAssertTrue(e.text().contains("203.0.113.7"), e.text())
        XCTAssertEqual(e.document.steps.first?.kind, "ddns")
    }

    /// A reload that changes `ddns:` keeps the records and answers them where the new settings say.
    func testReconfiguredKeepsRecordsUnderNewSettings() throws {
        let snap = try Self.snapshot()
        let t = DDNSTable(settings: Self.settings).applying([.upsert(Self.silo1())], version: 3)
        let narrowed = t.reconfigured(DDNSTableSettings(zone: try DomainName(parsing: "dyn.example.test."), allowNamesIn: [],
                                                        defaultTTL: 90))
        XCTAssertEqual(narrowed.version, 3)
        XCTAssertEqual(narrowed.allSilos, t.allSilos)
        let m = try ask(snap, narrowed, "dbserver.silo1.dyn.example.test.", .a)
        XCTAssertEqual(addresses(m), ["203.0.113.7"])
        XCTAssertEqual(m.answerSection.first?.ttl, 90)
        XCTAssertEqual(addresses(try ask(snap, narrowed, "www.example.test.", .a)), ["192.0.2.80"],
                       "example.test. is no longer in allow_names_in: the zone file answers")
        XCTAssertNotEqual(narrowed.absoluteStamp, t.absoluteStamp)
    }
}
