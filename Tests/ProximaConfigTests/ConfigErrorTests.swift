import XCTest
@testable import ProximaConfig

/// Every kind of config error, with the exact line and key path it is reported at.
final class ConfigErrorTests: XCTestCase {
    struct Case {
        let name: String
        let yaml: String
        let code: ConfigIssue.Code
        let line: Int?
        let keyPath: String
        let message: String
    }

    /// Zones block used by cases that need a valid zone; occupies lines 1-3.
    static let zone = """
        zones:
          - origin: example.test.
            file: z.zone

        """

    static let cases: [Case] = [
        Case(name: "unknown top-level key", yaml: zone + "colour: blue\n",
             code: .unknownKey, line: 4, keyPath: "colour", message: "unknown key; expected one of: listen,"),
        Case(name: "unknown nested key", yaml: zone + "tcp:\n  idle_timeout: 5s\n  idle: 3\n",
             code: .unknownKey, line: 6, keyPath: "tcp.idle", message: "expected one of: idle_timeout, max_connections"),
        Case(name: "wrong type: list for integer", yaml: zone + "udp_threads: [1]\n",
             code: .wrongType, line: 4, keyPath: "udp_threads", message: "expected an integer, found a list"),
        Case(name: "wrong type: string for integer", yaml: zone + "max_udp_payload: big\n",
             code: .wrongType, line: 4, keyPath: "max_udp_payload", message: "expected an integer, found a string 'big'"),
        Case(name: "wrong type: string for boolean", yaml: zone + "geoip:\n  watch: \"true\"\n",
             code: .wrongType, line: 5, keyPath: "geoip.watch", message: "expected a boolean"),
        Case(name: "wrong type: scalar for section", yaml: zone + "tcp: 5\n",
             code: .wrongType, line: 4, keyPath: "tcp", message: "expected a mapping, found an integer '5'"),
        Case(name: "max_udp_payload below 512", yaml: zone + "max_udp_payload: 511\n",
             code: .outOfRange, line: 4, keyPath: "max_udp_payload", message: "511 is out of range 512...65535"),
        Case(name: "max_udp_payload above 65535", yaml: zone + "max_udp_payload: 65536\n",
             code: .outOfRange, line: 4, keyPath: "max_udp_payload", message: "out of range 512...65535"),
        Case(name: "unknown log level", yaml: zone + "log_level: verbose\n",
             code: .invalidValue, line: 4, keyPath: "log_level", message: "unknown log level 'verbose'"),
        Case(name: "listen empty", yaml: zone + "listen: []\n",
             code: .invalidValue, line: 4, keyPath: "listen", message: "at least one address"),
        Case(name: "listen without port", yaml: zone + "listen:\n  - 127.0.0.1\n",
             code: .invalidValue, line: 5, keyPath: "listen[0]", message: "is not an address:port"),
        Case(name: "listen unbracketed IPv6", yaml: zone + "listen:\n  - 127.0.0.1:53\n  - \"::1:53\"\n",
             code: .invalidValue, line: 6, keyPath: "listen[1]", message: "'::1:53' is not an address:port"),
        Case(name: "listen port too big", yaml: zone + "listen: [\"127.0.0.1:65536\"]\n",
             code: .invalidValue, line: 4, keyPath: "listen[0]", message: "not an address:port"),
        Case(name: "listen duplicate", yaml: zone + "listen:\n  - 127.0.0.1:53\n  - 127.0.0.1:53\n",
             code: .conflict, line: 6, keyPath: "listen[1]", message: "127.0.0.1:53 is listed twice (also listen[0])"),
        Case(name: "zones missing", yaml: "log_level: info\n",
             code: .missingKey, line: 1, keyPath: "zones", message: "required key is missing"),
        Case(name: "zones empty", yaml: "zones: []\n",
             code: .invalidValue, line: 1, keyPath: "zones", message: "at least one zone is required"),
        Case(name: "zone file missing", yaml: "zones:\n  - origin: a.test.\n  - origin: b.test.\n    file: b\n",
             code: .missingKey, line: 2, keyPath: "zones[0].file", message: "required key is missing"),
        Case(name: "origin not absolute", yaml: "zones:\n  - origin: example.test\n    file: z\n",
             code: .invalidValue, line: 2, keyPath: "zones[0].origin", message: "is not absolute; write it with a trailing dot"),
        Case(name: "origin empty label", yaml: "zones:\n  - origin: a..test.\n    file: z\n",
             code: .invalidValue, line: 2, keyPath: "zones[0].origin", message: "has an empty label"),
        Case(name: "origin label over 63 octets", yaml: "zones:\n  - origin: \(String(repeating: "a", count: 64)).test.\n    file: z\n",
             code: .invalidValue, line: 2, keyPath: "zones[0].origin", message: "is 64 octets; the limit is 63"),
        Case(name: "origin over 255 octets",
             yaml: "zones:\n  - origin: \(Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".")).\n    file: z\n",
             code: .invalidValue, line: 2, keyPath: "zones[0].origin", message: "is 257 octets in wire form; the limit is 255"),
        Case(name: "origin bad character", yaml: "zones:\n  - origin: ex ample.test.\n    file: z\n",
             code: .invalidValue, line: 2, keyPath: "zones[0].origin", message: "contains ' '"),
        Case(name: "origin duplicate (case-insensitive)",
             yaml: "zones:\n  - origin: example.test.\n    file: a\n  - origin: EXAMPLE.test.\n    file: b\n",
             code: .conflict, line: 4, keyPath: "zones[1].origin", message: "zone 'example.test.' is already configured at zones[0]"),
        Case(name: "zone path with tilde", yaml: "zones:\n  - origin: a.test.\n    file: ~/a.zone\n",
             code: .invalidValue, line: 3, keyPath: "zones[0].file", message: "'~' is not expanded"),
        Case(name: "duration without unit it knows", yaml: zone + "tcp:\n  idle_timeout: 5d\n",
             code: .wrongType, line: 5, keyPath: "tcp.idle_timeout", message: "expected a duration such as 250ms, 2s, 5m or 1h, found a string '5d'"),
        Case(name: "duration zero", yaml: zone + "tcp:\n  idle_timeout: 0s\n",
             code: .outOfRange, line: 5, keyPath: "tcp.idle_timeout", message: "0s is too short; must be greater than 0"),
        Case(name: "duration too long", yaml: zone + "tcp:\n  idle_timeout: 2h\n",
             code: .outOfRange, line: 5, keyPath: "tcp.idle_timeout", message: "2h is too long; must be at most 1h"),
        Case(name: "override host bits set", yaml: zone + "geoip:\n  overrides:\n    - network: 10.0.0.1/8\n      latitude: 1\n      longitude: 2\n",
             code: .invalidValue, line: 6, keyPath: "geoip.overrides[0].network", message: "host bits set beyond the /8 prefix; did you mean 10.0.0.0/8?"),
        Case(name: "override not a network", yaml: zone + "geoip:\n  overrides:\n    - network: office\n      latitude: 1\n      longitude: 2\n",
             code: .invalidValue, line: 6, keyPath: "geoip.overrides[0].network", message: "'office' is not a CIDR network"),
        Case(name: "override latitude out of range", yaml: zone + "geoip:\n  overrides:\n    - network: 10.0.0.0/8\n      latitude: 91\n      longitude: 2\n",
             code: .outOfRange, line: 7, keyPath: "geoip.overrides[0].latitude", message: "91 is out of range -90...90"),
        Case(name: "override longitude out of range", yaml: zone + "geoip:\n  overrides:\n    - network: 10.0.0.0/8\n      latitude: 1\n      longitude: -180.5\n",
             code: .outOfRange, line: 8, keyPath: "geoip.overrides[0].longitude", message: "-180.5 is out of range -180...180"),
        Case(name: "override missing latitude", yaml: zone + "geoip:\n  overrides:\n    - network: 10.0.0.0/8\n      longitude: 2\n",
             code: .missingKey, line: 6, keyPath: "geoip.overrides[0].latitude", message: "required key is missing"),
        Case(name: "override duplicate network",
             yaml: zone + "geoip:\n  overrides:\n    - {network: \"2001:db8::/32\", latitude: 1, longitude: 2}\n    - {network: \"2001:db8:0::/32\", latitude: 3, longitude: 4}\n",
             code: .conflict, line: 7, keyPath: "geoip.overrides[1].network", message: "network 2001:db8::/32 is already overridden at geoip.overrides[0]"),
        Case(name: "ipstack base_url not http", yaml: zone + "geoip:\n  ipstack:\n    access_key: k\n    base_url: ftp://x\n",
             code: .invalidValue, line: 7, keyPath: "geoip.ipstack.base_url", message: "is not an http:// or https:// URL"),
        Case(name: "ipstack cache prefix too long", yaml: zone + "geoip:\n  ipstack:\n    access_key: k\n    cache_prefix_v4: 33\n",
             code: .outOfRange, line: 7, keyPath: "geoip.ipstack.cache_prefix_v4", message: "33 is out of range 1...32"),
        Case(name: "ipstack v6 cache prefix too long", yaml: zone + "geoip:\n  ipstack:\n    access_key: k\n    cache_prefix_v6: 129\n",
             code: .outOfRange, line: 7, keyPath: "geoip.ipstack.cache_prefix_v6", message: "129 is out of range 1...128"),
        Case(name: "ipstack enabled without key", yaml: zone + "geoip:\n  ipstack:\n    enabled: true\n",
             code: .missingKey, line: 6, keyPath: "geoip.ipstack.access_key", message: "environment variable IPSTACK_ACCESS_KEY"),
        Case(name: "bad environment variable name", yaml: zone + "admin:\n  token_env: 1TOKEN\n",
             code: .invalidValue, line: 5, keyPath: "admin.token_env", message: "'1TOKEN' is not an environment variable name"),
        Case(name: "admin listen invalid", yaml: zone + "admin:\n  listen: localhost:8053\n",
             code: .invalidValue, line: 5, keyPath: "admin.listen", message: "'localhost:8053' is not an address:port"),
        Case(name: "admin listen collides with a DNS listener",
             yaml: zone + "listen: [\"127.0.0.1:8053\"]\nadmin:\n  listen: 127.0.0.1:8053\n",
             code: .conflict, line: 6, keyPath: "admin.listen", message: "127.0.0.1:8053 is also a DNS listen address"),
        Case(name: "answers above 8", yaml: zone + "routing:\n  defaults:\n    answers: 9\n",
             code: .outOfRange, line: 6, keyPath: "routing.defaults.answers", message: "9 is out of range 1...8"),
        Case(name: "answers zero", yaml: zone + "routing:\n  defaults:\n    answers: 0\n",
             code: .outOfRange, line: 6, keyPath: "routing.defaults.answers", message: "0 is out of range 1...8"),
        Case(name: "ttl negative", yaml: zone + "routing:\n  defaults:\n    ttl: -1\n",
             code: .outOfRange, line: 6, keyPath: "routing.defaults.ttl", message: "-1 is out of range 0...2147483647"),
        Case(name: "ttl above 2^31-1", yaml: zone + "routing:\n  defaults:\n    ttl: 2147483648\n",
             code: .outOfRange, line: 6, keyPath: "routing.defaults.ttl", message: "out of range 0...2147483647"),
        Case(name: "tie_band above 1", yaml: zone + "routing:\n  defaults:\n    tie_band: 1.5\n",
             code: .outOfRange, line: 6, keyPath: "routing.defaults.tie_band", message: "1.5 is out of range 0...1"),
        Case(name: "unknown policy", yaml: zone + "routing:\n  defaults:\n    policy: closest\n",
             code: .invalidValue, line: 6, keyPath: "routing.defaults.policy", message: "unknown policy 'closest'; expected one of: nearest, round-robin"),
        Case(name: "unknown all_down", yaml: zone + "routing:\n  defaults:\n    all_down: nxdomain\n",
             code: .invalidValue, line: 6, keyPath: "routing.defaults.all_down", message: "unknown all_down 'nxdomain'"),
        Case(name: "fallback without fallback_pool in defaults", yaml: zone + "routing:\n  defaults:\n    all_down: fallback\n",
             code: .conflict, line: 6, keyPath: "routing.defaults.all_down", message: "all_down: fallback needs fallback_pool"),
        Case(name: "fallback without fallback_pool on a name",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test.:\n      all_down: fallback\n",
             code: .conflict, line: 8, keyPath: "routing.names.\"www.example.test.\".all_down", message: "all_down: fallback needs fallback_pool"),
        Case(name: "fallback pool is own pool",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test.:\n      pool: web\n      all_down: fallback\n      fallback_pool: web\n",
             code: .conflict, line: 10, keyPath: "routing.names.\"www.example.test.\".fallback_pool", message: "is the route's own pool"),
        Case(name: "fallback_pool that is never used",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test.:\n      fallback_pool: spare\n",
             code: .conflict, line: 8, keyPath: "routing.names.\"www.example.test.\".fallback_pool", message: "all_down is 'fail-open', so it would never be used"),
        Case(name: "routed name outside every zone",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.org.:\n      pool: web\n",
             code: .invalidValue, line: 7, keyPath: "routing.names.\"www.example.org.\"", message: "is not inside any configured zone (example.test.)"),
        Case(name: "routed name suffix is not a label boundary",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test.: {}\n    xexample.test.: {}\n",
             code: .invalidValue, line: 8, keyPath: "routing.names.\"xexample.test.\"", message: "is not inside any configured zone"),
        Case(name: "routed name not absolute",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test:\n      pool: web\n",
             code: .invalidValue, line: 7, keyPath: "routing.names.\"www.example.test\"", message: "is not absolute"),
        Case(name: "routed name twice with different case",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test.: {}\n    WWW.example.test.: {}\n",
             code: .duplicateKey, line: 8, keyPath: "routing.names.\"WWW.example.test.\"", message: "'www.example.test.' is routed twice"),
        Case(name: "routed names without geo_data",
             yaml: zone + "routing:\n  names:\n    www.example.test.: {pool: web}\n",
             code: .missingKey, line: 6, keyPath: "geo_data", message: "geo_data (the backends file) is required"),
        Case(name: "unknown key in routed name",
             yaml: zone + "geo_data: g.json\nrouting:\n  names:\n    www.example.test.:\n      pools: web\n",
             code: .unknownKey, line: 8, keyPath: "routing.names.\"www.example.test.\".pools", message: "expected one of: pool, policy"),
        Case(name: "pool in defaults is unknown",
             yaml: zone + "routing:\n  defaults:\n    pool: web\n",
             code: .unknownKey, line: 6, keyPath: "routing.defaults.pool", message: "unknown key"),
        Case(name: "rise zero", yaml: zone + "health:\n  rise: 0\n",
             code: .outOfRange, line: 5, keyPath: "health.rise", message: "0 is out of range 1...100"),
        Case(name: "fall zero", yaml: zone + "health:\n  fall: 0\n",
             code: .outOfRange, line: 5, keyPath: "health.fall", message: "0 is out of range 1...100"),
        Case(name: "health timeout above interval", yaml: zone + "health:\n  interval: 1s\n  timeout: 2s\n",
             code: .conflict, line: 6, keyPath: "health.timeout", message: "timeout (2s) exceeds interval (1s)"),
        Case(name: "duplicate key", yaml: zone + "tcp:\n  max_connections: 5\n  max_connections: 6\n",
             code: .duplicateKey, line: 5, keyPath: "tcp.max_connections", message: "duplicate key 'max_connections' (also at line 6)"),
        Case(name: "duplicate top-level key", yaml: zone + "log_level: info\nlog_level: debug\n",
             code: .duplicateKey, line: 4, keyPath: "log_level", message: "duplicate key 'log_level' (also at line 5)"),
        Case(name: "YAML syntax error", yaml: zone + "tcp:\n  idle_timeout: [1s\n",
             code: .syntax, line: 6, keyPath: "", message: "YAML syntax error"),
        Case(name: "document not a mapping", yaml: "- zones\n",
             code: .wrongType, line: 1, keyPath: "", message: "expected a mapping, found a list"),
    ]

