// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Tollgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tollgate", targets: ["tollgate"]),
        .executable(name: "tollgate-sim", targets: ["TollgateSimulator"]),
        // For the fuzz targets in fuzz/, a package of their own that depends on this one by path.
        .library(name: "TollgateCore", targets: ["TollgateCore"]),
        .library(name: "CZlib", targets: ["CZlib"]),
        .library(name: "CBrotli", targets: ["CBrotli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // OTLP over HTTP only: the gRPC exporter's dependencies would double the build for no user need here.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // System libraries used to read compressed upstream bodies without touching the bytes sent on.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBrotli", path: "Sources/CBrotli", providers: [.apt(["libbrotli-dev"])]),

        // The pure domain, no I/O: usage and the wire families (one folder each, with its descriptor), JSON and SSE
        // scanning, money, pricing and rating, credits policy, the config model.
        .target(
            name: "TollgateCore",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        // Reading configuration from disk: the config file, providers/ and price-books/ folders, the embedded
        // provider, LiteLLM's price table, and the watcher that reloads rates while serving.
        .target(
            name: "TollgateConfiguration",
            dependencies: [
                "TollgateCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The meter store (SQLite through GRDB, or PostgreSQL through postgres-nio; SQL/ holds both): events and their
        // writer, keys, customers, credits, limits, admission, rollups and reports, the export outbox.
        .target(
            name: "TollgateStore",
            dependencies: [
                "TollgateCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The request path only: the proxy listener's responder, forwarding, the metering tap and relay, admission,
        // content decoding, the hand-off to the event writer.
        .target(
            name: "TollgateGateway",
            dependencies: [
                "TollgateCore", "TollgateStore", "CZlib", "CBrotli",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Async functions run on their caller's executor (the request's event loop) rather than going back to the
            // loop's queue at each call: NIO runs tasks isolated to the loop (docs/ARCHITECTURE.md, Threads).
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        // Billing: export to billing systems (outbox runner and one file per sink), statements as HTML and CSV,
        // alert webhooks. An HTTP client, no HTTP server.
        .target(
            name: "TollgateBilling",
            dependencies: [
                "TollgateCore", "TollgateStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The operator's view of a running server: the Prometheus registry behind /metrics and the gauges read at
        // scrape time, the OpenTelemetry trace exporter, JSON log lines. The request path only sees the metrics and
        // tracing APIs; this target is where they are bound to backends.
        .target(
            name: "TollgateTelemetry",
            dependencies: [
                "TollgateCore", "TollgateStore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The admin listener: the admin API with its OpenAPI document, and the finance dashboard.
        .target(
            name: "TollgateAdmin",
            dependencies: [
                "TollgateCore", "TollgateStore", "TollgateBilling",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("API/openapi.json")]
        ),
        // An OpenAI-, Anthropic- and Gemini-shaped upstream for tests and benchmarks.
        .executableTarget(
            name: "TollgateSimulator",
            dependencies: [
                "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The command line: wires the targets together (Server/ assembles `serve`) and holds the commands.
        .executableTarget(
            name: "tollgate",
            dependencies: [
                "TollgateCore", "TollgateConfiguration", "TollgateStore", "TollgateGateway", "TollgateBilling", "TollgateAdmin",
                "TollgateTelemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "TollgateCoreTests", dependencies: ["TollgateCore"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TollgateConfigurationTests", dependencies: ["TollgateConfiguration"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TollgateStoreTests", dependencies: ["TollgateStore"]),
        .testTarget(
            name: "TollgateGatewayTests",
            dependencies: [
                "TollgateGateway", "TollgateStore", "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "TollgateBillingTests",
            dependencies: [
                "TollgateBilling", "TollgateStore",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "TollgateTelemetryTests",
            dependencies: [
                "TollgateTelemetry", "TollgateStore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TollgateAdminTests",
            dependencies: [
                "TollgateAdmin", "TollgateStore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
