import DNSWire
import Foundation
import XCTest
@testable import ProximaApp
#if canImport(Glibc)
import Glibc
#endif

/// Running as a service (issue #11), with the real `proxima serve` binary: the systemd readiness
/// protocol on a real `NOTIFY_SOCKET`, the single-instance lock, dropping root to `user:`, and the
/// log targets (file reopened on SIGUSR1, journald's native protocol on a real datagram socket).
final class ServiceTests: XCTestCase {
    static let zone = """
        $ORIGIN svc.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.10
        """

    static func config(_ extra: String = "") -> String {
        """
        listen:
          - 127.0.0.1:0
        udp_threads: 1
        log_level: info
        zones:
          - origin: svc.test.
            file: svc.zone
        \(extra)
        """
    }

    let lo = IPAddress("127.0.0.1")!

    /// A fresh directory (world-readable, so a server that dropped root can still read it) with
    /// the zone and `proxima.yaml`.
    func makeDirectory(config: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-svc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        try Data(Self.zone.utf8).write(to: dir.appendingPathComponent("svc.zone"))
        try Data(config.utf8).write(to: dir.appendingPathComponent("proxima.yaml"))
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func answers(_ port: UInt16) throws -> [String] {
        try DNSTestClient.udp("www.svc.test.", .a, server: lo, port: port).answerSection.map { $0.rdata.description }
    }

    /// Assignments of one sd_notify datagram.
    static func assignments(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    func checkNotifyExchange(abstract: Bool) throws {
        let dir = try makeDirectory(config: Self.config())
        let notify = try UnixDatagramListener(directory: dir, abstract: abstract)
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path],
                                     environment: ["NOTIFY_SOCKET": notify.address])
        var seen: [String] = []
        let ready = try XCTUnwrap(notify.receive(until: { Self.assignments($0)["READY"] == "1" }, timeout: 20, seen: &seen),
                                  "no READY=1; got \(seen); stderr: \(proc.stderr)")
        XCTAssertTrue(Self.assignments(ready)["STATUS"]?.hasPrefix("serving 1 zone(s)") == true, ready)
        // READY=1 means serving: the DNS port answers now, without waiting.
        let port = try XCTUnwrap(proc.waitForPort(timeout: 5), proc.stderr)
        XCTAssertEqual(try answers(port), ["192.0.2.10"])

        proc.signal(SIGHUP)
        seen = []
        let reloading = try XCTUnwrap(notify.receive(until: { Self.assignments($0)["RELOADING"] == "1" }, timeout: 10, seen: &seen),
                                      "no RELOADING=1; got \(seen)")
        let usec = try XCTUnwrap(Self.assignments(reloading)["MONOTONIC_USEC"].flatMap { UInt64($0) }, reloading)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let nowUsec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec / 1000)
        XCTAssertTrue(usec <= nowUsec && nowUsec - usec < 30_000_000, "MONOTONIC_USEC \(usec) is CLOCK_MONOTONIC (now \(nowUsec))")
        XCTAssertNotNil(notify.receive(until: { Self.assignments($0)["READY"] == "1" }, timeout: 10, seen: &seen),
                        "no READY=1 after the reload; got \(seen)")
        XCTAssertEqual(try answers(port), ["192.0.2.10"])

