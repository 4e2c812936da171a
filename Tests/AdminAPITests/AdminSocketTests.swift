#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import AdminAPI

/// The Unix-domain admin socket: mode 0600, full access without a token, never clobbers a file,
/// replaces a stale socket, refuses to steal a live one, removed on shutdown.
final class AdminSocketTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = "/tmp/pxa-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func configuration(_ path: String) -> AdminServerConfiguration {
        AdminServerConfiguration(host: "127.0.0.1", port: 0, token: nil, socketPath: path)
    }

    static func request(_ method: String, _ path: String, json: String? = nil, headers: [String] = []) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for h in headers { text += h + "\r\n" }
        if let json { text += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n" }
        return text + "\r\n" + (json ?? "")
    }

    func testSocketIsPrivateAndAllowsAdministrationWithoutToken() async throws {
        let path = directory + "/admin.sock"
        let h = try await AdminHarness.start(configuration(path))
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "socket mode")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["admin.sock"], "no staging left")

        let socket = try RawSocket(unixPath: path)
        socket.send(Self.request("POST", "/backends/192.0.2.10/force", json: #"{"state":"down"}"#))
        let reply = socket.readResponse()
        XCTAssertEqual(RawSocket.status(of: reply), 200, reply)
        XCTAssertEqual(h.store.status(of: AdminHarness.nyc).forced, .down)
        socket.send(Self.request("GET", "/state"))
        XCTAssertEqual(RawSocket.status(of: socket.readResponse()), 200)
        // The same call over TCP without a token is refused.
        let tcp = try await h.call(.POST, "/backends/192.0.2.10/force", body: #"{"state":"up"}"#,
                                   headers: [("Content-Type", "application/json")])
        XCTAssertEqual(tcp.status, 403, tcp.body)
        XCTAssertEqual(h.store.status(of: AdminHarness.nyc).forced, .down)
        // A web page cannot reach a Unix socket, but an Origin is refused there too.
        socket.send(Self.request("GET", "/state", headers: ["Origin: http://evil.example"]))
        XCTAssertEqual(RawSocket.status(of: socket.readResponse()), 403)

        await h.stop()
        XCTAssertNotEqual(lstat(path, &info), 0, "socket removed on shutdown")
    }

    func testARegularFileAtTheSocketPathIsNeverReplaced() async throws {
        let path = directory + "/admin.sock"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
        do {
            let h = try await AdminHarness.start(configuration(path))
            await h.stop()
            XCTFail("started over a regular file")
        } catch {
            XCTAssertTrue("\(error)".contains("not a socket"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "precious")
    }

    func testStaleSocketIsReplacedAndLiveOneIsNot() async throws {
        let path = directory + "/admin.sock"
        // A stale socket: bound, then its process "crashed" (closed without unlinking).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in Array(path.utf8).enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        close(fd)

        let first = try await AdminHarness.start(configuration(path))
        let socket = try RawSocket(unixPath: path)
        socket.send(Self.request("GET", "/health"))
        XCTAssertEqual(RawSocket.status(of: socket.readResponse()), 200)

        do {
            let second = try await AdminHarness.start(configuration(path))
            await second.stop()
            XCTFail("a second server took over a live socket")
        } catch {
            XCTAssertTrue("\(error)".contains("in use"), "\(error)")
        }
        socket.send(Self.request("GET", "/health"))
        XCTAssertEqual(RawSocket.status(of: socket.readResponse()), 200, "the first server still owns its socket")
        await first.stop()
    }
}