    func testEveryErrorKindIsReportedWithLineAndKeyPath() {
        for c in Self.cases {
            let issues = ConfigTestSupport.issues(c.yaml)
            guard issues.count == 1, let issue = issues.first else {
                XCTFail("\(c.name): expected exactly one issue, got \(issues.count):\n"
                        + issues.map(\.description).joined(separator: "\n"))
                continue
            }
            XCTAssertEqual(issue.code, c.code, c.name)
            XCTAssertEqual(issue.line, c.line, "\(c.name): \(issue)")
            XCTAssertEqual(issue.keyPath, c.keyPath, c.name)
            XCTAssertTrue(issue.message.contains(c.message), "\(c.name): message was: \(issue.message)")
            XCTAssertEqual(issue.file, "t.yaml", c.name)
        }
    }

    func testDescriptionIsFileLineKeyPathMessage() {
        let yaml = "zones:\n  - origin: example.test.\n    file: z\nmax_udp_payload: 100\n"
        guard case .failure(let error) = ConfigLoader.load(yaml: yaml, file: "config/proxima.yaml", environment: [:]) else {
            return XCTFail("expected failure")
        }
        XCTAssertEqual(error.description, "config/proxima.yaml:4: max_udp_payload: 100 is out of range 512...65535")
        let noLine = ConfigIssue(code: .syntax, file: "f.yaml", line: nil, keyPath: "", message: "m")
        XCTAssertEqual(noLine.description, "f.yaml: m")
    }

