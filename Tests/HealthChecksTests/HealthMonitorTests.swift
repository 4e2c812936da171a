import DNSWire
import GeoRouting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import XCTest
@testable import HealthChecks

/// DESIGN §3 "Health" against real HTTP and TCP servers on 127.0.0.1: anti-flap thresholds,
/// timeouts, forced state, reloads, and one log line per transition.
final class HealthMonitorTests: XCTestCase {
    private let loopback = IPAddress("127.0.0.1")!

    private func httpSpec(port: Int, path: String = "/health", host: String? = nil, expect: [Int] = [200],
                          useTLS: Bool = false, interval: Double = 0.1, timeout: Double = 0.5,
                          rise: Int = 2, fall: Int = 3) -> HealthCheckSpec {
        HealthCheckSpec(probe: .http(.init(useTLS: useTLS, port: port, path: path, host: host, expectedStatus: expect)),
                        interval: interval, timeout: timeout, rise: rise, fall: fall)
    }

    /// Runs `monitor` for the duration of `body`, then shuts it down and waits for it.
    private func running(_ monitor: HealthMonitor, _ body: () async throws -> Void) async throws {
        let task = Task { try await monitor.run() }
        do {
            try await body()
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
        task.cancel()
        try await task.value
        XCTAssertTrue(monitor.probedAddresses.isEmpty, "every loop stopped after run() returned")
    }

    private func transitions(_ records: NIOLockedValueBox<[CapturingLogHandler.Record]>) -> [CapturingLogHandler.Record] {
        records.withLockedValue { $0.filter { $0.message.hasPrefix("backend ") } }
    }

    func testHTTPBackendGoesDownAfterFallFailuresAndBackAfterRiseSuccesses() async throws {
        let server = try await TestHTTPServer.start()
        let published = NIOLockedValueBox<[Bool]>([])
        let address = loopback
        let store = BackendStateStore(onChange: { states in
            published.withLockedValue { $0.append(states.status(of: address).probeHealthy) }
        })
        let (logger, records) = CapturingLogHandler.logger()
        let target = HealthTarget(address: loopback, name: "local",
                                  spec: httpSpec(port: server.port, host: "www.example.test", rise: 2, fall: 3))
        let monitor = HealthMonitor(store: store, targets: [target], logger: logger, initialDelay: { _ in 0 })
        try await running(monitor) {
            // Healthy backend: several probes, no transition.
            let probed = await eventually { server.requestCount >= 3 }
            XCTAssertTrue(probed)
            XCTAssertTrue(store.status(of: loopback).probeHealthy)
            XCTAssertEqual(server.seen.withLockedValue { $0.first }, .init(path: "/health", host: "www.example.test"))

            server.set(status: 503)
            let failuresBefore = server.requestCount
            let wentDown = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(wentDown)
            // Exactly `fall` failing probes were needed (allow one probe in flight at the switch).
            let failuresSeen = server.requestCount - failuresBefore
            // (The exact count is HealthStateMachineTests' job; here a probe in flight at the switch and the
            // 10 ms polling blur it by one either way.)
            XCTAssertTrue((2...5).contains(failuresSeen), "went down after \(failuresSeen) failing probes")

            server.set(status: 200)
            let cameBack = await eventually { store.status(of: loopback).probeHealthy }
            XCTAssertTrue(cameBack)
            // Let a few more healthy probes pass: no further transitions are logged.
            let more = server.requestCount
            _ = await eventually { server.requestCount >= more + 3 }
        }
        XCTAssertEqual(published.withLockedValue { $0 }, [false, true], "one snapshot per transition")
        let logged = transitions(records)
        XCTAssertEqual(logged.map(\.level), [.warning, .notice], "\(logged)")
        XCTAssertEqual(logged.first?.metadata["reason"], "HTTP 503")
        XCTAssertEqual(logged.first?.metadata["address"], "127.0.0.1")
        XCTAssertEqual(logged.first?.metadata["name"], "local")
        XCTAssertEqual(logged.first?.message, "backend 127.0.0.1 (local) is down: HTTP 503")
        XCTAssertEqual(logged.last?.metadata["reason"], "HTTP 200")
        await server.stop()
    }

    func testExpectedStatusListDecidesHealth() async throws {
        // The same 204 answer is healthy where 204 is expected and a failure where only 200 is.
        let v4 = try await TestHTTPServer.start()
        let v6 = try await TestHTTPServer.start(host: "::1")
        v4.set(status: 204)
        v6.set(status: 204)
        let ipv6 = IPAddress("::1")!
        let store = BackendStateStore()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: v4.port, expect: [200, 204], fall: 1)),
            HealthTarget(address: ipv6, spec: httpSpec(port: v6.port, expect: [200], fall: 1)),
        ], logger: quietLogger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let down = await eventually { !store.status(of: ipv6).probeHealthy }
            XCTAssertTrue(down, "204 is not in [200]; also proves the IPv6 URL form reaches [::1]")
            _ = await eventually { v4.requestCount >= 3 }
            XCTAssertTrue(store.status(of: loopback).probeHealthy, "204 is in [200, 204]")
        }
        await v4.stop()
        await v6.stop()
    }

    func testRedirectIsNotFollowed() async throws {
        let healthy = try await TestHTTPServer.start()
        let redirecting = try await TestHTTPServer.start()
        redirecting.set(status: 302, headers: [("Location", "http://127.0.0.1:\(healthy.port)/health")])
        let store = BackendStateStore()
        let (logger, records) = CapturingLogHandler.logger()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: redirecting.port, expect: [200], fall: 2)),
        ], logger: logger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let down = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(down)
        }
        XCTAssertEqual(healthy.requestCount, 0, "the redirect target was never fetched")
        XCTAssertEqual(transitions(records).first?.metadata["reason"], "HTTP 302")
        await healthy.stop()
        await redirecting.stop()
    }

    func testStoppedServerIsDownWithConnectionRefusedAndRestartBringsItBack() async throws {
        let server = try await TestHTTPServer.start()
        let store = BackendStateStore()
        let (logger, records) = CapturingLogHandler.logger()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: server.port, rise: 1, fall: 2)),
        ], logger: logger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let probed = await eventually { server.requestCount >= 1 }
            XCTAssertTrue(probed)
            await server.stop()
            let down = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(down)
            try await server.restart()
            let up = await eventually { store.status(of: loopback).probeHealthy }
            XCTAssertTrue(up)
        }
        let logged = transitions(records)
        XCTAssertEqual(logged.count, 2, "\(logged)")
        XCTAssertEqual(logged.first?.metadata["reason"], "connection refused")
        await server.stop()
    }

    func testSlowBackendTimesOut() async throws {
        let server = try await TestHTTPServer.start()
        // The server answers 200 only after the test is over: down can only come from the timeout.
        server.set(status: 200, delay: 60)
        let store = BackendStateStore()
        let (logger, records) = CapturingLogHandler.logger()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: server.port, interval: 0.1, timeout: 0.2, fall: 1)),
        ], logger: logger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let down = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(down, "the probe gave up at its timeout, not when the server answered")
        }
        XCTAssertEqual(transitions(records).first?.metadata["reason"], "timeout after 200ms")
        await server.stop()
    }

    func testTCPProbeListeningPortIsUpClosedPortIsDown() async throws {
        let server = try await TestHTTPServer.start()
        let closed = try await closedLoopbackPort()
        let store = BackendStateStore()
        let (logger, records) = CapturingLogHandler.logger()
        // Two addresses on loopback: 127.0.0.1 probes the listening port, ::1 probes a closed port.
        let v6 = IPAddress("::1")!
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: .init(probe: .tcp(port: server.port), interval: 0.1,
                                                        timeout: 0.5, rise: 1, fall: 1)),
            HealthTarget(address: v6, name: "v6", spec: .init(probe: .tcp(port: closed), interval: 0.1,
                                                              timeout: 0.5, rise: 1, fall: 1)),
        ], logger: logger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let down = await eventually { !store.status(of: v6).probeHealthy }
            XCTAssertTrue(down)
            // Still up after three more probes of the listening port (counted, not slept for).
            let connected = server.connectionCount
            let probed = await eventually { server.connectionCount >= connected + 3 }
            XCTAssertTrue(probed, "the listening port is probed")
            XCTAssertTrue(store.status(of: loopback).probeHealthy)
        }
        let logged = transitions(records)
        XCTAssertEqual(logged.count, 1, "\(logged)")
        XCTAssertEqual(logged.first?.metadata["address"], "::1")
        // ::1 may be unconfigured in some sandboxes; either way the probe fails with a clear reason.
        XCTAssertTrue(["connection refused", "network unreachable", "host unreachable"]
            .contains(logged.first?.metadata["reason"] ?? ""), "\(logged)")
        await server.stop()
    }

    func testForcedStateBeatsProbes() async throws {
        let server = try await TestHTTPServer.start()
        let store = BackendStateStore()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: server.port, rise: 1, fall: 1)),
        ], logger: quietLogger, initialDelay: { _ in 0 })
        try await running(monitor) {
            store.force(address: loopback, state: .down)
            _ = await eventually { server.requestCount >= 3 }
            XCTAssertTrue(store.status(of: loopback).probeHealthy)
            XCTAssertFalse(store.snapshot().status(of: loopback).isHealthy, "forced down beats a passing probe")

            store.force(address: loopback, state: .up)
            server.set(status: 500)
            let probeDown = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(probeDown)
            XCTAssertTrue(store.snapshot().status(of: loopback).isHealthy, "forced up beats a failing probe")

            store.force(address: loopback, state: nil)
            XCTAssertFalse(store.snapshot().status(of: loopback).isHealthy, "cleared: probe health again")
        }
        await server.stop()
    }

    func testRemovedTargetStopsProbingAndReturnsToUp() async throws {
        let kept = try await TestHTTPServer.start()
        let removed = try await TestHTTPServer.start(host: "::1")
        removed.set(status: 503)
        let other = IPAddress("::1")!
        let store = BackendStateStore()
        let keptTarget = HealthTarget(address: loopback, spec: httpSpec(port: kept.port))
        let removedTarget = HealthTarget(address: other, spec: httpSpec(port: removed.port, fall: 1))
        let monitor = HealthMonitor(store: store, targets: [keptTarget, removedTarget],
                                    logger: quietLogger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let down = await eventually { !store.status(of: other).probeHealthy }
            XCTAssertTrue(down)
            XCTAssertEqual(monitor.probedAddresses, [loopback, other])

            monitor.update(targets: [keptTarget])
            XCTAssertEqual(monitor.probedAddresses, [loopback])
            XCTAssertTrue(store.status(of: other).probeHealthy, "a member without a probe is healthy")
            // Allow a probe that was in flight to land (two more probes of the kept member, same
            // interval), then count: while the kept member is probed three more times, the removed
            // one must not be probed at all. Counted probes, not sleeps: a busy machine only waits longer.
            let settling = kept.requestCount
            let settled = await eventually { kept.requestCount >= settling + 2 }
            XCTAssertTrue(settled, "the kept member still is probed")
            let keptBefore = kept.requestCount
            let removedBefore = removed.requestCount
            let progressed = await eventually { kept.requestCount >= keptBefore + 3 }
            XCTAssertTrue(progressed, "the kept member still is probed")
            XCTAssertEqual(removed.requestCount, removedBefore, "the removed member is no longer probed")
            XCTAssertTrue(store.status(of: other).probeHealthy, "a late result did not resurrect the old loop")
        }
        await kept.stop()
        await removed.stop()
    }

    func testUpdateKeepsUnchangedLoopsAndStartsNewOnes() async throws {
        let server = try await TestHTTPServer.start()
        let store = BackendStateStore()
        let first = HealthTarget(address: loopback, spec: httpSpec(port: server.port, interval: 0.05))
        let monitor = HealthMonitor(store: store, logger: quietLogger, initialDelay: { _ in 0 })
        try await running(monitor) {
            XCTAssertTrue(monitor.probedAddresses.isEmpty)
            monitor.update(targets: [first])
            let probed = await eventually { server.requestCount >= 2 }
            XCTAssertTrue(probed)
            server.set(status: 503)
            let down = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(down)
            // Same target again (a reload that did not touch it): the state is kept, not reset to up.
            monitor.update(targets: [first])
            XCTAssertFalse(store.status(of: loopback).probeHealthy)
            // A changed spec restarts the loop from the current state: still down until `rise` passes.
            server.set(status: 200)
            var changed = first
            changed.spec.rise = 3
            monitor.update(targets: [changed, changed])
            XCTAssertEqual(monitor.probedAddresses, [loopback])
            let up = await eventually { store.status(of: loopback).probeHealthy }
            XCTAssertTrue(up)
        }
        await server.stop()
    }

    func testSecondRunDoesNotDisturbTheFirst() async throws {
        let server = try await TestHTTPServer.start()
        let monitor = HealthMonitor(store: BackendStateStore(), targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: server.port)),
        ], logger: quietLogger, initialDelay: { _ in 0 })
        try await running(monitor) {
            _ = await eventually { server.requestCount >= 1 }
            try await monitor.run()  // returns at once
            XCTAssertEqual(monitor.probedAddresses, [loopback])
            let count = server.requestCount
            let still = await eventually { server.requestCount >= count + 2 }
            XCTAssertTrue(still, "the first run keeps probing")
        }
        await server.stop()
    }

    func testRunsInServiceGroupAndStopsOnGracefulShutdown() async throws {
        let server = try await TestHTTPServer.start()
        let store = BackendStateStore()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: server.port)),
        ], logger: quietLogger, initialDelay: { _ in 0 })
        let group = ServiceGroup(configuration: .init(services: [monitor], logger: quietLogger))
        let task = Task { try await group.run() }
        let probed = await eventually { server.requestCount >= 2 }
        XCTAssertTrue(probed)
        await group.triggerGracefulShutdown()
        try await task.value
        XCTAssertTrue(monitor.probedAddresses.isEmpty)
        let count = server.requestCount
        // A witness monitor with the same interval probes another server three times; the stopped
        // one would have probed in that time too (counted probes, not a sleep).
        let witnessServer = try await TestHTTPServer.start()
        let witness = HealthMonitor(store: BackendStateStore(), targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: witnessServer.port)),
        ], logger: quietLogger, initialDelay: { _ in 0 })
        try await running(witness) {
            let witnessed = await eventually { witnessServer.requestCount >= 3 }
            XCTAssertTrue(witnessed, "the witness probes")
        }
        XCTAssertEqual(server.requestCount, count, "no probes after shutdown")
        await witnessServer.stop()
        await server.stop()
    }

    func testHTTPSProbeAgainstPlainHTTPFails() async throws {
        let server = try await TestHTTPServer.start()
        let store = BackendStateStore()
        let monitor = HealthMonitor(store: store, targets: [
            HealthTarget(address: loopback, spec: httpSpec(port: server.port, useTLS: true, fall: 1)),
        ], logger: quietLogger, initialDelay: { _ in 0 })
        try await running(monitor) {
            let down = await eventually { !store.status(of: loopback).probeHealthy }
            XCTAssertTrue(down, "a TLS handshake with a plain HTTP server cannot succeed")
        }
        await server.stop()
    }

    func testProbeURLBracketsIPv6AndNormalisesPath() {
        let cases: [(IPAddress, HealthCheckSpec.HTTPProbe, String)] = [
            (IPAddress("192.0.2.1")!, .init(port: 80, path: "/health"), "http://192.0.2.1:80/health"),
            (IPAddress("2001:db8::10")!, .init(useTLS: true, port: 8443, path: "status"), "https://[2001:db8::10]:8443/status"),
        ]
        for (address, probe, url) in cases {
            XCTAssertEqual(Prober.url(address, probe), url)
        }
    }

    func testDurationFormatting() {
        let cases: [(Double, String)] = [(2, "2s"), (0.25, "250ms"), (1.5, "1.5s"), (0.2, "200ms"), (10, "10s")]
        for (seconds, text) in cases {
            XCTAssertEqual(formatSeconds(seconds), text)
        }
    }
}
