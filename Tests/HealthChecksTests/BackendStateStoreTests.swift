import DNSWire
import GeoRouting
import NIOConcurrencyHelpers
import XCTest
@testable import HealthChecks

/// The store publishes one immutable snapshot per change, in order, and nothing for no-ops.
final class BackendStateStoreTests: XCTestCase {
    private let a = IPAddress("192.0.2.1")!
    private let b = IPAddress("2001:db8::1")!

    private func makeStore(now: NIOLockedValueBox<Double>) -> (BackendStateStore, NIOLockedValueBox<[BackendStates]>) {
        let published = NIOLockedValueBox<[BackendStates]>([])
        let store = BackendStateStore(clock: { now.withLockedValue { $0 } },
                                      onChange: { states in published.withLockedValue { $0.append(states) } })
        return (store, published)
    }

    func testEveryChangePublishesASnapshotAndNoOpsPublishNothing() {
        let clock = NIOLockedValueBox(100.0)
        let (store, published) = makeStore(now: clock)
        XCTAssertTrue(store.snapshot().byAddress.isEmpty)

        store.setProbeHealth(address: a, healthy: true)  // already the default: no change
        store.force(address: a, state: nil)              // likewise
        XCTAssertEqual(published.withLockedValue { $0.count }, 0)

        store.setProbeHealth(address: a, healthy: false)
        store.setProbeHealth(address: a, healthy: false)  // repeated: no change
        store.force(address: b, state: .up)
        store.recordLoad(address: a, load: 0.5)
        let snapshots = published.withLockedValue { $0 }
        XCTAssertEqual(snapshots.count, 3)
        XCTAssertEqual(snapshots[0].status(of: a), BackendStatus(probeHealthy: false))
        XCTAssertNil(snapshots[0].byAddress[b])
        XCTAssertEqual(snapshots[1].status(of: b).forced, .up)
        XCTAssertEqual(snapshots[2].status(of: a).lastLoad, LoadReport(load: 0.5, receivedAt: 100))
        XCTAssertEqual(store.snapshot().byAddress, snapshots[2].byAddress, "snapshot() equals the last publication")
    }

    func testLoadReportsAreStampedWithTheInjectedClockAndAgeOut() {
        let clock = NIOLockedValueBox(10.0)
        let (store, _) = makeStore(now: clock)
        store.recordLoad(address: a, load: 0.25)
        clock.withLockedValue { $0 = 25 }
        XCTAssertEqual(store.snapshot().load(of: a, now: store.now(), maxAge: 30), 0.25)
        clock.withLockedValue { $0 = 41 }
        XCTAssertNil(store.snapshot().load(of: a, now: store.now(), maxAge: 30), "older than load_max_age")
        store.recordLoad(address: a, load: 0.75, now: 40)
        XCTAssertEqual(store.status(of: a).lastLoad?.receivedAt, 40)
    }

    func testForcedHealthOverridesProbeHealth() {
        let (store, _) = makeStore(now: NIOLockedValueBox(0))
        let table: [(probe: Bool, forced: ForcedHealth?, healthy: Bool)] = [
            (true, nil, true), (false, nil, false),
            (true, .down, false), (false, .down, false),
            (true, .up, true), (false, .up, true),
        ]
        for row in table {
            store.setProbeHealth(address: a, healthy: row.probe)
            store.force(address: a, state: row.forced)
            XCTAssertEqual(store.snapshot().status(of: a).isHealthy, row.healthy, "\(row)")
        }
    }

    func testRetainDropsRemovedMembersOnly() {
        let (store, published) = makeStore(now: NIOLockedValueBox(0))
        store.force(address: a, state: .down)
        store.recordLoad(address: b, load: 1)
        let before = published.withLockedValue { $0.count }
        store.retain(addresses: [a, b])
        XCTAssertEqual(published.withLockedValue { $0.count }, before, "nothing removed, nothing published")
        store.retain(addresses: [b])
        XCTAssertNil(store.snapshot().byAddress[a])
        XCTAssertNotNil(store.snapshot().byAddress[b])
        XCTAssertEqual(published.withLockedValue { $0.count }, before + 1)
        XCTAssertTrue(store.status(of: a).isHealthy, "a forgotten member is back to the default")
    }

    func testMonotonicClockAdvances() async throws {
        let t0 = BackendStateStore.monotonicSeconds()
        try await Task.sleep(nanoseconds: 20_000_000)
        XCTAssertGreaterThan(BackendStateStore.monotonicSeconds() - t0, 0.015)
    }
}