    func testAllIssuesAreCollectedInOnePassInLineOrder() {
        let yaml = """
            listen: ["127.0.0.1:53", bogus]
            max_udp_payload: 100
            tcp:
              idle_timeout: never
              surprise: 1
            zones:
              - origin: example.test
                file: z
            routing:
              defaults:
                answers: 12
                all_down: fallback
            health:
              rise: 0
              fall: -2
            extra: true
            """
        let issues = ConfigTestSupport.issues(yaml)
        XCTAssertEqual(issues.map(\.keyPath), [
            "listen[1]", "max_udp_payload", "tcp.idle_timeout", "tcp.surprise", "zones[0].origin",
            "routing.defaults.answers", "routing.defaults.all_down", "health.rise", "health.fall", "extra",
        ], issues.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(issues.map { $0.line ?? 0 }, [1, 2, 4, 5, 7, 11, 12, 14, 15, 16])
        let lines = ConfigError(issues: issues).description.split(separator: "\n")
        XCTAssertEqual(lines.count, 10)
        XCTAssertEqual(lines.first, "t.yaml:1: listen[1]: 'bogus' is not an address:port; write IPv4 as 127.0.0.1:5353 and IPv6 as \"[::1]:5353\" (port 0...65535)")
    }

    func testSeveralDuplicateKeysAreAllReported() {
        let yaml = """
            zones:
              - origin: a.test.
                file: a
                origin: b.test.
            tcp:
              max_connections: 1
              max_connections: 2
              max_connections: 3
            """
        let issues = ConfigTestSupport.issues(yaml)
        XCTAssertEqual(issues.map(\.code), [.duplicateKey, .duplicateKey, .duplicateKey])
        XCTAssertEqual(issues.map(\.keyPath), ["zones[0].origin", "tcp.max_connections", "tcp.max_connections"])
        XCTAssertEqual(issues.map(\.line), [2, 6, 7])
    }

    func testUnknownKeysInEverySectionAreErrors() {
        let sections = [
            ("tcp", "tcp"), ("geoip", "geoip"), ("health", "health"), ("admin", "admin"),
            ("routing", "routing"),
        ]
        for (section, path) in sections {
            let issues = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\n\(section):\n  nope: 1\n")
            XCTAssertEqual(issues.map(\.keyPath), ["\(path).nope"], section)
            XCTAssertEqual(issues.map(\.line), [5], section)
            XCTAssertEqual(issues.map(\.code), [.unknownKey], section)
        }
        let ipstack = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\ngeoip:\n  ipstack:\n    access_key: k\n    key: 1\n")
        XCTAssertEqual(ipstack.map(\.keyPath), ["geoip.ipstack.key"])
        let zoneKey = ConfigTestSupport.issues("zones:\n  - origin: a.test.\n    file: a\n    type: master\n")
        XCTAssertEqual(zoneKey.map(\.keyPath), ["zones[0].type"])
        XCTAssertEqual(zoneKey.map(\.line), [4])
    }
}

/// Messages that help an operator fix the file: typo hints and YAML-level problems.
final class ConfigErrorMessageTests: XCTestCase {
    func testUnknownKeyNearAValidOneSuggestsIt() {
        let table: [(String, String, String?)] = [
            ("geoip:\n  overrides:\n    - {network: 10.0.0.0/8, latitude: 1, longitude: 2, lable: x}\n",
             "geoip.overrides[0].lable", "label"),
            ("tcp:\n  idle_timout: 5s\n", "tcp.idle_timout", "idle_timeout"),
            ("max_udp_paylod: 1232\n", "max_udp_paylod", "max_udp_payload"),
            ("health:\n  rize: 2\n", "health.rize", "rise"),
            ("completely_different: 1\n", "completely_different", nil),
        ]
        for (section, path, suggestion) in table {
            let issues = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\n" + section)
            XCTAssertEqual(issues.map(\.keyPath), [path])
            XCTAssertEqual(issues.first?.code, .unknownKey)
            if let suggestion {
                XCTAssertTrue(issues.first?.message.hasPrefix("unknown key (did you mean '\(suggestion)'?)") ?? false,
                              issues.first?.message ?? "")
            } else {
                XCTAssertFalse(issues.first?.message.contains("did you mean") ?? true)
            }
        }
    }

