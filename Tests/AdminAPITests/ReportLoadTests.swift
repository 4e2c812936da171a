import AsyncHTTPClient
import DNSWire
import GeoRouting
import HealthChecks
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import XCTest
@testable import AdminAPI

/// `proxima report-load`'s machinery (`LoadReporter`, `CPUSampler`) against the real AdminServer.
final class ReportLoadTests: XCTestCase {
    private let loopback = IPAddress("127.0.0.1")!

    private struct Running {
        let group: ServiceGroup
        let task: Task<Void, any Error>

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    private func startServer(token: String?, known: Set<IPAddress>) async throws -> (AdminServer, BackendStateStore, Running, Int) {
        let store = BackendStateStore()
        let server = AdminServer(
            configuration: .init(host: "127.0.0.1", port: 0, token: token), store: store,
            pools: { [] }, knownBackends: { known }, explain: { _, _ in "{}" }, logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        let task = Task { try await group.run() }
        let port = try await server.waitUntilListening()
        return (server, store, Running(group: group, task: task), port)
    }

    func testReportOnceOfMeasuredCPULoadReachesTheStore() async throws {
        let (_, store, task, port) = try await startServer(token: "t0ken", known: [loopback])
        let url = "http://127.0.0.1:\(port)/"
        // Default address: this host's address towards the server, as `--address` would default.
        let address = try await LoadReporter.localAddress(towards: url)
        XCTAssertEqual(address, loopback)
        let load = try await CPUSampler().utilisation(over: 0.1)
        try await LoadReporter.withReporter(configuration: .init(serverURL: url, token: "t0ken", address: address)) {
            try await $0.report(load: load)
        }
        let recorded = try XCTUnwrap(store.status(of: loopback).lastLoad)
        XCTAssertEqual(recorded.load, (load * 10_000).rounded() / 10_000, accuracy: 1e-9)
        XCTAssertTrue((0...1).contains(recorded.load))
        await task.stop()
    }

    func testRejectionIsNotRetriedAndNamesTheProblem() async throws {
        let (_, store, task, port) = try await startServer(token: "t0ken", known: [loopback])
        // A backoff of an hour: returning at all shows a 4xx is final (no wall-clock bound).
        for (token, address, expected) in [("wrong", loopback, "401"), ("t0ken", IPAddress("::1")!, "404")] {
            do {
                try await LoadReporter.withReporter(configuration: .init(
                    serverURL: "http://127.0.0.1:\(port)", token: token, address: address,
                    maxAttempts: 3, initialBackoff: 3600)) { try await $0.report(load: 0.5) }
                XCTFail("expected a rejection")
            } catch let error as HealthChecksError {
                XCTAssertEqual(error.code, .rejected)
                XCTAssertTrue(error.message.contains("HTTP \(expected)"), error.message)
            }
        }
        XCTAssertTrue(store.snapshot().byAddress.isEmpty)
        await task.stop()
    }

    func testUnreachableServerGivesUpAfterBoundedRetries() async throws {
        // Learn a free port by running and stopping a server on it.
        let (_, _, task, port) = try await startServer(token: nil, known: [])
        await task.stop()
        let started = BackendStateStore.monotonicSeconds()
        do {
            try await LoadReporter.withReporter(configuration: .init(
                serverURL: "http://127.0.0.1:\(port)", address: loopback, maxAttempts: 3,
                initialBackoff: 0.05, requestTimeout: 0.3)) { try await $0.report(load: 0.5) }
            XCTFail("expected a failure")
        } catch let error as HealthChecksError {
            XCTAssertEqual(error.code, .unreachable)
            XCTAssertTrue(error.message.contains("connection refused"), error.message)
        }
        // A lower bound only (a busy machine can only make it longer); giving up at all shows the
        // retries are bounded.
        let took = BackendStateStore.monotonicSeconds() - started
        XCTAssertGreaterThanOrEqual(took, 0.15, "two backoffs of 0.05 s and 0.1 s were waited")
    }
}
