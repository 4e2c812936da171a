import DNSWire
import DNSZone
import GeoRouting
import XCTest
@testable import QueryEngine

/// NSID (RFC 5001) and CHAOS TXT identity, in memory: the engine's answers, and the fast path
/// (cache learn + replay) giving the same bytes. Over real sockets and against knotd:
/// IntegrationTests/IdentityTests.
final class ServerIdentityTests: XCTestCase {
    static let identity = ServerIdentity(id: Array("ns1-fra".utf8), version: Array("v1".utf8))

    static func snapshot(identity: ServerIdentity? = ServerIdentityTests.identity) throws -> EngineSnapshot {
        let zone = try ZoneParser.parse(text: ProtocolCornerTests.zoneText, file: "pc.zone", origin: try DomainName(parsing: "pc.test."))
        return EngineSnapshot(zones: try ZoneSet([zone]), routes: [:], geoData: nil, locator: NoLocator(),
                              settings: EngineSettings(identity: identity), generation: 1)
    }

    static func query(_ name: String, _ type: RecordType, _ qclass: RecordClass, options: [EDNSOption]? = []) -> [UInt8] {
        Message(header: Header(id: 9), questions: [Question(name: try! DomainName(parsing: name), type: type, qclass: qclass)],
                edns: options.map { EDNS(udpPayloadSize: 1232, options: $0) }).serialized()
    }

    func engine(_ q: [UInt8], _ snap: EngineSnapshot, _ transport: QueryTransport = .udp) throws -> [UInt8] {
        guard case .response(let r) = QueryEngine.respond(to: q, context: QueryContext(source: IPAddress("198.51.100.7")!, transport: transport),
                                                          snapshot: snap, states: BackendStates()) else { throw EngineDropped() }
        return r
    }

    // RFC 4892 §2.3 names; Knot's answers for other names and types (REFUSED).
    func testChaosTable() throws {
        let snap = try Self.snapshot()
        let cases: [(String, RecordType, ResponseCode, String?)] = [
            ("id.server.", .txt, .noError, "ns1-fra"), ("HOSTNAME.BIND.", .txt, .noError, "ns1-fra"),
            ("version.server.", .txt, .noError, "v1"), ("version.bind.", .txt, .noError, "v1"),
            ("authors.bind.", .txt, .refused, nil), ("id.server.", .a, .refused, nil), ("id.server.", .any, .refused, nil),
        ]
        for (name, type, rcode, text) in cases {
            let m = try Message(parsing: try engine(Self.query(name, type, .ch), snap))
            XCTAssertEqual(m.rcode, rcode, "\(name) \(type)")
            XCTAssertFalse(m.header.authoritative)
            XCTAssertEqual(m.answerSection.map(\.rdata), text.map { [.txt([Array($0.utf8)])] } ?? [], name)
            XCTAssertEqual(m.answerSection.first.map { $0.rclass }, text == nil ? nil : .ch)
        }
        let hidden = try Self.snapshot(identity: ServerIdentity(id: [0x61], version: nil))
        XCTAssertEqual(try Message(parsing: try engine(Self.query("version.bind.", .txt, .ch), hidden)).rcode, .refused)
        let anonymous = try Self.snapshot(identity: nil)
        XCTAssertEqual(try Message(parsing: try engine(Self.query("id.server.", .txt, .ch), anonymous)).rcode, .refused)
    }

    // RFC 5001 §2.1: only an empty NSID option asks; the answer carries the id.
    func testRFC5001_2_1_NSIDOnlyWhenAskedEmpty() throws {
        let snap = try Self.snapshot()
        func nsid(_ options: [EDNSOption]?, name: String = "pc.test.") throws -> [UInt8]? {
            let m = try Message(parsing: try engine(Self.query(name, .a, .in, options: options), snap))
            for case .unknown(3, let data) in m.edns?.options ?? [] { return data }
            return nil
        }
        XCTAssertEqual(try nsid([.unknown(code: 3, data: [])]), Array("ns1-fra".utf8))
        XCTAssertEqual(try nsid([.unknown(code: 3, data: [])], name: "elsewhere.example."), Array("ns1-fra".utf8), "on REFUSED too")
        XCTAssertNil(try nsid([]))
        XCTAssertNil(try nsid(nil))
        XCTAssertNil(try nsid([.unknown(code: 3, data: [0x41])]))
        XCTAssertNil(try nsid([.unknown(code: 10, data: Array(repeating: 1, count: 8))]), "a cookie is not an NSID request")
        let anonymous = try Self.snapshot(identity: nil)
        let m = try Message(parsing: try engine(Self.query("pc.test.", .a, .in, options: [.unknown(code: 3, data: [])]), anonymous))
        XCTAssertEqual(m.edns?.options ?? [], [])
    }

    /// CHAOS answers are learned and replayed by the fast path like any answer that does not
    /// depend on the client: byte-for-byte the engine's, ID and case patched.
    func testFastPathReplaysChaosAsTheEngineAnswers() throws {
        let snap = try Self.snapshot()
        var cache = AnswerCache(snapshot: snap, seed: 1)
        var out = [UInt8](repeating: 0, count: 65535)
        for round in 0..<3 {
            for (name, type) in [("id.server.", RecordType.txt), ("Version.Bind.", .txt), ("x.bind.", .txt), ("id.server.", .a)] {
                for options in [[EDNSOption]?.none, [], [.unknown(code: 3, data: [])]] {
                    var q = Self.query(name, type, .ch, options: options)
                    q[0] = UInt8(round); q[1] = 7
                    let fast: [UInt8]? = q.withUnsafeBytes { qb in
                        out.withUnsafeMutableBytes { ob in
                            if case .reply(let n) = cache.answer(query: qb, source: IPAddress("198.51.100.7")!, transport: .udp,
                                                                 now: 0, states: BackendStates(), output: ob) {
                                return Array(ob[0..<n])
                            }
                            return nil
                        }
                    }
                    XCTAssertEqual(fast, try engine(q, snap), "\(name) \(type) \(String(describing: options)) round \(round)")
                }
            }
        }
    }
}
