import DDNS
import DNSWire
import XCTest

final class DDNSModelTests: XCTestCase {
    func testRecordFamilyFollowsTheAddress() throws {
        let v4 = try XCTUnwrap(IPAddress("203.0.113.7"))
        let v6 = try XCTUnwrap(IPAddress("2001:db8::7"))
        let silo = Silo(id: "silo1", records: [DDNSRecord(hostname: "dbserver", address: v4),
                                               DDNSRecord(hostname: "webserver", address: v6, ttl: 30)])
        XCTAssertEqual(silo.records.map(\.ttl), [nil, 30])
        XCTAssertNotEqual(silo.records[0].address, silo.records[1].address)
    }
}
