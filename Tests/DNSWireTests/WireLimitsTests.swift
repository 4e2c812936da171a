import XCTest
@testable import DNSWire

/// Lengths and counts that do not fit their wire fields (issue #8 "query of death"), pointers
/// into the header, and OPT records with many options (#14).
final class WireLimitsTests: XCTestCase {
    func name(_ s: String) -> DomainName { try! DomainName(parsing: s) }

    func message(answers: [ResourceRecord]) -> Message {
        Message(header: Header(id: 1, isResponse: true), questions: [Question(name: name("q.test."), type: .txt)],
                answerSection: answers)
    }

    // RFC 1035 §3.2.1: RDLENGTH is 16 bits. Before the fix this trapped ("Not enough bits").
    func testRFC1035_3_2_1_RDataOver65535IsAnErrorNotATrap() {
        let strings = Array(repeating: [UInt8](repeating: 0x61, count: 250), count: 300)
        let m = message(answers: [ResourceRecord(name: name("q.test."), ttl: 1, rdata: .txt(strings))])
        XCTAssertThrowsError(try m.encoded()) { e in XCTAssertEqual((e as? DNSWireError)?.code, .tooLarge) }
        let caa = ResourceRecord(name: name("q.test."), ttl: 1, rdata: .caa(flags: 0, tag: Array("issue".utf8),
                                                                            value: [UInt8](repeating: 0x62, count: 70_000)))
        XCTAssertThrowsError(try message(answers: [caa]).encoded())
        let opaque = ResourceRecord(name: name("q.test."), ttl: 1, rdata: .unknown(RecordType(rawValue: 65280), [UInt8](repeating: 0, count: 65_536)))
        XCTAssertThrowsError(try message(answers: [opaque]).encoded())
        // `serialized` never traps: it falls back to the question with TC.
        let fallback = m.serialized()
        XCTAssertTrue(try Message(parsing: fallback).header.truncated)
    }

    // RFC 1035 §3.3: a <character-string> is at most 255 octets; longer ones are an error, not
    // silently cut (the old writer truncated them).
    func testRFC1035_3_3_CharacterStringOver255IsAnError() {
        let long = ResourceRecord(name: name("q.test."), ttl: 1, rdata: .txt([[UInt8](repeating: 0x61, count: 256)]))
        XCTAssertThrowsError(try message(answers: [long]).encoded())
        let tag = ResourceRecord(name: name("q.test."), ttl: 1, rdata: .caa(flags: 0, tag: [UInt8](repeating: 0x61, count: 256), value: []))
        XCTAssertThrowsError(try message(answers: [tag]).encoded())
    }

    // RFC 1035 §4.2.2: a message is at most 65,535 octets; records that fit their fields but not
    // one message together are cut to the question with TC (e.g. ANY over TCP at a large node).
    func testRFC1035_4_2_2_MessageOver65535IsTruncated() throws {
        let rr = ResourceRecord(name: name("q.test."), ttl: 1, rdata: .unknown(RecordType(rawValue: 65280), [UInt8](repeating: 0, count: 60_000)))
        let two = try Message(parsing: try message(answers: [rr, rr]).encoded())
        XCTAssertTrue(two.header.truncated)
        XCTAssertTrue(two.answerSection.isEmpty)
        XCTAssertEqual(try Message(parsing: try message(answers: [rr]).encoded()).answerSection.count, 1)
    }

    // RFC 1035 §4.1.4: a pointer must point at an earlier name; names start after the header.
    func testRFC1035_4_1_4_PointerIntoHeaderRejected() {
        // ID 0 makes offset 0 look like the root name.
        let msg: [UInt8] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0, 1, 0, 1]
        XCTAssertThrowsError(try Message(parsing: msg)) { e in XCTAssertEqual((e as? DNSWireError)?.code, .badPointer) }
        let msg5: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x05, 0, 1, 0, 1]
        XCTAssertThrowsError(try Message(parsing: msg5))
        // A pointer to offset 12 (the question name) is fine.
        var ok: [UInt8] = [0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]
        ok += [1, 0x61, 0, 0, 1, 0, 1]
        ok += [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 192, 0, 2, 1]
        XCTAssertEqual(try Message(parsing: ok).answerSection.count, 1)
    }

    // RFC 6891 §6.1.2: options are a sequence bounded only by RDLENGTH (#14: 17 options used to be
    // FORMERR). Malformed option data is still an error.
    func testRFC6891_6_1_2_AnyNumberOfOptionsThatFit() throws {
        let opts = (0..<200).map { EDNSOption.unknown(code: 65000, data: [UInt8($0 & 0xff)]) }
        let q = Message(header: Header(id: 3), questions: [Question(name: name("q.test."), type: .a)],
                        edns: EDNS(options: opts)).serialized()
        XCTAssertEqual(try Message(parsing: q).edns?.options.count, 200)
        // An option whose length runs past the RDATA is malformed.
        var bad = Message(header: Header(id: 3), questions: [Question(name: name("q.test."), type: .a)],
                          edns: EDNS(options: [.unknown(code: 65000, data: [1, 2])])).serialized()
        bad[bad.count - 3] = 9   // OPTION-LENGTH 9 > the 2 octets present
        XCTAssertThrowsError(try Message(parsing: bad))
    }
}
