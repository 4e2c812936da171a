import DDNS
import DDNSClient
import DNSWire
import XCTest

final class UpdateStateTests: XCTestCase {
    let v4 = IPAddress("203.0.113.7")!
    let v6 = IPAddress("2001:db8::7")!

    func testRoundTripAndComparison() throws {
        let a = UpdateState(server: "http://ns1:8054", silo: "s1", hostnames: ["Web", "db"], addresses: [v6, v4], updated: "2026-01-01T00:00:00Z")
        let decoded = try XCTUnwrap(UpdateState.decode(a.encoded()))
        XCTAssertEqual(decoded, a)
        XCTAssertEqual(decoded.hostnames, ["db", "web"])
        XCTAssertEqual(decoded.addresses, ["2001:db8::7", "203.0.113.7"])
        // Order and the time do not matter; an IPv4-mapped address is its IPv4 address.
        let b = UpdateState(server: "http://ns1:8054", silo: "s1", hostnames: ["db", "web"],
                            addresses: [IPAddress("::ffff:203.0.113.7")!, v6])
        XCTAssertTrue(decoded.covers(b))
        // A different address, name set, silo or server is a change.
        XCTAssertFalse(decoded.covers(UpdateState(server: "http://ns1:8054", silo: "s1", hostnames: ["db", "web"], addresses: [v4])))
        XCTAssertFalse(decoded.covers(UpdateState(server: "http://ns1:8054", silo: "s1", hostnames: ["db"], addresses: [v4, v6])))
        XCTAssertFalse(decoded.covers(UpdateState(server: "http://ns1:8054", silo: "s2", hostnames: ["db", "web"], addresses: [v4, v6])))
        XCTAssertFalse(decoded.covers(UpdateState(server: "http://ns2:8054", silo: "s1", hostnames: ["db", "web"], addresses: [v4, v6])))
    }

    func testGarbageIsNoState() {
        XCTAssertNil(UpdateState.decode([]))
        XCTAssertNil(UpdateState.decode(Array("not json".utf8)))
        XCTAssertNil(UpdateState.decode(Array(#"{"server": 1}"#.utf8)))
        XCTAssertNil(UpdateState.decode([UInt8](repeating: 0x20, count: 70_000)))
    }

    func testDefaultPathOrder() {
        XCTAssertEqual(UpdateState.defaultPath(silo: "s1", environment: ["STATE_DIRECTORY": "/var/lib/proxima:/other",
                                                                         "XDG_STATE_HOME": "/x", "HOME": "/root"]),
                       "/var/lib/proxima/ddns-update-s1.json")
        XCTAssertEqual(UpdateState.defaultPath(silo: "s1", environment: ["XDG_STATE_HOME": "/x", "HOME": "/root"]),
                       "/x/proxima/ddns-update-s1.json")
        XCTAssertEqual(UpdateState.defaultPath(silo: "s1", environment: ["HOME": "/home/u/"]),
                       "/home/u/.local/state/proxima/ddns-update-s1.json")
        XCTAssertEqual(UpdateState.defaultPath(silo: "s1", environment: ["XDG_STATE_HOME": "relative", "HOME": "/h"]),
                       "/h/.local/state/proxima/ddns-update-s1.json")
        XCTAssertNil(UpdateState.defaultPath(silo: "s1", environment: [:]))
    }
}

final class RecordMergeTests: XCTestCase {
    func r(_ h: String, _ ip: String, _ ttl: UInt32? = nil) -> DDNSRecord { DDNSRecord(hostname: h, address: IPAddress(ip)!, ttl: ttl) }

    func testTable() {
        let cases: [(String, [DDNSRecord], [String], [String], [DDNSRecord])] = [
            ("empty silo: records added", [], ["gw"], ["192.0.2.1"], [r("gw", "192.0.2.1")]),
            ("A replaced, its TTL kept, others kept in order",
             [r("db", "198.51.100.1"), r("gw", "192.0.2.1", 30), r("x", "198.51.100.2")], ["gw"], ["192.0.2.9"],
             [r("db", "198.51.100.1"), r("gw", "192.0.2.9", 30), r("x", "198.51.100.2")]),
            ("only IPv4 known: the AAAA is kept", [r("gw", "192.0.2.1"), r("gw", "2001:db8::1")], ["gw"], ["192.0.2.2"],
             [r("gw", "192.0.2.2"), r("gw", "2001:db8::1")]),
            ("both families: both set, first of each family", [r("gw", "192.0.2.1")], ["gw"],
             ["2001:db8::2", "192.0.2.2", "192.0.2.3", "2001:db8::3"], [r("gw", "192.0.2.2"), r("gw", "2001:db8::2")]),
            ("names compare case-insensitively", [r("GW", "192.0.2.1")], ["gw"], ["192.0.2.2"], [r("GW", "192.0.2.2")]),
            ("IPv4-mapped counts as IPv4", [r("gw", "192.0.2.1")], ["gw"], ["::ffff:192.0.2.5"], [r("gw", "192.0.2.5")]),
            ("two names", [], ["a", "b"], ["192.0.2.1"], [r("a", "192.0.2.1"), r("b", "192.0.2.1")]),
            ("a duplicate of name and family collapses to one", [r("gw", "192.0.2.1"), r("gw", "192.0.2.2")], ["gw"],
             ["192.0.2.3"], [r("gw", "192.0.2.3")]),
            ("same address: same records", [r("gw", "192.0.2.1", 60)], ["gw"], ["192.0.2.1"], [r("gw", "192.0.2.1", 60)]),
        ]
        for (name, current, hostnames, addresses, expected) in cases {
            XCTAssertEqual(RecordMerge.merged(current: current, hostnames: hostnames, addresses: addresses.map { IPAddress($0)! }),
                           expected, name)
        }
        XCTAssertEqual(RecordMerge.merged(current: [], hostnames: ["gw"], addresses: [IPAddress("192.0.2.1")!], ttl: 120),
                       [r("gw", "192.0.2.1", 120)])
    }
}
