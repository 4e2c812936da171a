import NIOCore
import NIOEmbedded
import XCTest
@testable import AdminAPI

/// `AdminConnectionRegistry`: the per-address cap refuses; the total cap evicts the connection
/// idle longest, or refuses when every connection is busy.
final class AdminConnectionRegistryTests: XCTestCase {
    private func id(_ admission: AdminConnectionRegistry.Admission) -> UInt64? {
        switch admission {
        case .accepted(let id), .acceptedEvicting(let id, _): return id
        case .refused: return nil
        }
    }

    func testPerAddressCapRefusesAndFreesOnRemove() throws {
        let registry = AdminConnectionRegistry(maxTotal: 10, maxPerAddress: 2)
        let a = try XCTUnwrap(id(registry.admit(key: "192.0.2.1", channel: EmbeddedChannel(), now: 1)))
        XCTAssertNotNil(id(registry.admit(key: "192.0.2.1", channel: EmbeddedChannel(), now: 2)))
        guard case .refused = registry.admit(key: "192.0.2.1", channel: EmbeddedChannel(), now: 3) else {
            return XCTFail("third connection from one address admitted")
        }
        XCTAssertNotNil(id(registry.admit(key: "192.0.2.2", channel: EmbeddedChannel(), now: 4)), "another address")
        XCTAssertNotNil(id(registry.admit(key: nil, channel: EmbeddedChannel(), now: 5)), "the socket has no per-address cap")
        registry.remove(a)
        XCTAssertNotNil(id(registry.admit(key: "192.0.2.1", channel: EmbeddedChannel(), now: 6)), "room again after a close")
        XCTAssertEqual(registry.count, 4)
    }

    func testTotalCapEvictsTheLongestIdleElseRefuses() throws {
        let registry = AdminConnectionRegistry(maxTotal: 3, maxPerAddress: 10)
        let channels = [EmbeddedChannel(), EmbeddedChannel(), EmbeddedChannel()]
        var ids: [UInt64] = []
        for (i, c) in channels.enumerated() {
            ids.append(try XCTUnwrap(id(registry.admit(key: "192.0.2.1", channel: c, now: UInt64(10 + i)))))
        }
        registry.setIdle(ids[0], since: nil)   // busy
        registry.setIdle(ids[1], since: 50)    // idle since 50
        registry.setIdle(ids[2], since: 40)    // idle since 40: the longest
        guard case .acceptedEvicting(let newID, let victim) = registry.admit(key: "192.0.2.9", channel: EmbeddedChannel(), now: 60) else {
            return XCTFail("no eviction at the cap")
        }
        XCTAssertTrue(victim === channels[2])
        XCTAssertEqual(registry.count, 3)
        registry.setIdle(newID, since: nil)
        registry.setIdle(ids[1], since: nil)
        guard case .refused = registry.admit(key: "192.0.2.9", channel: EmbeddedChannel(), now: 70) else {
            return XCTFail("admitted at the cap with every connection busy")
        }
        registry.remove(ids[2])  // the evicted one closing later changes nothing
        XCTAssertEqual(registry.count, 3)
    }
}