        proc.signal(SIGTERM)
        XCTAssertNotNil(notify.receive(until: { Self.assignments($0)["STOPPING"] == "1" }, timeout: 10, seen: &seen),
                        "no STOPPING=1; got \(seen)")
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0, proc.stderr)
    }

    func testNotifySocketReadyReloadingStopping() throws {
        try checkNotifyExchange(abstract: false)
    }

    func testNotifySocketInAbstractNamespace() throws {
        try checkNotifyExchange(abstract: true)
    }

    func testSecondServeWithSameConfigIsRefusedNamingThePID() throws {
        let dir = try makeDirectory(config: Self.config())
        let config = dir.appendingPathComponent("proxima.yaml").path
        let first = try ServerProcess(arguments: ["serve", "--config", config])
        let port = try XCTUnwrap(first.waitForPort(), first.stderr)
        let lockPath = config + ".lock"
        let pid = first.process.processIdentifier
        XCTAssertEqual(try String(contentsOfFile: lockPath, encoding: .utf8), "\(pid)\n")

        let (status, _, err) = try ServerProcess.run(["serve", "--config", config], timeout: 20)
        XCTAssertEqual(status, 1, err)
        XCTAssertTrue(err.contains("process \(pid) holds the lock \(lockPath)"), err)
        XCTAssertEqual(try answers(port), ["192.0.2.10"], "the first server is untouched")

        // kill -9 leaves the file behind but not the lock: the next serve starts.
        first.signal(SIGKILL)
        XCTAssertNotNil(first.waitForExit(timeout: 10))
        XCTAssertTrue(FileManager.default.fileExists(atPath: lockPath))
        let second = try ServerProcess(arguments: ["serve", "--config", config])
        let port2 = try XCTUnwrap(second.waitForPort(), "a stale lock blocked the start: \(second.stderr)")
        XCTAssertEqual(try answers(port2), ["192.0.2.10"])
        XCTAssertEqual(try String(contentsOfFile: lockPath, encoding: .utf8), "\(second.process.processIdentifier)\n")

        // lock_file: another config sharing the lock file is refused too.
        let other = try makeDirectory(config: Self.config("lock_file: \(lockPath)"))
        let (status3, _, err3) = try ServerProcess.run(["serve", "--config", other.appendingPathComponent("proxima.yaml").path])
        XCTAssertEqual(status3, 1, err3)
        XCTAssertTrue(err3.contains("process \(second.process.processIdentifier)"), err3)
        second.signal(SIGTERM)
        XCTAssertEqual(second.waitForExit(timeout: 10), 0)
    }

    /// We run as root: `user: nobody` must leave the process with nobody's ids (all four of real,
    /// effective, saved, filesystem), no supplementary groups but its own, and DNS still served.
    func testDropsRootToConfiguredUserAfterBinding() throws {
        try XCTSkipIf(getuid() != 0, "privilege drop needs root")   // CI and this machine run as root
        let nobody = try XCTUnwrap(getpwnam("nobody"), "no 'nobody' user")
        let uid = nobody.pointee.pw_uid, gid = nobody.pointee.pw_gid
        let dir = try makeDirectory(config: Self.config("user: nobody\nlog: {target: file, path: proxima.log}"))
        let logPath = dir.appendingPathComponent("proxima.log").path
        let notify = try UnixDatagramListener(directory: dir)
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path],
                                     environment: ["NOTIFY_SOCKET": notify.address])
        var seen: [String] = []
        XCTAssertNotNil(notify.receive(until: { Self.assignments($0)["READY"] == "1" }, timeout: 20, seen: &seen),
                        "no READY=1: \(seen) \(proc.stderr) \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
        let status = try String(contentsOfFile: "/proc/\(proc.process.processIdentifier)/status", encoding: .utf8)
        let line = { (key: String) in status.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map(String.init) ?? "" }
        XCTAssertEqual(line("Uid"), "Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)")
        XCTAssertEqual(line("Gid"), "Gid:\t\(gid)\t\(gid)\t\(gid)\t\(gid)")
        XCTAssertEqual(line("Groups").trimmingCharacters(in: .whitespaces), "Groups:\t\(gid)")
        XCTAssertEqual(line("CapEff"), "CapEff:\t0000000000000000", "no capabilities left")
        // Every thread switched (glibc applies setuid to all), the main thread included.
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(proc.process.processIdentifier)/task")
        XCTAssertGreaterThan(tasks.count, 2)
        for t in tasks {
            let ts = (try? String(contentsOfFile: "/proc/\(proc.process.processIdentifier)/task/\(t)/status", encoding: .utf8)) ?? ""
            XCTAssertTrue(ts.contains("Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\n"), "thread \(t): \(ts)")
        }
        // The log file was handed over before the switch and is still written.
        var st = stat()
        XCTAssertEqual(stat(logPath, &st), 0)
        XCTAssertEqual(st.st_uid, uid)
        var log = ""
        XCTAssertTrue(LiveServer.eventually(timeout: 10) {
            log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return log.contains("running as nobody") && Self.port(inLog: log) != nil
        }, log)
        let port = try XCTUnwrap(Self.port(inLog: log), log)
        XCTAssertEqual(try answers(port), ["192.0.2.10"])
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0, proc.stderr)
    }

    func testUnknownUserIsAStartupErrorWithLine() throws {
        let dir = try makeDirectory(config: Self.config("user: no-such-user-xyz"))
        try XCTSkipIf(getuid() != 0, "users are looked up only when started as root")
        let (status, _, err) = try ServerProcess.run(["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        XCTAssertEqual(status, 2, err)
        XCTAssertTrue(err.contains("proxima.yaml:8: user: no such user 'no-such-user-xyz'"), err)
        // proxima check reports it too, as root or not.
        let (checkStatus, out, _) = try ServerProcess.run(["check", "--config", dir.appendingPathComponent("proxima.yaml").path])
        XCTAssertEqual(checkStatus, 1, out)
        XCTAssertTrue(out.contains("proxima.yaml:8: user: no such user 'no-such-user-xyz'"), out)
    }

    static func port(inLog text: String) -> UInt16? {
        guard let r = text.range(of: #"listen[=":]+127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return nil }
        return UInt16(text[r].split(separator: ":").last!)
    }

    /// `log: {target: file, format: json}`: one JSON object per line; after logrotate's rename,
    /// SIGUSR1 makes the server write to a new file at the configured path.
    func testLogFileJSONReopenedOnSIGUSR1() throws {
        let dir = try makeDirectory(config: Self.config("log: {target: file, path: logs/proxima.log, format: json}"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let logPath = dir.appendingPathComponent("logs/proxima.log").path
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        func lines(_ path: String) -> [[String: Any]] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        XCTAssertTrue(LiveServer.eventually(timeout: 20) { lines(logPath).contains { $0["message"] as? String == "serving DNS" } },
                      "log: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "none"); stderr: \(proc.stderr)")
        let serving = try XCTUnwrap(lines(logPath).first { $0["message"] as? String == "serving DNS" })
        XCTAssertEqual(serving["level"] as? String, "notice")
        XCTAssertEqual(serving["label"] as? String, "proxima")
        XCTAssertNotNil(serving["time"] as? String)
        let listen = try XCTUnwrap((serving["metadata"] as? [String: Any])?["listen"] as? String)
        let port = try XCTUnwrap(UInt16(listen.split(separator: ":").last ?? ""))
        XCTAssertEqual(try answers(port), ["192.0.2.10"])
        XCTAssertEqual(proc.stderr, "", "with a log file nothing goes to stderr")

        XCTAssertEqual(rename(logPath, logPath + ".1"), 0)
        proc.signal(SIGUSR1)
        XCTAssertTrue(LiveServer.eventually(timeout: 10) {
            lines(logPath).contains { ($0["message"] as? String)?.hasPrefix("SIGUSR1: reopened log file") == true }
        }, "no new log file after SIGUSR1: \(proc.stderr)")
        XCTAssertFalse(lines(logPath + ".1").contains { ($0["message"] as? String)?.hasPrefix("SIGUSR1") == true },
                       "the rotated file is no longer written")
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0)
        XCTAssertTrue(lines(logPath).contains { $0["message"] as? String == "proxima stopped" })
    }

    /// Fields of a journald native-protocol datagram (both the `KEY=value` and the binary form).
    static func journalFields(_ d: [UInt8]) -> [String: String]? {
        var out: [String: String] = [:]
        var i = 0
        while i < d.count {
            guard let end = d[i...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") }) else { return nil }
            let name = String(decoding: d[i..<end], as: UTF8.self)
            if d[end] == UInt8(ascii: "=") {
                guard let nl = d[end...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
                out[name] = String(decoding: d[(end + 1)..<nl], as: UTF8.self)
                i = nl + 1
            } else {
                guard end + 9 <= d.count else { return nil }
                var n: UInt64 = 0
                for k in 0..<8 { n |= UInt64(d[end + 1 + k]) << (8 * UInt64(k)) }
                let start = end + 9
                guard let len = Int(exactly: n), start + len < d.count, d[start + len] == UInt8(ascii: "\n") else { return nil }
                out[name] = String(decoding: d[start..<(start + len)], as: UTF8.self)
                i = start + len + 1
            }
        }
        return out
    }

    func testJournaldNativeProtocol() throws {
        let dir = try makeDirectory(config: "")
        let journal = try UnixDatagramListener(directory: dir)
        try Data(Self.config("log: {target: journald, journal_socket: \(journal.address)}").utf8)
            .write(to: dir.appendingPathComponent("proxima.yaml"))
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        var entries: [[String: String]] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !entries.contains(where: { $0["MESSAGE"] == "serving DNS" }) {
            guard let d = journal.receive(timeout: deadline.timeIntervalSinceNow) else { break }
            entries.append(try XCTUnwrap(Self.journalFields(d), "not the native protocol: \(d)"))
        }
        let serving = try XCTUnwrap(entries.first { $0["MESSAGE"] == "serving DNS" }, "\(entries) \(proc.stderr)")
        XCTAssertEqual(serving["PRIORITY"], "5", "notice is syslog priority 5")
        XCTAssertEqual(serving["SYSLOG_IDENTIFIER"], "proxima")
        XCTAssertEqual(serving["PROXIMA_LOGGER"], "proxima")
        let listen = try XCTUnwrap(serving["PROXIMA_LISTEN"])
        let port = try XCTUnwrap(UInt16(listen.split(separator: ":").last ?? ""))
        XCTAssertEqual(try answers(port), ["192.0.2.10"])

        // A message with a newline takes the binary form; an error is priority 3. A broken zone
        // on reload logs both.
        try Data((Self.zone + "\nbad A 192.0.2.300\n").utf8).write(to: dir.appendingPathComponent("svc.zone"))
        proc.signal(SIGHUP)
        var refused: [String: String]?
        let until = Date().addingTimeInterval(10)
        while Date() < until, refused == nil, let d = journal.receive(timeout: until.timeIntervalSinceNow) {
            if let f = Self.journalFields(d), f["MESSAGE"]?.contains("refused") == true { refused = f }
        }
        XCTAssertEqual(try XCTUnwrap(refused, "no refusal entry")["PRIORITY"], "3")
        proc.signal(SIGTERM)
        XCTAssertEqual(proc.waitForExit(timeout: 10), 0)
        XCTAssertEqual(proc.stderr, "", "journald entries are not duplicated to stderr")
    }

    /// `$NOTIFY_SOCKET` forms (sd_notify(3)): a path (NUL-terminated in `sun_path`), `@name`
    /// (abstract: a leading NUL, no terminator); empty, NUL-containing or too long: no socket.
    func testNotifySocketAddressForms() {
        XCTAssertEqual(UnixDatagramAddress("/run/systemd/notify")?.path, Array("/run/systemd/notify".utf8) + [0])
        XCTAssertEqual(UnixDatagramAddress("@/org/freedesktop/systemd1/notify/1")?.path,
                       [0] + Array("/org/freedesktop/systemd1/notify/1".utf8))
        XCTAssertNil(UnixDatagramAddress(""))
        XCTAssertNil(UnixDatagramAddress("/a\u{0}b"))
        XCTAssertNotNil(UnixDatagramAddress("/" + String(repeating: "a", count: 106)), "107 bytes + NUL fit sun_path")
        XCTAssertNil(UnixDatagramAddress("/" + String(repeating: "a", count: 107)))
        XCTAssertFalse(ServiceNotifier(environment: [:]).isEnabled)
        XCTAssertEqual(ServiceNotifier(environment: [:]).ready(status: "x"), 0, "no socket: nothing to send")
    }

    /// The encoder's binary form (what the live test cannot force): a value with a newline is
    /// `NAME\n`, its length as 64-bit little-endian, the bytes, `\n`.
    func testJournalEntryBinaryFormForMultilineValues() throws {
        let entry = LogSink.journalEntry(level: .warning, label: "proxima.x", message: "two\nlines",
                                         metadata: ["zone-file": "a.zone"], identifier: "proxima")
        XCTAssertEqual(Array(entry.prefix(8)), Array("MESSAGE\n".utf8))
        XCTAssertEqual(Array(entry[8..<16]), [9, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Self.journalFields(entry), [
            "MESSAGE": "two\nlines", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "proxima", "PROXIMA_LOGGER": "proxima.x",
            "PROXIMA_ZONE_FILE": "a.zone",
        ])
    }
}