    func testTabIndentationIsASyntaxErrorOnItsLine() {
        let issues = ConfigTestSupport.issues("zones:\n  - origin: example.test.\n\tfile: x\n")
        XCTAssertEqual(issues.map(\.code), [.syntax])
        XCTAssertEqual(issues.map(\.line), [3])
        XCTAssertTrue(issues.first?.message.contains("tab") ?? false)
    }

    func testSecondDocumentIsRejected() {
        let issues = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\n---\nlisten: []\n")
        XCTAssertEqual(issues.map(\.code), [.syntax])
        XCTAssertEqual(issues.map(\.line), [4])
        XCTAssertEqual(issues.first?.message, "YAML syntax error: a config file holds one YAML document, but a second one starts here")
    }

    func testDuplicateKeysInFlowMappingsAndNamesHaveKeyPaths() {
        let yaml = """
            zones: [{origin: a.test., file: a, file: b}]
            geo_data: g
            routing: {names: {x.a.test.: {pool: p, pool: q}, y.a.test.: {}, y.a.test.: {}}}
            """
        // (The contents of a duplicated entry that is not kept are not checked further.)
        let issues = ConfigTestSupport.issues(yaml)
        XCTAssertEqual(issues.map(\.keyPath), ["zones[0].file", "routing.names.\"y.a.test.\"", "routing.names.\"x.a.test.\".pool"],
                       issues.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(issues.map(\.code), [.duplicateKey, .duplicateKey, .duplicateKey])
        XCTAssertEqual(issues.map(\.line), [1, 3, 3])
    }

    func testHugeIntegersAndNonFiniteNumbersAreRejected() {
        let big = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\nudp_threads: 99999999999999999999999\n")
        XCTAssertEqual(big.map(\.code), [.outOfRange])
        let inf = ConfigTestSupport.issues(ConfigTestSupport.zoneOnly + "\nrouting:\n  defaults:\n    tie_band: .inf\n")
        XCTAssertEqual(inf.map(\.code), [.wrongType])
        XCTAssertEqual(inf.first?.message, "expected a finite number, found a number '.inf'")
    }
}
