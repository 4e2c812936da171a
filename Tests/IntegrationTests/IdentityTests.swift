import DNSWire
import Foundation
import XCTest

/// Identity for anycast (issue #11): NSID (RFC 5001) and the CHAOS TXT names, over real UDP and
/// TCP, and compared with knotd (the reference) configured the same way.
final class IdentityTests: XCTestCase {
    static let zone = """
        $ORIGIN id.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.10
        """

    static func config(_ identity: String) -> String {
        """
        listen:
          - 127.0.0.1:0
        udp_threads: 1
        log_level: warning
        zones:
          - origin: id.test.
            file: id.zone
        \(identity)
        """
    }

    static let nsidRequest = EDNSOption.unknown(code: 3, data: [])

    static func query(_ name: String, _ type: RecordType, _ qclass: RecordClass, edns: EDNS? = EDNS(udpPayloadSize: 1232)) -> [UInt8] {
        Message(header: Header(id: UInt16.random(in: 0...UInt16.max)),
                questions: [Question(name: try! DomainName(parsing: name), type: type, qclass: qclass)], edns: edns).serialized()
    }

    static func ask(_ q: [UInt8], port: UInt16, tcp: Bool) throws -> Message {
        let lo = IPAddress("127.0.0.1")!
        let bytes: [UInt8]
        if tcp {
            bytes = try XCTUnwrap(DNSTestClient.tcpRaw([q], to: lo, port: port).first)
        } else {
            bytes = try XCTUnwrap(DNSTestClient.udpRaw(q, to: lo, port: port), "no UDP answer")
        }
        let m = try Message(parsing: bytes)
        XCTAssertEqual(Array(bytes[0..<2]), Array(q[0..<2]), "ID echoed")
        return m
    }

    static func nsid(_ m: Message) -> String? {
        for case .unknown(3, let data) in m.edns?.options ?? [] { return String(decoding: data, as: UTF8.self) }
        return nil
    }

    /// One CHAOS case: (name, type) → rcode and the TXT string when answered.
    struct ChaosCase {
        var name: String
        var type: RecordType
        var rcode: ResponseCode
        var text: String?
    }

    static let chaosCases: [ChaosCase] = [
        .init(name: "id.server.", type: .txt, rcode: .noError, text: "ns1-fra"),
        .init(name: "hostname.bind.", type: .txt, rcode: .noError, text: "ns1-fra"),
        .init(name: "ID.Server.", type: .txt, rcode: .noError, text: "ns1-fra"),
        .init(name: "version.server.", type: .txt, rcode: .noError, text: "proxima-test 1.0"),
        .init(name: "version.bind.", type: .txt, rcode: .noError, text: "proxima-test 1.0"),
        .init(name: "foo.bar.", type: .txt, rcode: .refused, text: nil),
        .init(name: "x.id.server.", type: .txt, rcode: .refused, text: nil),
        .init(name: "server.", type: .txt, rcode: .refused, text: nil),
        .init(name: "id.server.", type: .a, rcode: .refused, text: nil),
        .init(name: "id.server.", type: .any, rcode: .refused, text: nil),
        .init(name: "id.server.", type: .soa, rcode: .refused, text: nil),
    ]

    func check(_ m: Message, _ c: ChaosCase, _ what: String) {
        XCTAssertEqual(m.rcode, c.rcode, what)
        XCTAssertTrue(m.header.isResponse, what)
        XCTAssertFalse(m.header.authoritative, "\(what): not authoritative (as knotd)")
        XCTAssertEqual(m.questions.first?.qclass, .ch, what)
        if let text = c.text {
            XCTAssertEqual(m.answerSection.count, 1, what)
            let rr = m.answerSection.first
            XCTAssertEqual(rr?.rclass, .ch, what)
            XCTAssertEqual(rr?.ttl, 0, what)
            XCTAssertEqual(rr?.name.lowercased(), try! DomainName(parsing: c.name).lowercased(), what)
            XCTAssertEqual(rr?.rdata, .txt([Array(text.utf8)]), what)
        } else {
            XCTAssertTrue(m.answerSection.isEmpty, what)
        }
    }

    func testChaosAndNSIDOverUDPAndTCP() async throws {
        let live = try await LiveServer.start(config: Self.config("identity: {id: ns1-fra, version: proxima-test 1.0}"),
                                              files: ["id.zone": Self.zone])
        for tcp in [false, true] {
            for c in Self.chaosCases {
                // Twice: the second is served by the fast path's cache where the first was learned.
                for round in 0..<2 {
                    let m = try Self.ask(Self.query(c.name, c.type, .ch), port: live.port, tcp: tcp)
                    check(m, c, "CH \(c.type) \(c.name) \(tcp ? "TCP" : "UDP") #\(round)")
                    XCTAssertNil(Self.nsid(m), "no NSID unless asked")
                }
            }
            // NSID: only for an empty NSID option, on any answer (a normal one, REFUSED, CHAOS).
            let asked = EDNS(udpPayloadSize: 1232, options: [Self.nsidRequest])
            for (name, type, qclass, rcode) in [("www.id.test.", RecordType.a, RecordClass.in, ResponseCode.noError),
                                                ("other.example.", .a, .in, .refused),
                                                ("id.server.", .txt, .ch, .noError)] {
                let m = try Self.ask(Self.query(name, type, qclass, edns: asked), port: live.port, tcp: tcp)
                XCTAssertEqual(m.rcode, rcode, name)
                XCTAssertEqual(Self.nsid(m), "ns1-fra", "\(name) \(tcp)")
            }
            let plain = try Self.ask(Self.query("www.id.test.", .a, .in), port: live.port, tcp: tcp)
            XCTAssertEqual(plain.answerSection.map { $0.rdata.description }, ["192.0.2.10"])
            XCTAssertEqual(plain.edns?.options ?? [], [], "no NSID without the option")
            let nonEmpty = EDNS(udpPayloadSize: 1232, options: [.unknown(code: 3, data: [1, 2])])
            XCTAssertNil(Self.nsid(try Self.ask(Self.query("www.id.test.", .a, .in, edns: nonEmpty), port: live.port, tcp: tcp)),
                         "a non-empty NSID option is not a request (RFC 5001 §2.1)")
            // With ECS as well: both options answered.
            let both = EDNS(udpPayloadSize: 1232, options: [
                .clientSubnet(ClientSubnet(address: IPAddress("198.51.100.0")!, sourcePrefixLength: 24, scopePrefixLength: 0)),
                Self.nsidRequest,
            ])
            let mb = try Self.ask(Self.query("www.id.test.", .a, .in, edns: both), port: live.port, tcp: tcp)
            XCTAssertEqual(Self.nsid(mb), "ns1-fra")
            XCTAssertNotNil(mb.edns?.clientSubnet)
        }
        await live.stop()
    }

