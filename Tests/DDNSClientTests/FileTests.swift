import DDNSClient
import DNSWire
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The file side of the clients on a real temporary directory: atomic replacement keeping mode
/// and owner, no write when nothing changed, token files, interfaces.
final class FileTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-ddns-client-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func statOf(_ path: String) -> stat {
        var s = stat()
        XCTAssertEqual(stat(path, &s), 0, path)
        return s
    }

    func write(_ path: String, _ text: String, mode: mode_t) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(chmod(path, mode), 0)
    }

    func testHostsJobKeepsModeOwnerAndOtherLinesAndWritesNothingTheSecondTime() throws {
        let hosts = dir + "/hosts"
        try write(hosts, "127.0.0.1\tlocalhost\n# keep me\n", mode: 0o640)
        // Another owner and group than ours (we may be root; otherwise fchown to ourselves is a no-op).
        let other: uid_t = geteuid() == 0 ? 65534 : geteuid()
        XCTAssertEqual(chown(hosts, other, other), 0)
        let before = statOf(hosts)

        let job = HostsJob(silo: "s1", hostsFile: hosts, zone: "dyn.example.test")
        let first = try job.apply(["192.0.2.1\ta.s1.dyn.example.test a"])
        XCTAssertEqual(first, .written(lines: 1, method: .renamed))
        let after = statOf(hosts)
        XCTAssertEqual(after.st_mode & 0o7777, 0o640)
        XCTAssertEqual(after.st_uid, other)
        XCTAssertEqual(after.st_gid, other)
        XCTAssertNotEqual(after.st_ino, before.st_ino, "replaced by rename, not rewritten in place")
        XCTAssertEqual(try String(contentsOfFile: hosts, encoding: .utf8),
                       "127.0.0.1\tlocalhost\n# keep me\n# BEGIN proxima s1\n192.0.2.1\ta.s1.dyn.example.test a\n# END proxima s1\n")
        // No temporary file is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["hosts"])

        let second = try job.apply(["192.0.2.1\ta.s1.dyn.example.test a"])
        XCTAssertEqual(second, .unchanged(lines: 1))
        let again = statOf(hosts)
        XCTAssertEqual(again.st_ino, after.st_ino)
        XCTAssertEqual(again.st_mtim.tv_sec, after.st_mtim.tv_sec)
        XCTAssertEqual(again.st_mtim.tv_nsec, after.st_mtim.tv_nsec)
    }

    func testMalformedBlockLeavesTheFileAlone() throws {
        let hosts = dir + "/hosts"
        let text = "127.0.0.1 localhost\n# BEGIN proxima s1\n192.0.2.1\ta\n"
        try write(hosts, text, mode: 0o644)
        let before = statOf(hosts)
        XCTAssertThrowsError(try HostsJob(silo: "s1", hostsFile: hosts, zone: nil).apply(["192.0.2.2\ta"])) { error in
            let e = error as? DDNSClientError
            XCTAssertEqual(e?.code, .refused)
            XCTAssertEqual(e?.exitStatus, 65)
            XCTAssertTrue(e?.message.contains("line 2") == true, "\(String(describing: e))")
        }
        XCTAssertEqual(try String(contentsOfFile: hosts, encoding: .utf8), text)
        XCTAssertEqual(statOf(hosts).st_ino, before.st_ino)
    }

    func testMissingHostsFileIsALocalFileError() {
        XCTAssertThrowsError(try HostsJob(silo: "s1", hostsFile: dir + "/nope", zone: nil).apply(["192.0.2.2\ta"])) { error in
            XCTAssertEqual((error as? DDNSClientError)?.exitStatus, 73)
        }
    }

    func testReplaceFollowsASymlinkToTheRealFile() throws {
        let real = dir + "/real-hosts"
        try write(real, "a\n", mode: 0o644)
        XCTAssertEqual(symlink(real, dir + "/hosts"), 0)
        try AtomicFile.replace(dir + "/hosts", with: Array("b\n".utf8))
        XCTAssertEqual(try String(contentsOfFile: real, encoding: .utf8), "b\n")
        var l = stat()
        XCTAssertEqual(lstat(dir + "/hosts", &l), 0)
        XCTAssertEqual(l.st_mode & 0o170000, 0o120000, "the link stays a link")
    }

    func testNewFilesGetTheGivenModeAndDirectories() throws {
        let path = dir + "/state/sub/ddns-update-s1.json"
        try AtomicFile.replace(path, with: Array("{}".utf8), newFileMode: 0o600, createDirectory: true)
        XCTAssertEqual(statOf(path).st_mode & 0o7777, 0o600)
    }

    func testTokenFile() throws {
        let path = dir + "/t"
        try write(path, "  s3cret-token \nsecond line\n", mode: 0o600)
        XCTAssertEqual(try TokenFile.read(path), "s3cret-token")
        try write(path, "s3cret\n", mode: 0o644)
        XCTAssertThrowsError(try TokenFile.read(path)) { error in
            let e = error as? DDNSClientError
            XCTAssertEqual(e?.exitStatus, 64)
            XCTAssertTrue(e?.message.contains("chmod 600") == true, "\(String(describing: e))")
        }
        try write(path, "\n", mode: 0o600)
        XCTAssertThrowsError(try TokenFile.read(path))
        XCTAssertThrowsError(try TokenFile.read(dir + "/missing"))
        XCTAssertThrowsError(try TokenFile.read(dir))
    }

    func testInterfaceAddresses() throws {
        // The loopback interface exists everywhere: its addresses are local-only.
        let all = try InterfaceAddresses.addresses(of: "lo", includeLocal: true)
        XCTAssertTrue(all.contains(IPAddress("127.0.0.1")!), "\(all)")
        XCTAssertEqual(try InterfaceAddresses.addresses(of: "lo", includeLocal: false), [])
        XCTAssertThrowsError(try InterfaceAddresses.addresses(of: "no-such-if0", includeLocal: false)) { error in
            XCTAssertEqual((error as? DDNSClientError)?.code, .usage)
        }
        XCTAssertTrue(InterfaceAddresses.isLocalOnly(IPAddress("169.254.1.1")!))
        XCTAssertTrue(InterfaceAddresses.isLocalOnly(IPAddress("fe80::1")!))
        XCTAssertTrue(InterfaceAddresses.isLocalOnly(IPAddress("febf::1")!))
        XCTAssertTrue(InterfaceAddresses.isLocalOnly(IPAddress("::1")!))
        XCTAssertFalse(InterfaceAddresses.isLocalOnly(IPAddress("fec0::1")!))
        XCTAssertFalse(InterfaceAddresses.isLocalOnly(IPAddress("192.0.2.1")!))
        XCTAssertFalse(InterfaceAddresses.isLocalOnly(IPAddress("2001:db8::1")!))
    }
}
