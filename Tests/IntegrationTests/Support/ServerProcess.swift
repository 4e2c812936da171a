import DNSWire
import Foundation

/// The built `proxima` binary run as a child process (for signals and the CLI).
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let stderrPipe = Pipe()
    private let lock = NSLock()
    private var stderrText = ""

    /// The `proxima` executable next to the test bundle (same build directory), or the one
    /// `PROXIMA_BINARY` names (to run these tests against another build, e.g. an older one).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var dir = argv0.deletingLastPathComponent()
        // swift test runs .../debug/ProximaPackageTests.xctest (a file on Linux).
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        let candidate = dir.appendingPathComponent("proxima")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return LiveServer.repoRoot.appendingPathComponent(".build/debug/proxima")
    }

    /// Runs `proxima` with `arguments` to completion; returns (status, stdout, stderr).
    static func run(_ arguments: [String], timeout: Double = 30) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Starts `executable` (default: `proxima`) with `arguments`; e.g. `prlimit` wrapping it.
    /// `environment` is added to this process's environment.
    init(executable: URL = ServerProcess.binary, arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock(); self.stderrText += String(decoding: d, as: UTF8.self); self.lock.unlock()
        }
        try process.run()
    }

    var stderr: String { lock.lock(); defer { lock.unlock() }; return stderrText }

    /// The UDP/TCP port from the "serving DNS" log line.
    func waitForPort(timeout: Double = 20) -> UInt16? {
        var port: UInt16?
        _ = LiveServer.eventually(timeout: timeout) {
            guard let r = stderr.range(of: #"listen=127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return false }
            port = UInt16(stderr[r].split(separator: ":").last!)
            return true
        }
        return port
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    func waitForExit(timeout: Double) -> Int32? {
        let ok = LiveServer.eventually(timeout: timeout) { !process.isRunning }
        return ok ? process.terminationStatus : nil
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}
