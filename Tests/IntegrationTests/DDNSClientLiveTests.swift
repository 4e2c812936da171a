import AsyncHTTPClient
import DNSWire
import Foundation
import NIOCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The DDNS clients as the built `proxima` binary, against a real `proxima serve` with a `ddns:`
/// section and an SQLite store in a temp dir, over real HTTP and DNS on loopback.
final class DDNSClientLiveTests: XCTestCase {
    static let zone = """
        $ORIGIN example.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        """

    static func config(dnsPort: UInt16, apiPort: UInt16) -> String {
        """
        listen: [127.0.0.1:\(dnsPort)]
        log_level: info
        zones:
          - origin: example.test.
            file: example.zone
        ddns:
          zone: dyn.example.test.
          nameservers: [ns1.example.test.]
          listen: 127.0.0.1:\(apiPort)
          store: sqlite:ddns.sqlite3
          admin_token_file: admin.token
        """
    }

    /// A loopback port nobody listens on now (bound to port 0, then closed): the kernel's
    /// ephemeral range, never a fixed port.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DNSTestClient.Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else { throw DNSTestClient.Failure(description: "bind: \(errno)") }
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw DNSTestClient.Failure(description: "getsockname: \(errno)") }
        return UInt16(bigEndian: addr.sin_port)
    }

    static func tempDir(_ tag: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-\(tag)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func writeSecret(_ url: URL, _ text: String) throws {
        try Data(text.utf8).write(to: url)
        XCTAssertEqual(chmod(url.path, 0o600), 0)
    }

    /// `GET url` with a bounded wait; nil when nothing answered.
    static func get(_ url: String) async -> (Int, String)? {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
            let body = try await response.body.collect(upTo: 1 << 20)
            try? await client.shutdown()
            return (Int(response.status.code), String(buffer: body))
        } catch {
            try? await client.shutdown()
            return nil
        }
    }

    static func addresses(_ m: Message) -> [String] {
        m.answerSection.compactMap {
            switch $0.rdata {
            case .a(let a), .aaaa(let a): return a.description
            default: return nil
            }
        }.sorted()
    }

    static func serial(_ m: Message) -> UInt32? {
        for rr in m.answerSection {
            if case .soa(let soa) = rr.rdata { return soa.serial }
        }
        return nil
    }

    func testUpdateAndHostsClientsAgainstALiveServer() async throws {
        let dir = try Self.tempDir("ddns-clients")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dnsPort = try Self.freePort(), apiPort = try Self.freePort()
        try Data(Self.zone.utf8).write(to: dir.appendingPathComponent("example.zone"))
        try Self.writeSecret(dir.appendingPathComponent("admin.token"), "admin-\(UUID().uuidString)\n")
        try Data(Self.config(dnsPort: dnsPort, apiPort: apiPort).utf8).write(to: dir.appendingPathComponent("proxima.yaml"))
        let proc = try ServerProcess(arguments: ["serve", "--config", dir.appendingPathComponent("proxima.yaml").path])
        defer { proc.signal(SIGTERM); _ = proc.waitForExit(timeout: 10) }
        let server = "http://127.0.0.1:\(apiPort)"
        let lo = IPAddress("127.0.0.1")!

        // Up when /ping answers PONG (bounded wait).
        var pong = false
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, proc.process.isRunning {
            if let (status, body) = await Self.get(server + "/ping"), status == 200, body.contains("PONG") { pong = true; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertTrue(pong, "the DDNS API did not come up: \(proc.stderr)")
        guard pong else { return }

        let admin = ["--server", server, "--admin-token-file", dir.appendingPathComponent("admin.token").path]
        // The admin creates a silo holding one record, and its token.
        var (status, out, err) = try ServerProcess.run(["ddns", "silo", "create", "home", "--record", "db=192.0.2.10,120"] + admin)
        XCTAssertEqual(status, 0, err)
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "create", "home"] + admin)
        XCTAssertEqual(status, 65, "an existing silo is not replaced without --replace: \(out) \(err)")
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "token", "home"] + admin)
        XCTAssertEqual(status, 0, err)
        let token = out.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(token.isEmpty)
        let tokenFile = dir.appendingPathComponent("home.token")
        try Self.writeSecret(tokenFile, token + "\n")
        let stateFile = dir.appendingPathComponent("state/update-home.json").path
        let update = ["ddns", "update", "--server", server, "--silo", "home", "--token-file", tokenFile.path,
                      "--hostname", "gw", "--once", "--state-file", stateFile]

        // First run: GET /ip says 127.0.0.1; the silo is PUT and DNS answers it.
        (status, out, err) = try ServerProcess.run(update)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("updated to 127.0.0.1"), out)
        XCTAssertTrue(try LiveServer.eventually(timeout: 5) {
            Self.addresses(try DNSTestClient.udp("gw.home.dyn.example.test.", .a, server: lo, port: dnsPort)) == ["127.0.0.1"]
        }, proc.stderr)
        // The silo's other record is kept, with its TTL.
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "show", "home", "--json"] + admin)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("192.0.2.10") && out.contains("120") && out.contains("127.0.0.1"), out)
        let serial = try XCTUnwrap(Self.serial(try DNSTestClient.udp("dyn.example.test.", .soa, server: lo, port: dnsPort)))
        let state = try String(contentsOfFile: stateFile, encoding: .utf8)

        // Second run, same address: nothing printed, no PUT (the zone's serial, which rises with
        // every committed change, stays), the state file untouched.
        (status, out, err) = try ServerProcess.run(update)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "")
        XCTAssertEqual(try String(contentsOfFile: stateFile, encoding: .utf8), state)
        // Without the state file the client reads the silo, finds the address there and still sends no PUT.
        try FileManager.default.removeItem(atPath: stateFile)
        (status, out, err) = try ServerProcess.run(update)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("already at 127.0.0.1"), out)
        XCTAssertEqual(Self.serial(try DNSTestClient.udp("dyn.example.test.", .soa, server: lo, port: dnsPort)), serial,
                       "no change was committed by the runs that had nothing to do")

        // Both families from an interface: lo's 127.0.0.1 and ::1 (asked for with --include-local).
        (status, out, err) = try ServerProcess.run(["ddns", "update", "--server", server, "--silo", "home", "--token-file",
                                                    tokenFile.path, "--hostname", "lo", "--ip-from", "interface:lo",
                                                    "--include-local", "--once", "--state-file", stateFile + ".lo"])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(try LiveServer.eventually(timeout: 5) {
            Self.addresses(try DNSTestClient.udp("lo.home.dyn.example.test.", .aaaa, server: lo, port: dnsPort)) == ["::1"]
        }, proc.stderr)

        // A wrong token: 77, and not retried.
        let badToken = dir.appendingPathComponent("bad.token")
        try Self.writeSecret(badToken, "not-the-token\n")
        (status, out, err) = try ServerProcess.run(["ddns", "update", "--server", server, "--silo", "home", "--token-file", badToken.path,
                                                    "--hostname", "gw", "--once", "--force", "--state-file", stateFile + ".bad"])
        XCTAssertEqual(status, 77, err)
        XCTAssertFalse(err.contains("retrying"), err)

        // The hosts client: the block is appended, every other line, the mode and the owner kept.
        let hosts = dir.appendingPathComponent("hosts").path
        let original = "127.0.0.1\tlocalhost\n# a comment the client must keep\n10.1.2.3\tprinter\n"
        try Data(original.utf8).write(to: URL(fileURLWithPath: hosts))
        XCTAssertEqual(chmod(hosts, 0o640), 0)
        XCTAssertEqual(chown(hosts, 65534, 65534), 0)
        let hostsArgs = ["ddns", "hosts", "--server", server, "--silo", "home", "--token-file", tokenFile.path,
                         "--hosts-file", hosts, "--zone", "dyn.example.test", "--once"]
        (status, out, err) = try ServerProcess.run(hostsArgs)
        XCTAssertEqual(status, 0, err)
        let written = try String(contentsOfFile: hosts, encoding: .utf8)
        XCTAssertTrue(written.hasPrefix(original), written)
        XCTAssertTrue(written.contains("# BEGIN proxima home\n"), written)
        XCTAssertTrue(written.contains("192.0.2.10\tdb.home.dyn.example.test db\n"), written)
        XCTAssertTrue(written.contains("127.0.0.1\tgw.home.dyn.example.test gw\n"), written)
        XCTAssertTrue(written.contains("::1\tlo.home.dyn.example.test lo\n"), written)
        XCTAssertTrue(written.hasSuffix("# END proxima home\n"), written)
        var first = stat()
        XCTAssertEqual(stat(hosts, &first), 0)
        XCTAssertEqual(first.st_mode & 0o7777, 0o640)
        XCTAssertEqual(first.st_uid, 65534)
        XCTAssertEqual(first.st_gid, 65534)

        // Second run: nothing changed, nothing written (same inode and mtime), nothing printed.
        (status, out, err) = try ServerProcess.run(hostsArgs)
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out, "")
        var second = stat()
        XCTAssertEqual(stat(hosts, &second), 0)
        XCTAssertEqual(second.st_ino, first.st_ino)
        XCTAssertEqual(second.st_mtim.tv_sec, first.st_mtim.tv_sec)
        XCTAssertEqual(second.st_mtim.tv_nsec, first.st_mtim.tv_nsec)

        // A record changes on the server: the next run rewrites the block only.
        (status, out, err) = try ServerProcess.run(["ddns", "update", "--server", server, "--silo", "home", "--token-file",
                                                    tokenFile.path, "--hostname", "db", "--ip-from", "interface:lo",
                                                    "--include-local", "--once", "--state-file", stateFile + ".db"])
        XCTAssertEqual(status, 0, err)
        (status, out, err) = try ServerProcess.run(hostsArgs)
        XCTAssertEqual(status, 0, err)
        let rewritten = try String(contentsOfFile: hosts, encoding: .utf8)
        XCTAssertTrue(rewritten.hasPrefix(original), rewritten)
        XCTAssertTrue(rewritten.contains("127.0.0.1\tdb.home.dyn.example.test db\n"), rewritten)
        XCTAssertFalse(rewritten.contains("192.0.2.10"), rewritten)

        // Looping (--interval): a change on the server reaches the file by itself.
        let looping = try ServerProcess(arguments: Array(hostsArgs.dropLast()) + ["--interval", "1s"])
        (status, out, err) = try ServerProcess.run(["ddns", "update", "--server", server, "--silo", "home", "--token-file",
                                                    tokenFile.path, "--hostname", "late", "--once", "--state-file", stateFile + ".late"])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(try LiveServer.eventually(timeout: 15) {
            try String(contentsOfFile: hosts, encoding: .utf8).contains("127.0.0.1\tlate.home.dyn.example.test late\n")
        }, looping.stderr)
        XCTAssertTrue(looping.process.isRunning, looping.stderr)
        looping.signal(SIGTERM)
        XCTAssertNotNil(looping.waitForExit(timeout: 10))

        // A BEGIN without END: refused (65), the file left exactly as it was.
        let broken = original + "# BEGIN proxima home\n192.0.2.99\tx\n"
        try Data(broken.utf8).write(to: URL(fileURLWithPath: hosts))
        (status, out, err) = try ServerProcess.run(hostsArgs)
        XCTAssertEqual(status, 65, err)
        XCTAssertTrue(err.contains("line 4"), err)
        XCTAssertEqual(try String(contentsOfFile: hosts, encoding: .utf8), broken)

        // The admin lists and deletes.
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "list"] + admin)
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("home\tgw\tA\t127.0.0.1"), out)
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "delete", "home"] + admin)
        XCTAssertEqual(status, 0, err)
        (status, out, err) = try ServerProcess.run(["ddns", "silo", "show", "home"] + admin)
        XCTAssertEqual(status, 65, err)
    }
}

