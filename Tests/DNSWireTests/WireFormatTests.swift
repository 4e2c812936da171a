import XCTest
@testable import DNSWire

final class WireFormatTests: XCTestCase {
    func name(_ s: String) -> DomainName { try! DomainName(parsing: s) }

    // RFC 1035 §2.3.4: label ≤ 63, name ≤ 255; §5.1 escapes.
    func testRFC1035_2_3_4_NameLimitsAndEscapes() throws {
        XCTAssertThrowsError(try DomainName(parsing: String(repeating: "a", count: 64) + "."))
        let long = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".") + "."
        XCTAssertThrowsError(try DomainName(parsing: long), "256 octets")
        XCTAssertThrowsError(try DomainName(parsing: "a..b."))
        let esc = try DomainName(parsing: "a\\.b.c\\065.")
        XCTAssertEqual(esc.labelCount, 2)
        XCTAssertEqual(esc.description, "a\\.b.cA.")
        XCTAssertEqual(try DomainName(parsing: "www", origin: name("Example.TEST.")).description, "www.Example.TEST.")
        XCTAssertEqual(name("WWW.example.test."), name("www.EXAMPLE.test."))
        XCTAssertTrue(name("a.b.example.test.").isSubdomain(of: name("Example.Test.")))
        XCTAssertFalse(name("aexample.test.").isSubdomain(of: name("example.test.")))
    }

    // RFC 1035 §4.1.4: compression pointers; loops and forward pointers must be rejected.
    func testRFC1035_4_1_4_PointerLoopsRejected() {
        // Header (12) + question name that is a pointer to itself.
        var msg: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        msg += [0xc0, 12, 0, 1, 0, 1]
        XCTAssertThrowsError(try Message(parsing: msg)) { e in
            XCTAssertEqual((e as? DNSWireError)?.code, .badPointer)
        }
        // Forward pointer.
        var fwd: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        fwd += [0xc0, 20, 0, 1, 0, 1, 0, 0, 0]
        XCTAssertThrowsError(try Message(parsing: fwd))
        // 0x40 label type.
        var lt: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        lt += [0x41, 0, 0, 1, 0, 1]
        XCTAssertThrowsError(try Message(parsing: lt))
    }

    func testCountsMustBeBackedByBytes() {
        let msg: [UInt8] = [0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 0, 1]
        XCTAssertThrowsError(try Message(parsing: msg)) { e in
            XCTAssertEqual((e as? DNSWireError)?.code, .countMismatch)
        }
    }

    func testRoundTripAllTypesWithCompression() throws {
        let origin = name("example.test.")
        let soa = SOAData(mname: name("ns1.example.test."), rname: name("hostmaster.example.test."),
                          serial: 2026112201, refresh: 3600, retry: 600, expire: 604800, minimum: 300)
        let records: [ResourceRecord] = [
            .init(name: origin, ttl: 300, rdata: .a(IPAddress("192.0.2.1")!)),
            .init(name: origin, ttl: 300, rdata: .aaaa(IPAddress("2001:db8::1")!)),
            .init(name: origin, ttl: 300, rdata: .ns(name("ns1.example.test."))),
            .init(name: origin, ttl: 300, rdata: .soa(soa)),
            .init(name: origin, ttl: 300, rdata: .mx(preference: 10, exchange: name("mail.example.test."))),
            .init(name: origin, ttl: 300, rdata: .txt([Array("hello".utf8), Array("world".utf8)])),
            .init(name: name("_sip._udp.example.test."), ttl: 300, rdata: .srv(priority: 1, weight: 2, port: 5060, target: name("sip.example.test."))),
            .init(name: origin, ttl: 300, rdata: .caa(flags: 0, tag: Array("issue".utf8), value: Array("ca.test".utf8))),
            .init(name: name("alias.example.test."), ttl: 300, rdata: .cname(name("www.example.test."))),
            .init(name: name("1.2.0.192.in-addr.arpa."), ttl: 300, rdata: .ptr(name("www.example.test."))),
            .init(name: origin, ttl: 300, rdata: .unknown(RecordType(rawValue: 65280), [10, 0, 0, 1])),
        ]
        let ecs = ClientSubnet(address: IPAddress("81.2.69.0")!, sourcePrefixLength: 24, scopePrefixLength: 16)
        var h = Header(id: 0x1234, isResponse: true, authoritative: true, recursionDesired: true)
        h.rcodeLow = 0
        let m = Message(header: h, questions: [Question(name: name("WwW.example.test."), type: .a)],
                        answerSection: records, edns: EDNS(udpPayloadSize: 1232, dnssecOK: true, options: [.clientSubnet(ecs)]))
        let bytes = m.serialized()
        let back = try Message(parsing: bytes)
        XCTAssertEqual(back.answerSection, records)
        XCTAssertEqual(back.questions[0].name.description, "WwW.example.test.", "case preserved")
        XCTAssertEqual(back.edns?.clientSubnet, ecs)
        XCTAssertEqual(back.edns?.dnssecOK, true)
        XCTAssertEqual(back.header.id, 0x1234)
        // Compression makes repeated owners 2 bytes: far smaller than the uncompressed sum.
        XCTAssertLessThan(bytes.count, 400)
    }

    // RFC 7871 §6: address must be truncated to the source prefix with zero padding bits.
    func testRFC7871_6_ClientSubnetValidation() throws {
        XCTAssertNoThrow(try ClientSubnet(optionData: [0, 1, 24, 0, 81, 2, 69]))
        XCTAssertThrowsError(try ClientSubnet(optionData: [0, 1, 24, 0, 81, 2, 69, 1]), "too many address octets")
        XCTAssertThrowsError(try ClientSubnet(optionData: [0, 1, 23, 0, 81, 2, 69]), "bits past prefix")
        XCTAssertThrowsError(try ClientSubnet(optionData: [0, 1, 33, 0, 1, 2, 3, 4, 5]))
        XCTAssertThrowsError(try ClientSubnet(optionData: [0, 3, 0, 0]))
        XCTAssertEqual(try ClientSubnet(optionData: [0, 2, 0, 0]).sourcePrefixLength, 0)
        // Decoded values: IPv4, and IPv6 reaching past the first 8 octets; the option round-trips.
        let v4 = try ClientSubnet(optionData: [0, 1, 24, 0, 81, 2, 69])
        XCTAssertEqual(v4.address, IPAddress("81.2.69.0"))
        XCTAssertEqual(v4.optionData, [0, 1, 24, 0, 81, 2, 69])
        let v6 = try ClientSubnet(optionData: [0, 2, 72, 5, 0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 0xab])
        XCTAssertEqual(v6.address, IPAddress("2001:db8:102:304:ab00::"))
        XCTAssertEqual(v6.sourcePrefixLength, 72)
        XCTAssertEqual(v6.scopePrefixLength, 5)
        XCTAssertEqual(v6.optionData, [0, 2, 72, 5, 0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 0xab])
        XCTAssertThrowsError(try ClientSubnet(optionData: [0, 2, 65, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x01]), "bit 66 set past /65")
    }

    func testTruncationCutsToQuestionWithTC() throws {
        var answers: [ResourceRecord] = []
        for i in 0..<60 {
            answers.append(.init(name: name("big.example.test."), ttl: 60, rdata: .txt([Array(repeating: UInt8(65 + i % 26), count: 40)])))
        }
        let m = Message(header: Header(id: 7, isResponse: true), questions: [Question(name: name("big.example.test."), type: .txt)],
                        answerSection: answers)
        let small = m.serialized(maxSize: 512)
        XCTAssertLessThanOrEqual(small.count, 512)
        let parsed = try Message(parsing: small)
        XCTAssertTrue(parsed.header.truncated)
        XCTAssertEqual(parsed.answerSection.count, 0)
        XCTAssertEqual(parsed.questions.count, 1)
        XCTAssertEqual(try Message(parsing: m.serialized()).answerSection.count, 60)
    }
}
