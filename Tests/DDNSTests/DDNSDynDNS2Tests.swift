#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DDNS
import DNSWire
import Foundation
import NIOHTTP1
import XCTest

/// `GET /nic/update`, the dyndns2 protocol, as ddclient and routers speak it.
final class DDNSDynDNS2Tests: XCTestCase {
    /// ddclient 3.10.0's exchange, byte for byte. Its `nic_dyndns2_update` builds the URL
    /// `http://<server><script>?system=dyndns&hostname=<hosts joined by ','>&myip=<ip>` (script
    /// `/nic/update`), and `geturl` writes the request by hand:
    ///
    ///     GET /nic/update?system=dyndns&hostname=host.silo.zone&myip=1.2.3.4 HTTP/1.1
    ///     Host: <server>
    ///     Authorization: Basic base64(login:password)
    ///     User-Agent: ddclient/3.10.0
    ///     Connection: close
    ///
    /// with CRLF line ends. It then wants a 2xx status line (`header_ok`), skips the headers up
    /// to the empty line and reads one result line per host: `good <ip>`, `nochg <ip>`, or an
    /// error code it knows (badauth, notfqdn, nohost, abuse, ...).
    func testDdclientExchange() async throws {
        let h = try await DDNSHarness.start()
        let token = try await h.createSilo("silo1", #"[{"hostname": "host", "ip": "192.0.2.1"}, {"hostname": "other", "ip": "192.0.2.50"}]"#)
        let auth = Data("silo1:\(token)".utf8).base64EncodedString()
        func ddclient() throws -> (status: Int?, body: String) {
            let request = "GET /nic/update?system=dyndns&hostname=host.silo1.dyn.example.test&myip=1.2.3.4 HTTP/1.1\r\n"
                + "Host: 127.0.0.1:\(h.port)\r\n"
                + "Authorization: Basic \(auth)\r\n"
                + "User-Agent: ddclient/3.10.0\r\n"
                + "Connection: close\r\n"
                + "\r\n"
            return try exchange(port: h.port, request)
        }
        let first = try ddclient()
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.body, "good 1.2.3.4")
        XCTAssertEqual(h.publisher.changes.last, .upsert(Silo(id: "silo1", records: [
            DDNSRecord(hostname: "host", address: IPAddress("1.2.3.4")!),
            DDNSRecord(hostname: "other", address: IPAddress("192.0.2.50")!)])))
        let second = try ddclient()
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual(second.body, "nochg 1.2.3.4")
        await h.stop()
    }