/// The clients' checks that need no server: bad options exit 64 before any request, an
/// unreachable server exits 69 after the retries.
final class DDNSClientCLITests: XCTestCase {
    func testBadInputAndUnreachableServer() async throws {
        let dir = try DDNSClientLiveTests.tempDir("ddns-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let token = dir.appendingPathComponent("t.token")
        try DDNSClientLiveTests.writeSecret(token, "tok\n")
        let closed = try DDNSClientLiveTests.freePort()
        let base = ["ddns", "update", "--server", "http://127.0.0.1:\(closed)", "--silo", "s1", "--token-file", token.path,
                    "--hostname", "gw", "--state-file", dir.appendingPathComponent("state.json").path]

        var (status, _, err) = try ServerProcess.run(["ddns", "update", "--silo", "s1", "--token-file", token.path, "--once"])
        XCTAssertEqual(status, 64, err)
        XCTAssertTrue(err.contains("--server is required"), err)
        (status, _, err) = try ServerProcess.run(base + ["--once", "--interval", "5m"])
        XCTAssertEqual(status, 64, err)
        (status, _, err) = try ServerProcess.run(base + ["--once", "--ip-from", "eth0"])
        XCTAssertEqual(status, 64, err)
        (status, _, err) = try ServerProcess.run(base + ["--once", "--hostname", "a b"])
        XCTAssertEqual(status, 64, err)
        (status, _, err) = try ServerProcess.run(base + ["--once", "--ip-from", "interface:no-such-if0"])
        XCTAssertEqual(status, 64, err)
        XCTAssertTrue(err.contains("no-such-if0"), err)

        // A token file anyone can read is refused before anything is sent.
        XCTAssertEqual(chmod(token.path, 0o644), 0)
        (status, _, err) = try ServerProcess.run(base + ["--once"])
        XCTAssertEqual(status, 64, err)
        XCTAssertTrue(err.contains("chmod 600"), err)
        XCTAssertEqual(chmod(token.path, 0o600), 0)

        // A config file with a mistake: file:line: key.
        let config = dir.appendingPathComponent("client.yaml")
        try Data("server: http://127.0.0.1:1\nsilo: s1\ninterval: forever\n".utf8).write(to: config)
        (status, _, err) = try ServerProcess.run(["ddns", "update", "--config", config.path])
        XCTAssertEqual(status, 64, err)
        XCTAssertTrue(err.contains("client.yaml:3: interval:"), err)

        // Nobody listens: two attempts (one retry after about a second), then 69.
        let started = Date()
        (status, _, err) = try ServerProcess.run(base + ["--once", "--attempts", "2"])
        XCTAssertEqual(status, 69, err)
        XCTAssertTrue(err.contains("retrying in"), err)
        XCTAssertTrue(err.contains("after 2 attempts"), err)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)

        // A server that answers 503: exactly --attempts requests, then 69. One that answers 401:
        // one request, no retry, 77.
        let busy = TestHTTPBackend(host: "127.0.0.1")
        try await busy.start()
        busy.status = 503
        busy.body = #"{"error":"store unavailable"}"#
        let busyBase = ["ddns", "update", "--server", "http://127.0.0.1:\(busy.port)", "--silo", "s1", "--token-file", token.path,
                        "--hostname", "gw", "--state-file", dir.appendingPathComponent("state.json").path, "--once"]
        (status, _, err) = try ServerProcess.run(busyBase + ["--attempts", "3"])
        XCTAssertEqual(status, 69, err)
        XCTAssertTrue(err.contains("HTTP 503: store unavailable"), err)
        XCTAssertEqual(busy.requests, 3)
        busy.status = 401
        (status, _, err) = try ServerProcess.run(busyBase + ["--attempts", "3"])
        XCTAssertEqual(status, 77, err)
        XCTAssertEqual(busy.requests, 4)
        // A redirect is not followed (it could carry the token elsewhere): refused, 65.
        busy.status = 302
        (status, _, err) = try ServerProcess.run(busyBase)
        XCTAssertEqual(status, 65, err)
        XCTAssertEqual(busy.requests, 5)
        await busy.stop()

        // The admin commands want a token from a file or the environment, never the command line.
        (status, _, err) = try ServerProcess.run(["ddns", "silo", "list", "--server", "http://127.0.0.1:\(closed)",
                                                  "--admin-token-env", "PROXIMA_TEST_UNSET_DDNS_TOKEN"])
        XCTAssertEqual(status, 64, err)
        (status, _, err) = try ServerProcess.run(["ddns", "silo", "create", "s1", "--record", "gw=300.1.1.1",
                                                  "--server", "http://127.0.0.1:\(closed)"])
        XCTAssertEqual(status, 64, err)
    }
}
