import AsyncHTTPClient
import DNSWire
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// Issue #11, the status page: a live server with real HTTP backends, answers sent through it
/// from three regions, the page's access rules over real HTTP, and the page itself in headless
/// Chromium (Debian's `chromium`, installed by `Scripts/setup --for-tests`) updating in place when
/// a member is forced down through the admin API.
final class StatusPageBrowserTests: XCTestCase {
    struct Site {
        var name: String
        var address: String
        var lat: Double
        var lon: Double
    }

    static let sites = [
        Site(name: "lon", address: "127.0.0.12", lat: 51.51, lon: -0.13),
        Site(name: "tyo", address: "127.0.0.14", lat: 35.68, lon: 139.69),
        Site(name: "gru", address: "127.0.0.16", lat: -23.55, lon: -46.63),
    ]
    static let token = "st4tus-page-token"

    static let zone = """
        $ORIGIN geo.test.
        $TTL 300
        @    SOA ns1 hostmaster 1 7200 3600 1209600 300
             NS  ns1
        ns1  A   192.0.2.53
        www  A   192.0.2.200
        """

    // One UDP thread, so which queries the per-thread fast path counts is deterministic.
    static let config = """
        listen:
          - 127.0.0.1:0
        udp_threads: 1
        log_level: warning
        rrl:
          enabled: false
        zones:
          - origin: geo.test.
            file: geo.zone
        geoip:
          database: geo.mmdb
        geo_data: geo_data.json
        routing:
          names:
            www.geo.test.: { pool: web }
        admin:
          listen: 127.0.0.1:0
          token: \(token)
        """

    static func geoData(ports: [String: Int]) -> String {
        let members = sites.map { s in
            #"{"address": "\#(s.address)", "name": "\#(s.name)", "latitude": \#(s.lat), "longitude": \#(s.lon), "#
                + #""health_check": {"type": "http", "port": \#(ports[s.address]!), "path": "/health", "#
                + #""interval": "200ms", "timeout": "150ms", "rise": 2, "fall": 2}}"#
        }
        return #"{"pools": {"web": {"members": [\#n"# + members.joined(separator: ",\n") + "\n]}}}"
    }

    var backends: [TestHTTPBackend] = []
    var live: LiveServer!
    var http: HTTPClient!

    override func setUp() async throws {
        var ports: [String: Int] = [:]
        for s in Self.sites {
            let b = TestHTTPBackend(host: s.address)
            try await b.start()
            backends.append(b)
            ports[s.address] = b.port
        }
        live = try await LiveServer.start(
            config: Self.config,
            files: ["geo.zone": Self.zone, "geo_data.json": Self.geoData(ports: ports)],
            copies: ["geo.mmdb": LiveServer.fixture("Tests/Fixtures/geoip/proxima-test-city-v6.mmdb")])
        http = HTTPClient(eventLoopGroupProvider: .singleton,
                          configuration: .init(redirectConfiguration: .disallow))
    }

    override func tearDown() async throws {
        await live.stop()
        for b in backends { await b.stop() }
        try await http.shutdown()
    }

    var base: String { "http://127.0.0.1:\(live.adminPort!)" }

