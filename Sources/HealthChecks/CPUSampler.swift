#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the machine's CPU utilisation from `/proc/stat` (Linux).
public struct CPUSampler: Sendable {
    /// The file read; replaceable for tests.
    public var path: String

    /// A sampler over `path` (default `/proc/stat`).
    public init(path: String = "/proc/stat") {
        self.path = path
    }

    /// The current cumulative counters.
    public func read() throws -> CPUTimes {
        let text = try Self.readFile(path)
        guard let times = CPUTimes.parse(procStat: text) else {
            throw HealthChecksError(.procStat, "\(path): no parsable aggregate cpu line")
        }
        return times
    }

    /// Utilisation (0...1) over `seconds`: reads the counters, sleeps, reads again.
    public func utilisation(over seconds: Double) async throws -> Double {
        let first = try read()
        try await Task.sleep(nanoseconds: UInt64(max(0.01, seconds) * 1e9))
        let second = try read()
        guard let value = second.utilisation(since: first) else {
            throw HealthChecksError(.procStat, "\(path): counters did not advance over \(seconds)s")
        }
        return value
    }

    /// Reads a small text file (procfs reports size 0, so read until EOF).
    private static func readFile(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw HealthChecksError(.procStat, "\(path): cannot open (errno \(errno))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
