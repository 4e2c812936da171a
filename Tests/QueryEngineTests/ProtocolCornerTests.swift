import DNSWire
import DNSZone
import GeoRouting
import XCTest
@testable import QueryEngine

/// Issue #8 (safe on the open internet) and #14: protocol corners of the reference engine and the
/// fast path, in memory. The same behaviours are checked over real sockets in IntegrationTests.
final class ProtocolCornerTests: XCTestCase {
    static let zoneText = """
        $ORIGIN pc.test.
        $TTL 300
        @     SOA ns1 hostmaster 1 7200 3600 1209600 60
              NS  ns1
              MX  10 mail
              A   192.0.2.1
              TXT "apex"
        ns1   A   192.0.2.53
        mail  A   192.0.2.25
        *.w   A   192.0.2.99
        \(glueDelegation)
        """

    /// A delegation whose in-domain glue (8 servers × A + AAAA with long names) cannot fit 512
    /// octets.
    static var glueDelegation: String {
        (1...8).map { i in
            let host = "name-server-number-\(i).big.pc.test."
            return "big NS \(host)\n\(host) A 192.0.2.\(100 + i)\n\(host) AAAA 2001:db8::\(i)"
        }.joined(separator: "\n")
    }

    static func snapshot(settings: EngineSettings = EngineSettings()) throws -> EngineSnapshot {
        let zone = try ZoneParser.parse(text: zoneText, file: "pc.zone", origin: try DomainName(parsing: "pc.test."))
        return EngineSnapshot(zones: try ZoneSet([zone]), routes: [:], geoData: nil, locator: NoLocator(),
                              settings: settings, generation: 1)
    }

    static let client = IPAddress("198.51.100.7")!

    func ask(_ q: [UInt8], _ transport: QueryTransport, _ snap: EngineSnapshot, source: IPAddress = client) throws -> Message {
        let ctx = QueryContext(source: source, transport: transport)
        guard case .response(let r) = QueryEngine.respond(to: q, context: ctx, snapshot: snap, states: BackendStates()) else {
            throw EngineDropped()
        }
        return try Message(parsing: r)
    }

    func query(_ name: String, _ type: RecordType, edns: EDNS? = EDNS(udpPayloadSize: 1232),
               authority: [ResourceRecord] = []) -> [UInt8] {
        Message(header: Header(id: 77), questions: [Question(name: try! DomainName(parsing: name), type: type)],
                authoritySection: authority, edns: edns).serialized()
    }

    // RFC 8482 §4.1: ANY over UDP answers one RRset (Knot 3.2: the lowest type); TCP all of them.
    func testRFC8482_4_1_MinimalANYOverUDP() throws {
        let snap = try Self.snapshot()
        let udp = try ask(query("pc.test.", .any), .udp, snap)
        XCTAssertEqual(udp.rcode, .noError)
        XCTAssertEqual(udp.answerSection.map(\.type), [.a])
        let tcp = try ask(query("pc.test.", .any), .tcp, snap)
        XCTAssertEqual(Set(tcp.answerSection.map(\.type)), [.soa, .ns, .mx, .a, .txt])
    }

    // RFC 5936 §4.2 / Knot 3.2 without a transfer ACL: AXFR over UDP NOTIMP, AXFR over TCP NOTAUTH,
    // IXFR NOTAUTH; and RFC 1995 §3: IXFR carries its SOA in the authority section, which is not
    // FORMERR.
    func testRFC1995_3_TransfersAnsweredAsKnot() throws {
        let snap = try Self.snapshot()
        XCTAssertEqual(try ask(query("pc.test.", .axfr), .udp, snap).rcode, .notImp)
        XCTAssertEqual(try ask(query("pc.test.", .axfr), .tcp, snap).rcode, .notAuth)
        let soa = ResourceRecord(name: try DomainName(parsing: "pc.test."), ttl: 0, rdata: .soa(SOAData(
            mname: try DomainName(parsing: "ns1.pc.test."), rname: try DomainName(parsing: "h.pc.test."),
            serial: 1, refresh: 0, retry: 0, expire: 0, minimum: 0)))
        for transport in [QueryTransport.udp, .tcp] {
            let r = try ask(query("pc.test.", .ixfr, authority: [soa]), transport, snap)
            XCTAssertEqual(r.rcode, .notAuth, "IXFR over \(transport)")
            XCTAssertEqual(r.questions.first?.type, .ixfr)
        }
        // Any other query with records in the authority section is still malformed.
        XCTAssertEqual(try ask(query("pc.test.", .a, authority: [soa]), .udp, snap).rcode, .formErr)
    }

