#if canImport(Glibc)
import Glibc
#endif
import DNSWire
import XCTest

/// RFC 1035/6891/7766/7871 edge cases against the live server over real sockets.
final class ProtocolEdgeTests: XCTestCase {
    var live: LiveServer!

    override func setUp() async throws {
        live = try await LiveServer.start(config: TestConfigs.battery(extra: "max_udp_payload: 1232"),
                                          copies: ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")])
    }

    override func tearDown() async throws {
        await live.stop()
    }

    func raw(_ bytes: [UInt8]) throws -> Message? {
        guard let r = try DNSTestClient.udpRaw(bytes, to: live.v4, port: live.port, timeout: 5) else { return nil }
        return try Message(parsing: r)
    }

    /// Sends `bytes`, then a real query from the same socket (one flow: one worker, in order), and
    /// returns the datagrams that arrived before the real query's answer: none when `bytes` was
    /// dropped. Proves the server read past the packet, instead of waiting and assuming.
    func repliesBefore(_ bytes: [UInt8]) throws -> [[UInt8]] {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw DNSTestClient.Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        DNSTestClient.setTimeout(fd, 5)
        var (ss, len) = DNSTestClient.makeSockaddr(for: live.v4, port: live.port)
        let probe = header(id: 0x7e57) + wwwQuestion
        for datagram in [bytes, probe] {
            let sent = withUnsafePointer(to: &ss) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, datagram, datagram.count, 0, $0, len) }
            }
            guard sent == datagram.count else { throw DNSTestClient.Failure(description: "sendto: \(errno)") }
        }
        var before: [[UInt8]] = []
        var buf = [UInt8](repeating: 0, count: 65535)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            guard n >= 0 else { throw DNSTestClient.Failure(description: "no answer to the query sent after the packet") }
            if n >= 2 && buf[0] == 0x7e && buf[1] == 0x57 { return before }
            before.append(Array(buf[0..<n]))
        }
    }

    func header(id: UInt16 = 0x4242, flags1: UInt8 = 0x01, flags2: UInt8 = 0, qd: UInt16 = 1, an: UInt16 = 0,
                ns: UInt16 = 0, ar: UInt16 = 0) -> [UInt8] {
        [UInt8(id >> 8), UInt8(id & 0xff), flags1, flags2, 0, UInt8(qd), 0, UInt8(an), 0, UInt8(ns), 0, UInt8(ar)]
    }

    let wwwQuestion: [UInt8] = [3] + Array("www".utf8) + [7] + Array("battery".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]

    // RFC 1035 §4.1.1: a message with QR=1 is a response; never answered (no reflection loops).
    func testRFC1035_4_1_1_responsesAreDropped() throws {
        XCTAssertEqual(try repliesBefore(header(flags1: 0x81) + wwwQuestion), [])
    }

    func testShortPacketsAreDropped() throws {
        XCTAssertEqual(try repliesBefore([0x12, 0x34, 0x01]), [])
        XCTAssertEqual(try repliesBefore([]), [])
        // The server still answers afterwards.
        XCTAssertEqual(try live.udp("www.battery.test.", .a).rcode, .noError)
    }

    func testQuestionCountOtherThanOneIsFormErr() throws {
        let zero = try XCTUnwrap(try raw(header(qd: 0)))
        XCTAssertEqual(zero.rcode, .formErr)
        XCTAssertEqual(zero.header.id, 0x4242)
        let two = try XCTUnwrap(try raw(header(qd: 2) + wwwQuestion + wwwQuestion))
        XCTAssertEqual(two.rcode, .formErr)
    }

    func testMalformedQuestionIsFormErr() throws {
        // Label length runs past the end.
        let m = try XCTUnwrap(try raw(header() + [40, 65, 65]))
        XCTAssertEqual(m.rcode, .formErr)
        // Compression loop in the question.
        let loop = try XCTUnwrap(try raw(header() + [0xc0, 12, 0, 1, 0, 1]))
        XCTAssertEqual(loop.rcode, .formErr)
    }

    // RFC 1035 §4.1.1: opcodes we do not implement → NOTIMP.
    func testOpcodesOtherThanQueryAreNotImp() throws {
        for opcode: UInt8 in [1, 2, 4, 5] {
            let m = try XCTUnwrap(try raw(header(flags1: opcode << 3) + wwwQuestion))
            XCTAssertEqual(m.rcode, .notImp, "opcode \(opcode)")
        }
    }

    func testClassOtherThanINOrANYIsRefused() throws {
        var q = wwwQuestion
        q[q.count - 1] = 3   // CH
        XCTAssertEqual(try XCTUnwrap(try raw(header() + q)).rcode, .refused)
        q[q.count - 1] = 255  // ANY is answered
        XCTAssertEqual(try XCTUnwrap(try raw(header() + q)).rcode, .noError)
    }

    // RFC 5936 §4.2: AXFR needs TCP. We serve no transfers and answer as Knot 3.2 does without a
    // transfer ACL (issue #8.9): AXFR over UDP NOTIMP, AXFR over TCP and IXFR NOTAUTH.
    func testRFC5936_4_2_transfersAnsweredAsKnot() throws {
        XCTAssertEqual(try live.udp("battery.test.", .axfr).rcode, .notImp)
        XCTAssertEqual(try live.tcp("battery.test.", .axfr).rcode, .notAuth)
        XCTAssertEqual(try live.udp("battery.test.", .ixfr).rcode, .notAuth)
        XCTAssertEqual(try live.tcp("battery.test.", .ixfr).rcode, .notAuth)
    }

    // RFC 6891 §6.1.3: unknown EDNS version → BADVERS with OPT version 0.
    func testRFC6891_6_1_3_badVersion() throws {
        let m = try live.udp("www.battery.test.", .a, edns: EDNS(udpPayloadSize: 1232, version: 1))
        XCTAssertEqual(m.rcode, .badVers)
        XCTAssertEqual(m.edns?.version, 0)
        XCTAssertTrue(m.answerSection.isEmpty)
    }

    // RFC 6891 §6.1.2 / RFC 3225: DO echoed; unknown options ignored; our payload advertised.
    func testRFC6891_optEchoAndUnknownOptionsIgnored() throws {
        let m = try live.udp("www.battery.test.", .a,
                             edns: EDNS(udpPayloadSize: 4096, dnssecOK: true, options: [.unknown(code: 65001, data: [1, 2, 3])]))
        XCTAssertEqual(m.rcode, .noError)
        XCTAssertEqual(m.edns?.dnssecOK, true)
        XCTAssertEqual(m.edns?.udpPayloadSize, 1232)
        XCTAssertEqual(m.edns?.options, [], "unknown options are not echoed")
        let plain = try live.udp("www.battery.test.", .a, edns: nil)
        XCTAssertNil(plain.edns, "no OPT in the response when the query had none")
    }

    // RFC 7871 §7.1: a malformed Client Subnet option is FORMERR.
    func testRFC7871_7_1_malformedECSIsFormErr() throws {
        // OPT with ECS claiming /24 but carrying 4 address octets.
        let opt: [UInt8] = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 8, 0, 8, 0, 1, 24, 0, 81, 2, 69, 1]
        let m = try XCTUnwrap(try raw(header(ar: 1) + wwwQuestion + opt))
        XCTAssertEqual(m.rcode, .formErr)
    }

    // RFC 7871 §7.2.1: a static answer does not depend on the client: ECS echoed with scope 0.
    func testRFC7871_7_2_1_staticAnswerEchoesScopeZero() throws {
        let ecs = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24)
        let m = try live.udp("www.battery.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
        XCTAssertEqual(m.edns?.clientSubnet, ClientSubnet(address: ecs.address, sourcePrefixLength: 24, scopePrefixLength: 0))
    }

    // RFC 1035 §4.2.1, RFC 2181 §9: over UDP without EDNS the limit is 512: TC set, cut to the
    // question; TCP gets everything (RFC 7766).
    func testTruncationOverUDPAndFullAnswerOverTCP() throws {
        let udp = try live.udp("big.battery.test.", .txt, edns: nil)
        XCTAssertTrue(udp.header.truncated)
        XCTAssertEqual(udp.answerSection.count, 0)
        XCTAssertEqual(udp.questions.count, 1)
        let edns = try live.udp("big.battery.test.", .txt)
        XCTAssertFalse(edns.header.truncated, "fits in 1232")
        XCTAssertEqual(edns.answerSection.count, 12)
        let tcp = try live.tcp("big.battery.test.", .txt, edns: nil)
        XCTAssertFalse(tcp.header.truncated)
        XCTAssertEqual(tcp.answerSection.count, 12)
    }

    // RFC 1035 §4.1.1: RD copied, RA never set, ID echoed.
    func testRDCopiedRANeverSet() throws {
        for rd in [true, false] {
            let q = DNSTestClient.query("www.battery.test.", .a, id: 777, rd: rd)
            let m = try XCTUnwrap(try raw(q))
            XCTAssertEqual(m.header.recursionDesired, rd)
            XCTAssertFalse(m.header.recursionAvailable)
            XCTAssertEqual(m.header.id, 777)
        }
    }

    // RFC 7766 §6.2.1: several queries on one connection, answered in order.
    func testRFC7766_pipelinedQueriesOnOneConnection() throws {
        let names = ["www.battery.test.", "alias.battery.test.", "nope.battery.test.", "battery.test."]
        let queries = names.enumerated().map { DNSTestClient.query($1, .a, id: UInt16(100 + $0)) }
        let replies = try DNSTestClient.tcpRaw(queries, to: live.v4, port: live.port)
        XCTAssertEqual(replies.count, 4)
        let ids = try replies.map { try Message(parsing: $0).header.id }
        XCTAssertEqual(Set(ids), Set([100, 101, 102, 103]))
    }
}