    func request(_ path: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
                 body: String? = nil) async throws -> (status: Int, headers: HTTPHeaders, body: String) {
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        for (name, value) in headers { req.headers.add(name: name, value: value) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let res = try await http.execute(req, timeout: .seconds(10))
        let bytes = try await res.body.collect(upTo: 1 << 22)
        return (Int(res.status.code), res.headers, String(buffer: bytes))
    }

    /// Sends `count` queries for www.geo.test. A with the ECS network `ecs`; returns the answers.
    func ask(ecs: String, count: Int) throws -> [String] {
        let n = try XCTUnwrap(IPNetwork(ecs))
        var answers: [String] = []
        for _ in 0..<count {
            let subnet = ClientSubnet(address: n.address, sourcePrefixLength: UInt8(n.prefixLength))
            let m = try live.udp("www.geo.test.", .a, edns: EDNS(udpPayloadSize: 1232, options: [.clientSubnet(subnet)]))
            answers += m.answerSection.map { $0.rdata.description }
        }
        return answers
    }

    func testStatusPageShowsTrafficAndAForcedDownMemberWithoutReload() async throws {
        // Traffic from several regions, each answered by its nearest backend; every answer is
        // counted (an answer the engine or the answer map made has no per-network location entry:
        // the locator's table places the client).
        let regions: [(ecs: String, count: Int)] = [
            ("81.2.69.0/24", 4),      // London
            ("90.0.3.0/24", 2),       // Paris
            ("66.10.7.0/24", 3),      // New York
            ("126.16.5.0/24", 3),     // Tokyo
            ("116.12.9.0/24", 2),     // Singapore
            ("101.160.1.0/24", 2),    // Sydney
            ("177.32.1.0/24", 2),     // São Paulo
            ("181.0.4.0/24", 2),      // Buenos Aires
        ]
        var expected: [String: UInt64] = [:]
        for region in regions {
            let answers = try ask(ecs: region.ecs, count: region.count)
            XCTAssertEqual(answers.count, region.count, region.ecs)
            XCTAssertEqual(Set(answers).count, 1, "\(region.ecs): one nearest backend")
            for answer in answers { expected[answer, default: 0] += 1 }
        }
        XCTAssertEqual(Set(expected.keys), Set(Self.sites.map(\.address)), "every backend answered someone")
        // Load reports (the admin token may report for any backend): dot sizes and the table.
        for (address, load) in [("127.0.0.12", "0.35"), ("127.0.0.16", "0.8")] {
            let r = try await request("/load", method: .POST,
                                      headers: [("Authorization", "Bearer \(Self.token)"), ("Content-Type", "application/json")],
                                      body: #"{"ip": "\#(address)", "load": \#(load)}"#)
            XCTAssertEqual(r.status, 200, r.body)
        }

        // Access: nothing without a credential; a wrong token is refused; the admin token is
        // exchanged for an HttpOnly, SameSite=Strict session cookie and a redirect without it.
        var r = try await request("/status.json")
        XCTAssertEqual(r.status, 401, r.body)
        r = try await request("/")
        XCTAssertEqual(r.status, 401)
        XCTAssertTrue(r.body.contains("admin token"), r.body)
        r = try await request("/?token=wrong")
        XCTAssertEqual(r.status, 401)
        XCTAssertTrue(r.headers["set-cookie"].isEmpty)
        r = try await request("/?token=\(Self.token)")
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(r.headers.first(name: "location"), "/")
        let setCookie = try XCTUnwrap(r.headers.first(name: "set-cookie"))
        XCTAssertTrue(setCookie.contains("HttpOnly"), setCookie)
        XCTAssertTrue(setCookie.contains("SameSite=Strict"), setCookie)
        XCTAssertFalse(setCookie.contains(Self.token), "the cookie must not carry the admin token")
        let cookie = String(setCookie.split(separator: ";")[0])
        r = try await request("/", headers: [("Cookie", cookie)])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.headers.first(name: "content-security-policy")?.contains("script-src 'self'") ?? false)
        XCTAssertTrue(r.body.contains(#"<path class="land" d="M"#), "the world outline is served inline")
        // The cookie never authorizes a change, and a foreign page cannot use it.
        r = try await request("/backends/127.0.0.14/force", method: .POST,
                              headers: [("Cookie", cookie), ("Content-Type", "application/json")], body: #"{"state": "down"}"#)
        XCTAssertEqual(r.status, 401, r.body)
        r = try await request("/status.json", headers: [("Cookie", cookie), ("Origin", "http://evil.example")])
        XCTAssertEqual(r.status, 403, r.body)
        XCTAssertNil(live.server.snapshotStore.current().states.status(of: IPAddress("127.0.0.14")!).forced)

        // The JSON the page polls: members, and where answers went (cell centres of a 5° grid).
        r = try await request("/status.json", headers: [("Cookie", cookie)])
        XCTAssertEqual(r.status, 200, r.body)
        struct Doc: Decodable {
            struct Pool: Decodable { var name: String; var members: [Member] }
            struct Member: Decodable {
                var address: String; var name: String?; var health: String; var answers_per_second: Double?
            }
            struct Flow: Decodable { var latitude: Double; var longitude: Double; var address: String; var count: UInt64 }
            var pools: [Pool]
            var flows: [Flow]
            var cell_degrees: Double?
            var rate_seconds: Double?
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(r.body.utf8))
        XCTAssertEqual(doc.pools.map(\.name), ["web"])
        XCTAssertEqual(doc.pools[0].members.map(\.address), Self.sites.map(\.address))
        XCTAssertEqual(doc.cell_degrees, 5)
        var counts: [String: UInt64] = [:]
        for f in doc.flows { counts[f.address, default: 0] += f.count }
        XCTAssertEqual(counts, expected, r.body)
        // London's client network is in the 5° cell centred at 52.5, -2.5.
        let london = try XCTUnwrap(doc.flows.first {
            $0.address == "127.0.0.12" && abs($0.latitude - 51.5) <= 2.5 && abs($0.longitude - -0.1) <= 2.5
        }, "a flow from the London client's cell to lon: \(r.body)")
        XCTAssertEqual(london.count, 4)
        // answers/s over the last 30 s: while the server is younger than that, every counted
        // answer is inside the rate window (its first sample is taken at start).
        let lonRate = try XCTUnwrap(doc.pools[0].members[0].answers_per_second)
        let rateSeconds = try XCTUnwrap(doc.rate_seconds)
        if rateSeconds < 25 {
            XCTAssertEqual(lonRate, Double(expected["127.0.0.12"] ?? 0) / rateSeconds, accuracy: 0.011)
        }

        // The page in a real browser.
        let chromium = try XCTUnwrap(Self.findExecutable("chromium"),
                                     "chromium is not installed: run Scripts/setup --for-tests")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-status-page-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let script = LiveServer.fixture("Tests/IntegrationTests/Support/status_page_browser.py").path
        let (status, stdout, stderr) = try Self.run("/usr/bin/env", [
            "python3", script, "--chromium", chromium, "--base", base, "--token", Self.token,
            "--force", "127.0.0.14", "--members", "3", "--backends", "3", "--route", "81.2.69.160",
            "--out", out.path, "--timeout", "30",
        ], timeout: 120)
        XCTAssertEqual(status, 0, "browser driver failed: \(stderr)")
        guard status == 0 else { return }
        struct Seen: Decodable {
            var url_after_sign_in: String
            var cookie_visible_to_script: String
            var flows: Int
            var flow_titles: [String]
            var health_before: String
            var force_status: Int
            var marker_after: String?
            var updates_between: Int
            var health_after: String
            var load_cells: [String]
            var route_text: String
            var phone_scroll_width: Int
        }
        let seen = try JSONDecoder().decode(Seen.self, from: Data(stdout.utf8))
        XCTAssertEqual(seen.url_after_sign_in, "/", "the token leaves the address bar")
        XCTAssertEqual(seen.cookie_visible_to_script, "", "the session cookie is HttpOnly")
        XCTAssertEqual(seen.flows, doc.flows.count, "one line per client region → backend")
        XCTAssertGreaterThanOrEqual(seen.flows, regions.count - 1, "regions in one 5° cell share a line")
        XCTAssertTrue(seen.flow_titles.contains("\(london.count) answers → lon"), "\(seen.flow_titles)")
        XCTAssertTrue(seen.load_cells.contains("0.35"), "\(seen.load_cells)")
        XCTAssertEqual(seen.health_before, "up")
        XCTAssertEqual(seen.force_status, 200)
        XCTAssertEqual(seen.health_after, "down")
        XCTAssertEqual(seen.marker_after, "same-document", "the page changed without a reload")
        XCTAssertGreaterThanOrEqual(seen.updates_between, 1)
        XCTAssertTrue(seen.route_text.contains("placed:"), seen.route_text)
        XCTAssertTrue(seen.route_text.contains("127.0.0.12"), seen.route_text)
        XCTAssertLessThanOrEqual(seen.phone_scroll_width, 390, "no sideways scrolling on a phone")
        for name in ["status-page.png", "status-page-phone.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: out.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            XCTAssertGreaterThan(size, 10_000, "\(name) saved in \(out.path)")
        }
        print("status page screenshots: \(out.path)")
        XCTAssertEqual(live.server.snapshotStore.current().states.status(of: IPAddress("127.0.0.14")!).forced, .down)
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a program to completion (bounded by `timeout`, then killed); stdout and stderr.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes while waiting, so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        group.wait()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
