import DNSWire
import DNSZone
import XCTest

/// Issue #8 "query of death": a record or RRset too big for the wire used to load and then trap
/// the server in the writer. The loader now refuses them, with file and line.
final class ZoneSizeLimitTests: XCTestCase {
    static let string250 = String(repeating: "x", count: 250)

    // RFC 1035 §3.2.1: RDLENGTH is 16 bits. 300 strings × 251 octets = 75,300 octets of RDATA.
    func testRFC1035_3_2_1_TXTRDataOver65535IsRefused() {
        let txt = Array(repeating: "\"\(Self.string250)\"", count: 300).joined(separator: " ")
        XCTAssertEqual(issues(header + "big TXT \(txt)\n"),
                       ["t.zone:6: big.example.test. TXT RDATA of 75300 octets exceeds 65535 (RFC 1035 §3.2.1 RDLENGTH)"])
    }

    // RFC 8659 §4.1: the CAA value has no length field of its own; RDLENGTH bounds it.
    func testRFC1035_3_2_1_CAAValueOver65535IsRefused() {
        let value = String(repeating: "v", count: 70_000)
        XCTAssertEqual(issues(header + "@ CAA 0 issue \"\(value)\"\n"),
                       ["t.zone:6: example.test. CAA RDATA of 70007 octets exceeds 65535 (RFC 1035 §3.2.1 RDLENGTH)"])
    }

    // RFC 1035 §4.2.2: a message is at most 65,535 octets; 300 TXT records of 251 octets each
    // cannot travel in one, whatever the transport.
    func testRFC1035_4_2_2_RRsetThatCannotFitAMessageIsRefused() {
        let records = (0..<300).map { "big TXT \"\($0)\(Self.string250.dropFirst(3))\"" }.joined(separator: "\n")
        let found = issues(header + records + "\n")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found.first?.hasPrefix("t.zone:6: big.example.test. TXT RRset of 300 records needs") ?? false,
                      "\(found)")
    }

    // Just under the limits still loads: one TXT of 255 strings × 255 octets = 65,280 octets.
    func testRFC1035_3_2_1_LargestRDataThatFitsLoads() throws {
        let s255 = String(repeating: "y", count: 255)
        let txt = Array(repeating: "\"\(s255)\"", count: 255).joined(separator: " ")
        let zone = try XCTUnwrap(load(header + "big TXT \(txt)\n"))
        guard case .answer(let rrs, _) = zone.lookup(n("big.example.test."), .txt) else {
            return XCTFail("expected an answer")
        }
        XCTAssertEqual(rrs.first?.rdata.wireLength, 65_280)
    }
}
