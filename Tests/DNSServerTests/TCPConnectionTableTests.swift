import DNSWire
import XCTest
@testable import DNSServer

/// `TCPConnectionTable`: admission, the per-address cap and eviction (RFC 7766 §6.2.3, #8.2),
/// with injected times.
final class TCPConnectionTableTests: XCTestCase {
    private final class Conn {}
    private let a = IPAddress("192.0.2.1")!
    private let b = IPAddress("192.0.2.2")!
    private let ms: UInt64 = 1_000_000

    private func id(_ c: Conn) -> ObjectIdentifier { ObjectIdentifier(c) }

    func testAdmitsUntilThePerAddressCapThenRefusesThatAddressOnly() {
        var table = TCPConnectionTable(maxConnections: 10, maxPerAddress: 2)
        let conns = (0..<4).map { _ in Conn() }
        XCTAssertEqual(table.admit(id(conns[0]), address: a, now: 1), .admit)
        XCTAssertEqual(table.admit(id(conns[1]), address: a, now: 2), .admit)
        XCTAssertEqual(table.admit(id(conns[2]), address: a, now: 3), .refuse(.perAddressLimit))
        XCTAssertEqual(table.admit(id(conns[3]), address: b, now: 4), .admit)
        XCTAssertEqual(table.count(from: a), 2)
        table.remove(id(conns[0]))
        XCTAssertEqual(table.count(from: a), 1)
        XCTAssertEqual(table.admit(id(conns[2]), address: a, now: 5), .admit)
    }

    /// An IPv6 host usually holds a whole /64: the cap counts the /64, not the address.
    func testIPv6AddressesOfOneSlash64ShareTheCap() {
        var table = TCPConnectionTable(maxConnections: 10, maxPerAddress: 2)
        let conns = (0..<4).map { _ in Conn() }
        XCTAssertEqual(table.admit(id(conns[0]), address: IPAddress("2001:db8:1:2::1")!, now: 1), .admit)
        XCTAssertEqual(table.admit(id(conns[1]), address: IPAddress("2001:db8:1:2:aaaa::9")!, now: 2), .admit)
        XCTAssertEqual(table.admit(id(conns[2]), address: IPAddress("2001:db8:1:2:ffff::1")!, now: 3),
                       .refuse(.perAddressLimit))
        XCTAssertEqual(table.admit(id(conns[3]), address: IPAddress("2001:db8:1:3::1")!, now: 4), .admit)
        XCTAssertEqual(table.count(from: IPAddress("2001:db8:1:2::77")!), 2)
    }

    /// RFC 7766 §6.2.3: when full, the longest-idle connection makes room for the new one.
    func testRFC7766_6_2_3_FullTableEvictsTheLongestIdle() {
        var table = TCPConnectionTable(maxConnections: 3, maxPerAddress: 10)
        let conns = (0..<4).map { _ in Conn() }
        XCTAssertEqual(table.admit(id(conns[0]), address: a, now: 10 * ms), .admit)
        XCTAssertEqual(table.admit(id(conns[1]), address: a, now: 20 * ms), .admit)
        XCTAssertEqual(table.admit(id(conns[2]), address: b, now: 30 * ms), .admit)
        // conns[0] is busy answering; conns[1] finished a query at 40 ms: conns[2] is idle longest.
        table.update(id(conns[0]), busy: true, now: 35 * ms)
        table.update(id(conns[1]), busy: true, now: 36 * ms)
        table.update(id(conns[1]), busy: false, now: 40 * ms)
        XCTAssertEqual(table.admit(id(conns[3]), address: b, now: 50 * ms), .admitEvicting(id(conns[2])))
        XCTAssertEqual(table.count, 3)
        XCTAssertEqual(table.count(from: b), 1, "the evicted connection's address slot is released")
        // Its close arriving later changes nothing.
        table.remove(id(conns[2]))
        XCTAssertEqual(table.count, 3)
    }

    func testAllBusyAndNoneStalledRefusesTheNewConnection() {
        var table = TCPConnectionTable(maxConnections: 2, maxPerAddress: 10, stalledAfter: .seconds(1))
        let conns = (0..<3).map { _ in Conn() }
        _ = table.admit(id(conns[0]), address: a, now: 0)
        _ = table.admit(id(conns[1]), address: b, now: 0)
        table.update(id(conns[0]), busy: true, now: 100 * ms)
        table.update(id(conns[1]), busy: true, now: 200 * ms)
        XCTAssertEqual(table.admit(id(conns[2]), address: a, now: 900 * ms), .refuse(.tableFull))
        // A connection busy for a second or more (a trickled query, unread answers) is stalled.
        XCTAssertEqual(table.admit(id(conns[2]), address: a, now: 1_150 * ms), .admitEvicting(id(conns[0])))
    }

    func testRemoveOfUnknownConnectionIsIgnored() {
        var table = TCPConnectionTable(maxConnections: 1, maxPerAddress: 1)
        table.remove(id(Conn()))
        table.update(id(Conn()), busy: true, now: 1)
        XCTAssertEqual(table.count, 0)
    }

    func testRateLimitedCounterReportsOncePerIntervalWithTheCount() {
        var counter = RateLimitedCounter(interval: .seconds(10))
        let s: UInt64 = 1_000_000_000
        XCTAssertEqual(counter.record(now: 100 * s), 1)
        XCTAssertNil(counter.record(now: 101 * s))
        XCTAssertNil(counter.record(now: 109 * s))
        XCTAssertEqual(counter.record(now: 110 * s), 3)
        XCTAssertNil(counter.record(now: 111 * s))
        XCTAssertEqual(counter.total, 5)
    }
}
