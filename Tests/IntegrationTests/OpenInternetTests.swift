import DNSWire
import Foundation
import ProximaApp
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue #8 "Safe on the open internet" and #14, over real sockets against the live server (and
/// through the loader `proxima check` and `serve` share).
final class OpenInternetTests: XCTestCase {
    static let batteryCopy = ["battery.zone": LiveServer.fixture("Tests/Fixtures/engine/battery.zone")]

    /// Writes `files` and a config into a temp dir and runs the loader on it.
    func load(config: String, files: [String: String]) throws -> Result<LoadedRuntime, LoadFailure> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let path = dir.appendingPathComponent("proxima.yaml").path
        try Data(config.utf8).write(to: URL(fileURLWithPath: path))
        return RuntimeLoader.load(configPath: path)
    }

    func problems(_ r: Result<LoadedRuntime, LoadFailure>) -> [String] {
        if case .failure(let f) = r { return f.problems.map(\.text) }
        return []
    }

    static let smallZone = """
        $ORIGIN big.test.
        $TTL 60
        @ SOA ns1 hostmaster 1 7200 900 1209600 300
          NS ns1
        ns1 A 192.0.2.53

        """

    // Query of death (#8): a TXT of 300 × 250 octets used to pass `proxima check` and trap the
    // server on the first TXT or ANY query. The loader now refuses it with file and line.
    func testQueryOfDeathZoneIsRefusedWithFileAndLine() throws {
        let txt = Array(repeating: "\"" + String(repeating: "a", count: 250) + "\"", count: 300).joined(separator: " ")
        let caa = String(repeating: "c", count: 70_000)
        let config = "listen: [\"127.0.0.1:0\"]\nzones:\n  - origin: big.test.\n    file: big.zone\n"
        let found = problems(try load(config: config, files: ["big.zone": Self.smallZone + "t TXT \(txt)\n@ CAA 0 issue \"\(caa)\"\n"]))
        XCTAssertEqual(found.count, 2, "\(found.map { String($0.prefix(200)) })")
        XCTAssertTrue(found.contains { $0.hasSuffix("big.zone:6: t.big.test. TXT RDATA of 75300 octets exceeds 65535 (RFC 1035 §3.2.1 RDLENGTH)") })
        XCTAssertTrue(found.contains { $0.contains("big.zone:7: big.test. CAA RDATA of 70007 octets exceeds 65535") })
    }

    // #8.9: a routed name at or below a zone cut, or owning a CNAME, is a config error
    // (file:line: key path).
    func testRoutedNameBelowCutOrOwningCNAMEIsAConfigError() throws {
        let zone = Self.smallZone + "sub NS ns.sub\nns.sub A 192.0.2.77\nalias CNAME ns1\nok A 192.0.2.1\n"
        let geo = #"{"192.0.2.1": {"latitude": 1, "longitude": 2}}"#
        let config = """
            listen: ["127.0.0.1:0"]
            zones:
              - origin: big.test.
                file: big.zone
            geo_data: geo.json
            routing:
              names:
                sub.big.test.: { pool: default }
                www.sub.big.test.: { pool: default }
                alias.big.test.: { pool: default }
                ok.big.test.: { pool: default }
            """
        let found = problems(try load(config: config, files: ["big.zone": zone, "geo.json": geo]))
        XCTAssertEqual(found.count, 3, "\(found)")
        XCTAssertTrue(found.contains { $0.contains("proxima.yaml:8: routing.names.\"sub.big.test.\": sub.big.test. is at or below the zone cut sub.big.test.") }, "\(found)")
        XCTAssertTrue(found.contains { $0.contains("proxima.yaml:9: routing.names.\"www.sub.big.test.\": www.sub.big.test. is at or below the zone cut sub.big.test.") }, "\(found)")
        XCTAssertTrue(found.contains { $0.contains("proxima.yaml:10: routing.names.\"alias.big.test.\": alias.big.test. owns a CNAME") }, "\(found)")
    }

    // RFC 8482 §4.1 (#8.4): ANY over UDP answers one RRset, so it amplifies no more than any
    // other question; TCP gets the whole node.
    func testRFC8482_minimalANYOverUDPFullOverTCP() async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(), copies: Self.batteryCopy)
        let udp = try live.udp("battery.test.", .any)
        XCTAssertEqual(udp.answerSection.map(\.type), [.a])
        let tcp = try live.tcp("battery.test.", .any)
        XCTAssertEqual(Set(tcp.answerSection.map(\.type)), [.soa, .ns, .a, .mx])
        await live.stop()
    }

    /// Sends `count` copies of a query from one UDP socket as fast as it can, then collects replies
    /// until `count` arrived or none came for `quiet` seconds (a bound, not a threshold: dropped
    /// queries simply never answer).
    func burst(_ query: [UInt8], count: Int, port: UInt16, quiet: Double = 1.0) throws -> [Message] {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw DNSTestClient.Failure(description: "socket") }
        defer { close(fd) }
        var rcv: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, socklen_t(MemoryLayout<Int32>.size))
        DNSTestClient.setTimeout(fd, quiet)
        var (ss, len) = DNSTestClient.makeSockaddr(for: IPAddress("127.0.0.1")!, port: port)
        for i in 0..<count {
            var q = query
            q[0] = UInt8(i >> 8); q[1] = UInt8(i & 0xff)
            let sent = withUnsafePointer(to: &ss) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, q, q.count, 0, $0, len) }
            }
            guard sent == q.count else { throw DNSTestClient.Failure(description: "sendto \(errno)") }
        }
        var replies: [Message] = []
        var buf = [UInt8](repeating: 0, count: 65535)
        while replies.count < count {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            replies.append(try Message(parsing: Array(buf[0..<n])))
        }
        return replies
    }

    // RRL (#8.4): over the rate, UDP replies to one source network are dropped, every slip-th one
    // sent truncated (TC=1) so a real resolver retries over TCP; TCP is never limited.
    func testRRLLimitsUDPBurstsAndSlipsButNeverTCP() async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(extra: "rrl:\n  rate: 5\n  slip: 2"), copies: Self.batteryCopy)
        let q = DNSTestClient.query("www.battery.test.", .a, id: 0)
        let replies = try burst(q, count: 200, port: live.port)
        let full = replies.filter { !$0.header.truncated }
        let truncated = replies.filter { $0.header.truncated }
        XCTAssertTrue(full.allSatisfy { $0.answerSection.count == 1 })
        XCTAssertTrue(truncated.allSatisfy { $0.answerSection.isEmpty && $0.questions.count == 1 })
        XCTAssertLessThan(full.count, 100, "most of the burst must be limited (answered \(full.count))")
        XCTAssertGreaterThanOrEqual(full.count, 5, "the burst allowance is answered")
        // Every second limited reply slips: about half of the limited ones come back truncated.
        let limited = 200 - full.count
        XCTAssertLessThanOrEqual(abs(truncated.count - limited / 2), 2,
                                 "limited \(limited), truncated \(truncated.count)")
        // TCP: all 200 answered in full on one connection.
        let tcp = try DNSTestClient.tcpRaw((0..<200).map { DNSTestClient.query("www.battery.test.", .a, id: UInt16($0)) },
                                           to: live.v4, port: live.port, timeout: 10)
        let parsed = try tcp.map { try Message(parsing: $0) }
        XCTAssertEqual(parsed.filter { !$0.header.truncated && $0.answerSection.count == 1 }.count, 200)
        await live.stop()
    }

    func testRRLDisabledAnswersTheWholeBurst() async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(extra: "rrl:\n  enabled: false\n  rate: 5"),
                                              copies: Self.batteryCopy)
        let replies = try burst(DNSTestClient.query("www.battery.test.", .a, id: 0), count: 200, port: live.port, quiet: 2)
        XCTAssertEqual(replies.filter { !$0.header.truncated && $0.answerSection.count == 1 }.count, 200)
        await live.stop()
    }

    // RFC 7871 §6 and §11.1 (#8.8): non-zero SCOPE in a query is FORMERR; with trusted_resolvers,
    // ECS from other sources is ignored and not echoed.
    func testRFC7871_ECSScopeAndTrustedResolvers() async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(extra: "ecs:\n  trusted_resolvers: [10.0.0.0/8]"),
                                              copies: Self.batteryCopy)
        let ecs = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24)
        let ignored = try live.udp("www.battery.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(ecs)]))
        XCTAssertEqual(ignored.rcode, .noError)
        XCTAssertNotNil(ignored.edns)
        XCTAssertNil(ignored.edns?.clientSubnet, "ECS from an untrusted source must not be echoed")
        let scoped = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24, scopePrefixLength: 24)
        XCTAssertEqual(try live.udp("www.battery.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(scoped)])).rcode,
                       .formErr)
        XCTAssertEqual(try live.tcp("www.battery.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(scoped)])).rcode,
                       .formErr)
        await live.stop()
    }

    // #8.9 / #14: pointers into the header are FORMERR; any number of EDNS options is answered;
    // IXFR with its SOA in the authority section (RFC 1995 §3) is answered as Knot answers it.
    func testWireCorners() async throws {
        let live = try await LiveServer.start(config: TestConfigs.battery(), copies: Self.batteryCopy)
        let pointer: [UInt8] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0, 1, 0, 1]
        let p = try XCTUnwrap(try DNSTestClient.udpRaw(pointer, to: live.v4, port: live.port))
        XCTAssertEqual(try Message(parsing: p).rcode, .formErr)

        let opts = (0..<40).map { EDNSOption.unknown(code: UInt16(65001 + $0 % 7), data: [UInt8($0)]) }
        XCTAssertEqual(try live.udp("www.battery.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: opts)).answerSection.count, 1)

        let soa = ResourceRecord(name: try DomainName(parsing: "battery.test."), ttl: 0, rdata: .soa(SOAData(
            mname: try DomainName(parsing: "ns1.battery.test."), rname: try DomainName(parsing: "h.battery.test."),
            serial: 1, refresh: 0, retry: 0, expire: 0, minimum: 0)))
        let ixfr = Message(header: Header(id: 5), questions: [Question(name: try DomainName(parsing: "battery.test."), type: .ixfr)],
                           authoritySection: [soa], edns: EDNS()).serialized()
        let u = try XCTUnwrap(try DNSTestClient.udpRaw(ixfr, to: live.v4, port: live.port))
        XCTAssertEqual(try Message(parsing: u).rcode, .notAuth)
        let t = try DNSTestClient.tcpRaw([ixfr], to: live.v4, port: live.port)
        XCTAssertEqual(try Message(parsing: t[0]).rcode, .notAuth)
        await live.stop()
    }
}
