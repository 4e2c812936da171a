import DNSWire
import Foundation
@testable import GeoIP
import NIOHTTP1
import XCTest

/// Scripts/refresh-geoip-db against real HTTP servers on loopback.
final class RefreshScriptTests: XCTestCase {
    static let script = Fixtures.repositoryRoot.appendingPathComponent("Scripts/refresh-geoip-db").path
    var work = ""

    override func setUpWithError() throws {
        work = NSTemporaryDirectory() + "refresh-geoip-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: work)
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The proxima binary built next to the test bundle (or PROXIMA_BIN).
    static var proximaBinary: String {
        if let env = ProcessInfo.processInfo.environment["PROXIMA_BIN"] { return env }
        return Fixtures.repositoryRoot.appendingPathComponent(".build/debug/proxima").path
    }

    func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "MAXMIND_ACCOUNT_ID")
        env.removeValue(forKey: "MAXMIND_LICENSE_KEY")
        env["PROXIMA_BIN"] = Self.proximaBinary
        env["TMPDIR"] = work
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    func requireProximaLocate() throws {
        let path = Self.proximaBinary
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingPrerequisite("\(path) is not built: run `swift build --product proxima` first (Scripts/test does)")
        }
        let r = try run(path, ["locate", "--help"])
        guard r.status == 0, r.stdout.contains("--database") else {
            throw MissingPrerequisite("`proxima locate --help` failed or lacks --database (status \(r.status)): \(r.stderr)")
        }
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func sha256(_ path: String) throws -> String {
        let r = try run("/usr/bin/sha256sum", [path])
        return String(r.stdout.prefix(64))
    }

