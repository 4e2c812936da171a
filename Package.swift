// swift-tools-version:6.0
import PackageDescription

// Module layout: see ../shared/DESIGN.md §4. Pure targets (DNSWire, DNSZone, GeoRouting,
// QueryEngine, ProximaConfig) do no IO; IO lives in GeoIP, HealthChecks, DNSServer, Forwarder, AdminAPI and
// the ProximaApp composition root; `proxima` is the thin command-line executable.
let package = Package(
    name: "Proxima",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "proxima", targets: ["proxima"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        // TLS for the admin listener, and the HTTP/1 <-> HTTP types codec for its child channel
        // (both already resolved through async-http-client and hummingbird).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        // The DDNS store: embedded SQLite (default) and shared PostgreSQL.
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        // SHA-256 of DDNS silo tokens (already in the graph through postgres-nio: no extra build).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Metrics: the swift-metrics API for off-path metrics, exposed by swift-prometheus's registry.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C shims.
        .target(name: "CProximaNet", path: "Sources/CProximaNet"),
        .systemLibrary(
            name: "CMaxMindDB",
            path: "Sources/CMaxMindDB",
            pkgConfig: "libmaxminddb",
            providers: [.apt(["libmaxminddb-dev"])]
        ),

        // Pure core.
        .target(name: "DNSWire"),
        .target(name: "DNSZone", dependencies: ["DNSWire"]),
        .target(name: "GeoRouting", dependencies: ["DNSWire"]),
        .target(name: "QueryEngine", dependencies: ["DNSWire", "DNSZone", "GeoRouting"]),
        // ProximaConfig decodes `synthesize:` into QueryEngine's rule type (one type per idea).
        .target(name: "ProximaConfig", dependencies: [
            "DNSWire", "DNSZone", "GeoRouting", "QueryEngine",
            .product(name: "Yams", package: "Yams"),
        ]),

        // Adapters and IO.
        .target(name: "GeoIP", dependencies: [
            "CMaxMindDB", "DNSWire", "GeoRouting",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HealthChecks", dependencies: [
            "GeoRouting", "DNSWire",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "DNSServer", dependencies: [
            "CProximaNet", "DNSWire", "QueryEngine",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "Forwarder", dependencies: [
            "DNSWire",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // DDNS reuses AdminAPI's connection guards (caps, timeouts) and strict JSON reader.
        .target(name: "DDNS", dependencies: [
            "DNSWire", "QueryEngine", "ProximaConfig", "AdminAPI",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
            // SQLite's C API under GRDB's connection, for the update's statements.
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The DDNS clients (`proxima ddns update|hosts|silo`): API calls, hosts-file block, state.
        .target(name: "DDNSClient", dependencies: [
            "DDNS", "DNSWire", "ProximaConfig",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .target(name: "AdminAPI", dependencies: [
            "GeoRouting", "DNSWire", "HealthChecks",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "ProximaApp", dependencies: [
            "DNSWire", "DNSZone", "GeoRouting", "QueryEngine", "ProximaConfig",
            "GeoIP", "HealthChecks", "DNSServer", "AdminAPI", "CProximaNet", "Forwarder", "DDNS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "proxima", dependencies: [
            "ProximaApp", "ProximaConfig", "GeoIP", "GeoRouting", "DNSWire", "HealthChecks", "QueryEngine", "DDNS",
            "DDNSClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "proxima-udp-echo", dependencies: ["DNSServer", "DNSWire"]),

        .executableTarget(name: "proxima-locate-bench", dependencies: ["GeoIP", "GeoRouting", "DNSWire"]),

        // Fuzz targets (libFuzzer; `Scripts/fuzz TARGET`). Each holds one `LLVMFuzzerTestOneInput`;
        // built without the sanitizer they replay input files instead (see Fuzz/README.md).
        .target(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "fuzz-query", dependencies: ["FuzzSupport", "QueryEngine", "DNSZone", "GeoRouting", "DNSWire"],
                          path: "Fuzz/Targets/fuzz-query"),
        .executableTarget(name: "fuzz-zone", dependencies: ["FuzzSupport", "DNSZone", "DNSWire"], path: "Fuzz/Targets/fuzz-zone"),
        .executableTarget(name: "fuzz-config", dependencies: ["FuzzSupport", "ProximaConfig"], path: "Fuzz/Targets/fuzz-config"),
        .executableTarget(name: "fuzz-geodata", dependencies: ["FuzzSupport", "GeoRouting", "DNSWire"],
                          path: "Fuzz/Targets/fuzz-geodata"),
        .executableTarget(name: "fuzz-admin", dependencies: ["FuzzSupport", "GeoRouting", "DNSWire"], path: "Fuzz/Targets/fuzz-admin"),
        .executableTarget(name: "fuzz-ddns", dependencies: ["FuzzSupport", "DNSWire", "QueryEngine"], path: "Fuzz/Targets/fuzz-ddns"),
        .executableTarget(name: "fuzz-querylog", dependencies: ["FuzzSupport", "DNSWire", "QueryEngine"],
                          path: "Fuzz/Targets/fuzz-querylog"),

        // Tests.
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire"]),
        .testTarget(name: "DNSZoneTests", dependencies: ["DNSZone", "DNSWire"]),
        .testTarget(name: "GeoRoutingTests", dependencies: ["GeoRouting", "DNSWire"]),
        .testTarget(name: "ProximaConfigTests", dependencies: ["ProximaConfig", "GeoRouting", "DNSWire", "QueryEngine"]),
        .testTarget(name: "QueryEngineTests", dependencies: ["QueryEngine", "DNSZone", "DNSWire", "GeoRouting"]),
        .testTarget(name: "GeoIPTests", dependencies: [
            "GeoIP", "GeoRouting", "DNSWire",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(name: "HealthChecksTests", dependencies: [
            "HealthChecks", "GeoRouting", "DNSWire",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "ForwarderTests", dependencies: ["Forwarder", "DNSWire"]),
        .testTarget(name: "DDNSTests", dependencies: [
            "DDNS", "DNSWire", "ProximaConfig",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "DDNSClientTests", dependencies: ["DDNSClient", "DDNS", "DNSWire", "ProximaConfig"]),
        .testTarget(name: "DNSServerTests", dependencies: [
            "DNSServer", "DNSWire",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "AdminAPITests", dependencies: [
            "AdminAPI", "HealthChecks", "GeoRouting", "DNSWire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "ProximaApp", "ProximaConfig", "DNSServer", "QueryEngine", "DNSWire", "DNSZone",
            "GeoRouting", "GeoIP", "HealthChecks", "AdminAPI", "Forwarder", "DDNS",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        // Driven by StatusPageBrowserTests through python3, not compiled.
        exclude: ["Support/status_page_browser.py"]),
    ]
)