    func testHiddenVersionAndNoIdentity() async throws {
        let hidden = try await LiveServer.start(config: Self.config("identity: {id: ns2-ams, version: hide}"),
                                                files: ["id.zone": Self.zone])
        for tcp in [false, true] {
            check(try Self.ask(Self.query("version.bind.", .txt, .ch), port: hidden.port, tcp: tcp),
                  ChaosCase(name: "version.bind.", type: .txt, rcode: .refused), "hidden version")
            check(try Self.ask(Self.query("id.server.", .txt, .ch), port: hidden.port, tcp: tcp),
                  ChaosCase(name: "id.server.", type: .txt, rcode: .noError, text: "ns2-ams"), "id")
        }
        await hidden.stop()

        let none = try await LiveServer.start(config: Self.config(""), files: ["id.zone": Self.zone])
        let asked = EDNS(udpPayloadSize: 1232, options: [Self.nsidRequest])
        for tcp in [false, true] {
            check(try Self.ask(Self.query("id.server.", .txt, .ch), port: none.port, tcp: tcp),
                  ChaosCase(name: "id.server.", type: .txt, rcode: .refused), "no identity")
            XCTAssertNil(Self.nsid(try Self.ask(Self.query("www.id.test.", .a, .in, edns: asked), port: none.port, tcp: tcp)))
        }
        await none.stop()
    }

    /// knotd with the same identity answers every CHAOS case and NSID request as we do.
    func testAgreesWithKnot() async throws {
        guard let knotd = KnotReferenceTests.knotd() else { throw KnotMissing() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("knot-id-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(Self.zone.utf8).write(to: dir.appendingPathComponent("id.zone"))
        let port = KnotReferenceTests.freePort()
        let conf = """
        server:
            listen: 127.0.0.1@\(port)
            rundir: \(dir.path)
            identity: ns1-fra
            version: "proxima-test 1.0"
            nsid: ns1-fra
        database:
            storage: \(dir.path)/db
        zone:
          - domain: id.test
            file: \(dir.path)/id.zone
            zonefile-load: whole
            journal-content: none
        log:
          - target: stderr
            any: error
        """
        try Data(conf.utf8).write(to: dir.appendingPathComponent("knot.conf"))
        let knot = Process()
        knot.executableURL = URL(fileURLWithPath: knotd)
        knot.arguments = ["-c", dir.appendingPathComponent("knot.conf").path]
        try knot.run()
        defer { knot.terminate(); knot.waitUntilExit() }
        XCTAssertTrue(LiveServer.eventually(timeout: 10) {
            (try? DNSTestClient.udp("id.test.", .soa, server: IPAddress("127.0.0.1")!, port: port))?.rcode == .noError
        }, "knotd did not start")

        let live = try await LiveServer.start(config: Self.config("identity: {id: ns1-fra, version: proxima-test 1.0}"),
                                              files: ["id.zone": Self.zone])
        let asked = EDNS(udpPayloadSize: 1232, options: [Self.nsidRequest])
        for c in Self.chaosCases {
            for edns in [EDNS(udpPayloadSize: 1232), asked] {
                let q = Self.query(c.name, c.type, .ch, edns: edns)
                let theirs = try Self.ask(q, port: port, tcp: false)
                let ours = try Self.ask(q, port: live.port, tcp: false)
                let what = "CH \(c.type) \(c.name) nsid=\(edns.options.isEmpty ? "no" : "yes")"
                check(theirs, c, "knotd: " + what)   // the table is knotd's behaviour
                XCTAssertEqual(ours.rcode, theirs.rcode, what)
                XCTAssertEqual(ours.header.authoritative, theirs.header.authoritative, what)
                XCTAssertEqual(ours.answerSection, theirs.answerSection, what)
                XCTAssertEqual(Self.nsid(ours), Self.nsid(theirs), what)
            }
        }
        for (name, qclass) in [("www.id.test.", RecordClass.in), ("elsewhere.example.", .in)] {
            let q = Self.query(name, .a, qclass, edns: asked)
            let theirs = try Self.ask(q, port: port, tcp: false), ours = try Self.ask(q, port: live.port, tcp: false)
            XCTAssertEqual(ours.rcode, theirs.rcode, name)
            XCTAssertEqual(Self.nsid(ours), Self.nsid(theirs), name)
        }
        await live.stop()
    }
}