    /// A web page cannot change a record through a browser that holds the silo's credentials:
    /// requests a browser marks as made by a page (`Sec-Fetch-Site` other than `none`, or any
    /// `Origin`) are refused before authentication, and nothing is written.
    func testRequestsFromWebPagesAreRefused() async throws {
        let h = try await DDNSHarness.start()
        let token = try await h.createSilo("s1", #"[{"hostname": "gw", "ip": "192.0.2.1"}]"#)
        let basic = "Basic " + Data("s1:\(token)".utf8).base64EncodedString()
        let published = h.publisher.changes.count
        for marker in [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Site", "same-origin"),
                       ("Origin", "https://evil.example"), ("Origin", "null")] {
            let r = try await h.call(.GET, "/nic/update?hostname=gw.s1.dyn.example.test&myip=203.0.113.66",
                                     headers: [("Authorization", basic), marker])
            XCTAssertEqual(r.status, 403, "\(marker)")
            XCTAssertEqual(r.body, "badagent", "\(marker)")
            let put = try await h.call(.PUT, "/silos/s1", body: #"{"dnsrecords": [{"hostname": "gw", "ip": "203.0.113.66"}]}"#,
                                       token: token, headers: [marker])
            XCTAssertEqual(put.status, 403, "\(marker)")
            XCTAssertTrue(put.body.contains("web pages"), put.body)
        }
        XCTAssertEqual(h.publisher.changes.count, published, "nothing was written")
        let silo = try await h.call(.GET, "/silos/s1", token: token)
        XCTAssertTrue(silo.body.contains("192.0.2.1") && !silo.body.contains("203.0.113.66"), silo.body)
        // A URL the operator typed into the address bar (`Sec-Fetch-Site: none`) still works.
        let typed = try await h.call(.GET, "/nic/update?hostname=gw.s1.dyn.example.test&myip=203.0.113.66",
                                     headers: [("Authorization", basic), ("Sec-Fetch-Site", "none")])
        XCTAssertEqual(typed.status, 200)
        XCTAssertEqual(typed.body, "good 203.0.113.66")
        await h.stop()
    }

    func testReplies() async throws {
        let h = try await DDNSHarness.start { $0.trustedProxies = [IPNetwork("127.0.0.0/8")!] }
        let token = try await h.createSilo("s1", #"[{"hostname": "gw", "ip": "192.0.2.1", "ttl": 30}, {"hostname": "www.example.test.", "ip": "192.0.2.7"}]"#)
        try await h.createSilo("s2", #"[{"hostname": "gw", "ip": "192.0.2.2"}]"#)
        func update(_ query: String, user: String = "s1", password: String? = nil, headers: [(String, String)] = []) async throws -> DDNSHarness.Reply {
            let basic = Data("\(user):\(password ?? token)".utf8).base64EncodedString()
            return try await h.call(.GET, "/nic/update?\(query)", headers: [("Authorization", "Basic \(basic)")] + headers)
        }
        var r = try await update("hostname=gw.s1.dyn.example.test&myip=2001:db8::9")
        XCTAssertEqual(r.body, "good 2001:db8::9")
        XCTAssertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        // The AAAA was added beside the A, with the host's TTL; the other record is kept.
        let silo = try await h.call(.GET, "/silos/s1", token: DDNSHarness.admin)
        let records = (silo.json["dnsrecords"] as? [[String: Any]] ?? []).map { "\($0["hostname"]!) \($0["ip"]!) \($0["ttl"] ?? "-")" }
        XCTAssertEqual(records, ["gw 192.0.2.1 30", "gw 2001:db8::9 30", "www.example.test. 192.0.2.7 -"])

        r = try await update("hostname=GW.S1.dyn.example.test.&myip=192.0.2.1")
        XCTAssertEqual(r.body, "nochg 192.0.2.1")
        r = try await update("hostname=www.example.test&myip=192.0.2.8")
        XCTAssertEqual(r.body, "good 192.0.2.8")
        r = try await update("hostname=gw.s2.dyn.example.test&myip=192.0.2.3")
        XCTAssertEqual(r.body, "nohost", "another silo's name")
        r = try await update("hostname=nosuch.s1.dyn.example.test&myip=192.0.2.3")
        XCTAssertEqual(r.body, "nohost", "no such record")
        r = try await update("hostname=gw&myip=192.0.2.3")
        XCTAssertEqual(r.body, "notfqdn")
        r = try await update("myip=192.0.2.3")
        XCTAssertEqual(r.body, "notfqdn")
        r = try await update("hostname=gw.s1.dyn.example.test,nosuch.s1.dyn.example.test&myip=192.0.2.4")
        XCTAssertEqual(r.body, "good 192.0.2.4\nnohost")
        r = try await update("hostname=gw.s1.dyn.example.test&myip=300.1.1.1")
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.body, "badip")
        // No myip: the caller's address, through the trusted proxy.
        r = try await update("hostname=gw.s1.dyn.example.test", headers: [("X-Forwarded-For", "198.51.100.77")])
        XCTAssertEqual(r.body, "good 198.51.100.77")
        r = try await update("hostname=gw.s1.dyn.example.test&myip=")
        XCTAssertEqual(r.body, "good 127.0.0.1")

        r = try await update("hostname=gw.s1.dyn.example.test&myip=192.0.2.5", password: "wrong")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, "badauth")
        r = try await update("hostname=gw.s1.dyn.example.test&myip=192.0.2.5", user: "s9")
        XCTAssertEqual(r.body, "badauth")
        let unauthenticated = try await h.call(.GET, "/nic/update?hostname=gw.s1.dyn.example.test")
        XCTAssertEqual(unauthenticated.status, 401)
        XCTAssertEqual(unauthenticated.body, "badauth")
        XCTAssertEqual(unauthenticated.header("WWW-Authenticate"), #"Basic realm="proxima-ddns""#)
        await h.stop()
    }

    func testAbuseWhenRateLimited() async throws {
        let h = try await DDNSHarness.start { $0.maxUpdatesPerMinute = 2 }
        let token = try await h.createSilo("s1", #"[{"hostname": "gw", "ip": "192.0.2.1"}]"#)   // one write
        let basic = "Basic " + Data("s1:\(token)".utf8).base64EncodedString()
        let ok = try await h.call(.GET, "/nic/update?hostname=gw.s1.dyn.example.test&myip=192.0.2.2", headers: [("Authorization", basic)])
        XCTAssertEqual(ok.body, "good 192.0.2.2")
        let abuse = try await h.call(.GET, "/nic/update?hostname=gw.s1.dyn.example.test&myip=192.0.2.3", headers: [("Authorization", basic)])
        XCTAssertEqual(abuse.status, 200)
        XCTAssertEqual(abuse.body, "abuse")
        let silo = try await h.call(.GET, "/silos/s1", token: token)
        XCTAssertTrue(silo.body.contains("192.0.2.2"), silo.body)
        await h.stop()
    }

    /// Sends `request` on a new loopback connection and reads until the server closes it (bounded
    /// by a 10 s receive timeout): the status code and the body after the blank line.
    private func exchange(port: Int, _ request: String) throws -> (status: Int?, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect: errno \(errno)") }
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw HarnessError("send: errno \(errno)") }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return (nil, text) }
        let statusLine = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        return (parts.count > 1 ? Int(parts[1]) : nil, String(text[split.upperBound...]))
    }
}
