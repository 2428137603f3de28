// swift-tools-version: 6.1
// Rananeeti: an event-sourced reservation service that keeps taking and showing
// reservations while its database is down. See README.md and docs/.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0335-existential-any.md
    .enableUpcomingFeature("ExistentialAny"),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0444-member-import-visibility.md
    .enableUpcomingFeature("MemberImportVisibility"),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0409-access-level-on-imports.md
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "rananeeti",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rananeeti", targets: ["rananeeti"]),
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "Orders", targets: ["Orders"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    ],
    targets: [
        // C libraries from Debian packages: a module map and a one-line shim each, nothing else.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CBLAKE2", pkgConfig: "libb2", providers: [.apt(["libb2-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // The storage engine: bytes in, offsets out. Knows nothing of cafes, logs nothing itself.
        .target(name: "EventLog", dependencies: ["CLZ4", "CBLAKE2"], swiftSettings: swiftSettings),

        // The domain: reservations, validation, the digest, event encoding. No I/O.
        .target(name: "Orders", dependencies: ["CBLAKE2"], swiftSettings: swiftSettings),

        // A small, safe wrapper over libpq.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The projector, the local projection and the read path that chooses between them.
        .target(
            name: "Projection",
            dependencies: [
                "EventLog", "Orders", "Postgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Who someone is: OpenID Connect sign-in (discovery, PKCE, ID and access tokens checked against the
        // provider's keys), sealed session cookies that every node can open without a database, private
        // status links, and who counts as staff. No HTTP server, no routes: CafeWeb mounts it.
        .target(
            name: "Identity",
            dependencies: [
                "Orders",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The HTTP layer: the website, the JSON API, health and metrics.
        .target(
            name: "CafeWeb",
            dependencies: [
                "EventLog", "Orders", "Postgres", "Projection", "Identity",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The command line: parses, builds configuration, calls the modules.
        .executableTarget(
            name: "rananeeti",
            dependencies: [
                "EventLog", "Orders", "Postgres", "Projection", "CafeWeb", "Identity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Shared by tests and benchmarks: temp dirs, a private PostgreSQL, child processes.
        .target(
            name: "TestSupport",
            dependencies: ["EventLog", "Orders", "Postgres", "Projection"],
            swiftSettings: swiftSettings
        ),

        // Benchmarks live under bench/ but build with the package, so they share one build.
        .executableTarget(
            name: "AppendBenchmark",
            dependencies: [
                "EventLog", "Orders", "TestSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/AppendBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ProjectorBenchmark",
            dependencies: [
                "EventLog", "Orders", "Postgres", "Projection", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/ProjectorBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "StartBenchmark",
            dependencies: ["EventLog", "Orders", "TestSupport"],
            path: "bench/StartBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CeilingServer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "bench/CeilingServer",
            swiftSettings: swiftSettings
        ),

        // Fuzz targets for libFuzzer, built by scripts/fuzz with -sanitize=fuzzer,address (docs/FUZZING.md).
        // A normal build makes them replay drivers that run each input once: scripts/test replays Fuzz/corpus.
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: swiftSettings),
        .executableTarget(
            name: "BatchDecoderFuzzer",
            dependencies: ["EventLog", "CBLAKE2", "FuzzSupport"],
            path: "Fuzz/BatchDecoderFuzzer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RequestParserFuzzer",
            dependencies: ["Orders", "FuzzSupport"],
            path: "Fuzz/RequestParserFuzzer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SessionFuzzer",
            dependencies: ["Identity", "Orders", "FuzzSupport", .product(name: "Crypto", package: "swift-crypto")],
            path: "Fuzz/SessionFuzzer",
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "OrdersTests", dependencies: ["Orders", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "Projection", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ProjectionTests",
            dependencies: [
                "Projection", "EventLog", "Orders", "Postgres", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IdentityTests",
            dependencies: ["Identity", "Orders", "TestSupport", .product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CafeWebTests",
            dependencies: [
                "CafeWeb", "Projection", "EventLog", "Orders", "Postgres", "TestSupport", "Identity",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["EventLog", "Orders", "Postgres", "Projection", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