    // RFC 9471 §3: a referral whose in-domain glue does not fit sets TC.
    func testRFC9471_3_ReferralThatDropsGlueSetsTC() throws {
        let snap = try Self.snapshot()
        let udp = try ask(query("www.big.pc.test.", .a, edns: nil), .udp, snap)
        XCTAssertEqual(udp.authoritySection.count, 8)
        XCTAssertTrue(udp.header.truncated, "glue dropped for lack of space must set TC")
        XCTAssertEqual(udp.additionalSection.map(\.name.description).prefix(2),
                       ["name-server-number-1.big.pc.test.", "name-server-number-1.big.pc.test."], "as much glue as fits, in order")
        XCTAssertLessThan(udp.additionalSection.count, 16)
        let tcp = try ask(query("www.big.pc.test.", .a, edns: nil), .tcp, snap)
        XCTAssertFalse(tcp.header.truncated)
        XCTAssertEqual(tcp.additionalSection.count, 16)
    }

    // RFC 1035 §4.1.4: compression pointers point at earlier names; offsets below 12 are the header.
    func testRFC1035_4_1_4_PointerIntoHeaderIsFormErr() throws {
        // ID 0x0000 makes offset 0 read as the root name: before the fix this parsed.
        var q: [UInt8] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        q += [0xc0, 0x00, 0, 1, 0, 1]
        let r = try ask(q, .udp, try Self.snapshot())
        XCTAssertEqual(r.rcode, .formErr)
    }

    // RFC 6891 §6.1.2 sets no limit on options: 40 unknown options are answered, not FORMERR (#14).
    func testRFC6891_6_1_2_ManyOptionsAreAccepted() throws {
        let opts = (0..<40).map { EDNSOption.unknown(code: UInt16(65001 + $0 % 10), data: [1, 2]) }
        let r = try ask(query("pc.test.", .soa, edns: EDNS(udpPayloadSize: 1232, options: opts)), .udp, try Self.snapshot())
        XCTAssertEqual(r.rcode, .noError)
        XCTAssertEqual(r.answerSection.count, 1)
    }

    // RFC 7871 §6: SCOPE PREFIX-LENGTH must be 0 in queries: FORMERR, in the engine and the fast path.
    func testRFC7871_6_NonZeroScopeInQueryIsFormErr() throws {
        let snap = try Self.snapshot()
        let ecs = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24, scopePrefixLength: 16)
        let q = query("pc.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
        XCTAssertEqual(try ask(q, .udp, snap).rcode, .formErr)
        var cache = AnswerCache(snapshot: snap, seed: 1)
        XCTAssertEqual(try Message(parsing: fastPath(&cache, q, .udp)).rcode, .formErr)
    }

    // RFC 7871 §7.1.1 / §11.1: with `ecs.trusted_resolvers`, ECS from anyone else is ignored and not
    // echoed; a trusted resolver's is echoed. Fast path and engine agree byte for byte.
    func testRFC7871_11_1_ECSOnlyFromTrustedResolvers() throws {
        let settings = EngineSettings(ecsTrustedResolvers: [IPNetwork("192.0.2.0/24")!])
        let snap = try Self.snapshot(settings: settings)
        let ecs = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24)
        let q = query("pc.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
        var cache = AnswerCache(snapshot: snap, seed: 1)
        for (source, echoed) in [(Self.client, false), (IPAddress("192.0.2.9")!, true), (Self.client, false)] {
            let ref = try ask(q, .udp, snap, source: source)
            XCTAssertEqual(ref.edns?.clientSubnet != nil, echoed, "\(source)")
            for _ in 0..<2 {
                XCTAssertEqual(try Message(parsing: fastPath(&cache, q, .udp, source: source)), ref, "\(source)")
            }
        }
    }

    func fastPath(_ cache: inout AnswerCache, _ q: [UInt8], _ transport: QueryTransport,
                  source: IPAddress = client) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 65535)
        let r = q.withUnsafeBytes { qb in
            out.withUnsafeMutableBytes { ob in
                cache.answer(query: qb, source: source, transport: transport, now: 1, states: BackendStates(), output: ob)
            }
        }
        guard case .reply(let n) = r else { XCTFail("no reply"); return [] }
        return Array(out[0..<n])
    }
}

/// Thrown (a test failure, never a skip) when the engine drops a query a test expects answered.
struct EngineDropped: Error, CustomStringConvertible {
    var description: String { "the engine dropped the query instead of answering it" }
}