    /// A GeoLite2-style tarball: `GeoLite2-City_YYYYMMDD/GeoLite2-City.mmdb` plus a licence file.
    func makeTarball(of mmdb: String) throws -> String {
        let dir = work + "/tarball/GeoLite2-City_20250101"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: mmdb, toPath: dir + "/GeoLite2-City.mmdb")
        try Data("licence".utf8).write(to: URL(fileURLWithPath: dir + "/LICENSE.txt"))
        let tarball = work + "/GeoLite2-City_20250101.tar.gz"
        let r = try run("/usr/bin/tar", ["-czf", tarball, "-C", work + "/tarball", "GeoLite2-City_20250101"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return tarball
    }

    func gzip(_ path: String) throws -> String {
        let r = try run("/bin/sh", ["-c", "gzip -c '\(path)' > '\(path).gz'"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path + ".gz"
    }

    func assertOneLineFailure(_ r: Run, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
    }

    func testMaxMindSourceVerifiesChecksumInstallsAtomicallyAndKeepsPrevious() async throws {
        try requireProximaLocate()
        let tarball = try makeTarball(of: Fixtures.cityV6)
        let tarBytes = try bytes(tarball)
        let digest = try sha256(tarball)
        let server = try await TestHTTPServer.start { uri in
            if uri == "/GeoLite2-City/download?suffix=tar.gz" {
                return TestHTTPServer.Response(body: tarBytes, contentType: "application/gzip")
            }
            if uri == "/GeoLite2-City/download?suffix=tar.gz.sha256" {
                return TestHTTPServer.Response(body: Array("\(digest)  GeoLite2-City_20250101.tar.gz\n".utf8))
            }
            return TestHTTPServer.Response(status: .notFound)
        }
        defer { Task { try? await server.stop() } }
        let dest = work + "/GeoLite2-City.mmdb"
        let env = ["MAXMIND_ACCOUNT_ID": "12345", "MAXMIND_LICENSE_KEY": "license-SECRET"]
        let first = try run(Self.script, ["--source", "maxmind", "--base-url", server.baseURL, "--dest", dest],
                            environment: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("installed"), first.stdout)
        XCTAssertEqual(try bytes(dest), try bytes(Fixtures.cityV6))
        XCTAssertFalse(first.stdout.contains("license-SECRET") || first.stderr.contains("license-SECRET"))
        XCTAssertEqual(try MaxMindDatabase(path: dest).metadata.databaseType, "Proxima-Test-City")

        let again = try run(Self.script, ["--source", "maxmind", "--base-url", server.baseURL, "--dest", dest],
                            environment: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("unchanged"), again.stdout)

        // A different database via --file (.mmdb.gz): the old one becomes .prev.
        let gz = try gzip(work + "/v4copy.mmdb", copying: Fixtures.cityV4)
        let third = try run(Self.script, ["--file", gz, "--dest", dest])
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertEqual(try bytes(dest), try bytes(Fixtures.cityV4))
        XCTAssertEqual(try bytes(dest + ".prev"), try bytes(Fixtures.cityV6))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: work).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "staging files left behind")
    }

    func gzip(_ path: String, copying source: String) throws -> String {
        try FileManager.default.copyItem(atPath: source, toPath: path)
        return try gzip(path)
    }

    func testDBIPSourceAndPidfileSIGHUP() async throws {
        try requireProximaLocate()
        let gz = try gzip(work + "/dbip.mmdb", copying: Fixtures.cityV6)
        let gzBytes = try bytes(gz)
        let server = try await TestHTTPServer.start { uri in
            uri == "/dbip-city-lite-2025-01.mmdb.gz"
                ? TestHTTPServer.Response(body: gzBytes, contentType: "application/gzip")
                : TestHTTPServer.Response(status: .notFound)
        }
        defer { Task { try? await server.stop() } }
        // A stand-in server that exits 42 on SIGHUP and says when it is ready. It installs its
        // handler and unblocks SIGHUP itself: children spawned from test (dispatch) threads
        // inherit a signal mask that blocks it.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        sleeper.arguments = ["-c", "import signal,sys,time; signal.signal(signal.SIGHUP, lambda *a: sys.exit(42)); "
                             + "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP}); "
                             + "print('ready', flush=True); time.sleep(30)"]
        let ready = Pipe()
        sleeper.standardOutput = ready
        try sleeper.run()
        XCTAssertEqual(String(decoding: ready.fileHandleForReading.readData(ofLength: 5), as: UTF8.self), "ready")
        let pidfile = work + "/proxima.pid"
        try Data("\(sleeper.processIdentifier)\n".utf8).write(to: URL(fileURLWithPath: pidfile))
        let dest = work + "/city.mmdb"
        let r = try run(Self.script, ["--source", "dbip", "--month", "2025-01", "--base-url", server.baseURL,
                                      "--dest", dest, "--pidfile", pidfile])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try bytes(dest), try bytes(Fixtures.cityV6))
        sleeper.waitUntilExit()
        XCTAssertEqual(sleeper.terminationReason, .exit)
        XCTAssertEqual(sleeper.terminationStatus, 42, "SIGHUP was not delivered")
    }

    func installedDatabase() throws -> String {
        let dest = work + "/installed.mmdb"
        try FileManager.default.copyItem(atPath: Fixtures.cityV4, toPath: dest)
        return dest
    }

    func testCorruptDownloadLeavesTheInstalledDatabaseUntouched() async throws {
        let junk = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let truncated = Array(try bytes(Fixtures.cityV6).prefix(3000))
        let badGzip: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03]
        let server = try await TestHTTPServer.start { uri in
            switch uri {
            case "/junk.mmdb": return TestHTTPServer.Response(body: junk)
            case "/truncated.mmdb": return TestHTTPServer.Response(body: truncated)
            case "/bad.mmdb.gz": return TestHTTPServer.Response(body: badGzip)
            default: return TestHTTPServer.Response(status: .notFound)
            }
        }
        defer { Task { try? await server.stop() } }
        let dest = try installedDatabase()
        let before = try bytes(dest)
        for (path, reason) in [("/junk.mmdb", "verification"), ("/truncated.mmdb", "verification"),
                               ("/bad.mmdb.gz", "gzip"), ("/missing.mmdb", "404")] {
            let r = try run(Self.script, ["--url", server.baseURL + path, "--dest", dest])
            assertOneLineFailure(r, contains: reason)
            XCTAssertEqual(try bytes(dest), before, path)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dest + ".prev"), path)
        }
    }

    func testWrongChecksumIsRejected() async throws {
        let tarball = try makeTarball(of: Fixtures.cityV6)
        let tarBytes = try bytes(tarball)
        let wrong = String(repeating: "ab", count: 32)
        let server = try await TestHTTPServer.start { uri in
            if uri.hasSuffix("suffix=tar.gz") { return TestHTTPServer.Response(body: tarBytes) }
            if uri.hasSuffix("suffix=tar.gz.sha256") {
                return TestHTTPServer.Response(body: Array("\(wrong)  GeoLite2-City_20250101.tar.gz\n".utf8))
            }
            return TestHTTPServer.Response(status: .notFound)
        }
        defer { Task { try? await server.stop() } }
        let dest = try installedDatabase()
        let before = try bytes(dest)
        // Credentials from a GeoIP.conf this time.
        let conf = work + "/GeoIP.conf"
        try Data("AccountID 12345\nLicenseKey license-SECRET\nEditionIDs GeoLite2-ASN GeoLite2-City\n".utf8)
            .write(to: URL(fileURLWithPath: conf))
        let r = try run(Self.script, ["--source", "maxmind", "--geoip-conf", conf, "--base-url", server.baseURL,
                                      "--dest", dest])
        assertOneLineFailure(r, contains: "SHA-256 mismatch")
        XCTAssertFalse(r.stderr.contains("license-SECRET"))
        XCTAssertEqual(try bytes(dest), before)
        XCTAssertTrue(server.uris.allSatisfy { $0.hasPrefix("/GeoLite2-City/") }, "\(server.uris)")

        // --url with a wrong --sha256 as well.
        let r2 = try run(Self.script, ["--url", server.baseURL + "/x?suffix=tar.gz", "--sha256", wrong, "--dest", dest])
        assertOneLineFailure(r2, contains: "SHA-256 mismatch")
        XCTAssertEqual(try bytes(dest), before)
    }

    func testUnreachableSourceFailsCleanly() async throws {
        let port = try await closedLoopbackPort()
        let dest = try installedDatabase()
        let before = try bytes(dest)
        let r = try run(Self.script, ["--url", "http://127.0.0.1:\(port)/GeoLite2-City.mmdb", "--dest", dest])
        assertOneLineFailure(r, contains: "download of http://127.0.0.1:\(port)/GeoLite2-City.mmdb failed")
        XCTAssertEqual(try bytes(dest), before)
        let r2 = try run(Self.script, ["--source", "maxmind", "--base-url", "http://127.0.0.1:\(port)", "--dest", dest],
                         environment: ["MAXMIND_ACCOUNT_ID": "1", "MAXMIND_LICENSE_KEY": "k"])
        assertOneLineFailure(r2, contains: "failed")
        XCTAssertEqual(try bytes(dest), before)
    }

    func testUsageErrors() throws {
        let cases: [[String]] = [[], ["--dest", work + "/x.mmdb"], ["--source", "nope", "--dest", work + "/x"],
                                 ["--url", "http://127.0.0.1:1/x", "--dest", work + "/x", "--sha256", "zz"]]
        for args in cases {
            let r = try run(Self.script, args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
        }
        let help = try run(Self.script, ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("systemd") && help.stdout.contains("cron"))
    }
}

/// A test prerequisite that is missing: the test fails and says what to install or build (tests
/// never skip silently).
struct MissingPrerequisite: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
