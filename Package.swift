// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Courier",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "courier", targets: ["courier"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        // Tests only: Ed25519 for the NATS nkeys and JWTs the JetStream authentication test issues.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .target(name: "CloudEvents", swiftSettings: strict),
        .target(name: "Routing", dependencies: ["CloudEvents"], swiftSettings: strict),
        .target(
            name: "Resources",
            dependencies: ["CloudEvents", "Routing", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(
            name: "BrokerKit",
            dependencies: ["CloudEvents", "Resources", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "EmbeddedBroker",
            dependencies: [
                "BrokerKit", "CloudEvents", "Resources",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(
            name: "RedisBroker",
            dependencies: [
                "BrokerKit", "CloudEvents", "Resources", "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(
            name: "KafkaBroker",
            dependencies: [
                "BrokerKit", "CloudEvents", "Resources", "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .systemLibrary(name: "CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(
            name: "JetStreamBroker",
            dependencies: [
                "BrokerKit", "CloudEvents", "Resources", "CNats",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .systemLibrary(name: "CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .target(
            name: "RabbitMQBroker",
            dependencies: [
                "BrokerKit", "CloudEvents", "Resources", "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .target(
            name: "MQTTBroker",
            dependencies: [
                "BrokerKit", "CloudEvents", "EmbeddedBroker", "Resources", "CMosquitto",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "Delivery",
            dependencies: [
                "BrokerKit", "CloudEvents", "Resources", "Routing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "Bindings",
            dependencies: [
                "BrokerKit", "CloudEvents", "Delivery", "Resources",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "DeadLetters",
            dependencies: [
                "BrokerKit", "CloudEvents", "Delivery", "Routing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "HTTPAPI",
            dependencies: [
                "Bindings", "BrokerKit", "CloudEvents", "DeadLetters", "Delivery", "Resources",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // Generated by scripts/generate-protos from Protos/ (committed; CI never runs protoc).
        .target(
            name: "DaprProto",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .target(
            name: "GRPCAPI",
            dependencies: [
                "Bindings", "BrokerKit", "CloudEvents", "DaprProto", "Delivery", "HTTPAPI", "Resources",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "Courier",
            dependencies: [
                "Bindings", "BrokerKit", "CloudEvents", "DeadLetters", "Delivery", "EmbeddedBroker", "GRPCAPI", "RedisBroker", "KafkaBroker", "JetStreamBroker", "RabbitMQBroker", "MQTTBroker", "HTTPAPI", "Resources",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "courier",
            dependencies: [
                "Courier", "Resources", "Routing", "CloudEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "BenchSink",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Benchmarks/BenchSink",
            swiftSettings: strict),
        .executableTarget(
            name: "CELBench",
            dependencies: ["Routing", "CloudEvents"],
            path: "Benchmarks/CELBench",
            swiftSettings: strict),
        .executableTarget(
            name: "GRPCBench",
            dependencies: [
                "DaprProto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/GRPCBench",
            swiftSettings: strict),
        .executableTarget(
            name: "LatencyBench",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Benchmarks/LatencyBench",
            swiftSettings: strict),
        .executableTarget(
            name: "MinimalServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/MinimalServer",
            swiftSettings: strict),
        .executableTarget(
            name: "CourierFuzz",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Fuzz",
            swiftSettings: strict),
        .executableTarget(
            name: "PushBench",
            dependencies: [
                "Delivery",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/PushBench",
            swiftSettings: strict),
        .executableTarget(
            name: "CELConformance",
            dependencies: ["Routing", "CloudEvents"],
            path: "Tests/CELConformance",
            swiftSettings: strict),
        .executableTarget(
            name: "RawBench",
            dependencies: ["CRdKafka", "CRabbitMQ", "CNats"],
            path: "Benchmarks/RawBench",
            swiftSettings: strict),
        .testTarget(name: "CloudEventsTests", dependencies: ["CloudEvents"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "CloudEvents"]),
        .testTarget(name: "ResourcesTests", dependencies: ["Resources"]),
        .testTarget(name: "EmbeddedBrokerTests", dependencies: ["EmbeddedBroker", "BrokerKit"]),
        .testTarget(
            name: "ConformanceTests",
            dependencies: ["BrokerKit", "EmbeddedBroker", "RedisBroker", "KafkaBroker", "JetStreamBroker", "RabbitMQBroker", "MQTTBroker", "Resources", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "KafkaBrokerTests", dependencies: ["KafkaBroker", "BrokerKit", "Resources", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "DeliveryTests",
            dependencies: [
                "DeadLetters", "Delivery", "Resources",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(
            name: "HTTPAPITests",
            dependencies: ["HTTPAPI", "Delivery", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "BindingsTests", dependencies: ["Bindings", "BrokerKit", "Resources"]),
        .testTarget(name: "GRPCAPITests", dependencies: ["GRPCAPI", "DaprProto", "Delivery", "Resources", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Courier", "BrokerKit", "CloudEvents", "DaprProto", "KafkaBroker",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
    ]
)
