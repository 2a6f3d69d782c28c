import BrokerKit
import EmbeddedBroker
import Foundation
import JetStreamBroker
import KafkaBroker
import Logging
import MQTTBroker
import RabbitMQBroker
import RedisBroker
import Resources

/// A broker the conformance suite runs against: how to build it, and what it declares.
struct BrokerFixture: Sendable, CustomStringConvertible {
    var name: String
    /// `nil` when the broker's server is not configured in the environment.
    var make: (@Sendable () async throws -> any MessageBroker)?
    /// Why it is unavailable (shown when skipped).
    var unavailableReason: String?
    /// A private server of this broker that a test may stop and start (through scripts/brokers,
    /// by PID) without disturbing the tests sharing the main one; `nil` when the broker has no
    /// separate server.
    var isolated: (@Sendable () async throws -> IsolatedServer)?
    /// Test set-up for a fresh topic before a case subscribes (Kafka: create it with 4 partitions,
    /// since auto-creation may make one and competing consumers then cannot split the work).
    var prepare: (@Sendable (any MessageBroker, String) async throws -> Void)? = nil
    /// Publish metadata under which the broker keeps order (Kafka: one partition key).
    var orderingMetadata: [String: String] = [:]
    /// Publish metadata for message `i` that spreads messages over the broker's shards (Kafka: a
    /// key per message, since keyless records stick to one partition per batch).
    var spreadingMetadata: @Sendable (Int) -> [String: String] = { _ in [:] }
    /// Whether publish metadata travels with the message (MQTT 3.1.1 has no headers).
    var carriesMetadata = true
    /// Whether a group re-divides work while its members consume (a Kafka rebalance when a member
    /// joins late): a message in flight at that moment may go to the other member as well.
    var redividesWork = false

    var description: String { name }

    static let logger: Logger = {
        var l = Logger(label: "conformance")
        l.logLevel = .warning
        return l
    }()

    /// `COURIER_REQUIRE_BROKERS=1` (set by scripts/test) turns a missing broker into a failure.
    static var brokersRequired: Bool { ProcessInfo.processInfo.environment["COURIER_REQUIRE_BROKERS"] == "1" }

    /// Fixtures a run leaves out on purpose (`COURIER_SKIP_FIXTURES=a,b`), e.g. tansu when the
    /// process runs with a librdkafka too old for it.
    static var skipped: Set<String> {
        Set((ProcessInfo.processInfo.environment["COURIER_SKIP_FIXTURES"] ?? "").split(separator: ",").map(String.init))
    }

    static let all: [BrokerFixture] = [embedded, redis, kafkaTansu, kafkaNoida, jetstream, jetstreamProvisioned, rabbitmq, mqtt]

    static let embedded = BrokerFixture(name: "embedded", make: {
        var options = EmbeddedOptions()
        options.path = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)/store.sqlite").path
        options.initialOffsetOldest = false
        return try EmbeddedBroker(name: "pubsub", type: "pubsub.embedded", options: options, logger: logger)
    })

    /// Redis with a small prefetch (`queueDepth` 10), so competing consumers visibly share the work.
    static let redis: BrokerFixture = {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], let u = URL(string: url), let host = u.host else {
            return BrokerFixture(name: "redis", make: nil, unavailableReason: "REDIS_URL is not set (scripts/brokers start redis; eval \"$(scripts/brokers env)\")")
        }
        let address = "\(host):\(u.port ?? 6379)"
        return BrokerFixture(name: "redis", make: {
            let component = Component(name: "pubsub", type: "pubsub.redis",
                                      metadata: ComponentMetadata(["redisHost": address, "processingTimeout": "10s", "redeliverInterval": "1s", "queueDepth": "10"]))
            let broker = try RedisBroker(component: component, logger: logger)
            try await broker.connect()
            return broker
        }, isolated: {
            let port = 16_379 + Int.random(in: 0..<1000)
            let env = ["REDIS_PORT": "\(port)",
                       "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("conformance-redis-\(port)").path]
            try await BrokerScript.run(env: env, "start", "redis")
            let component = Component(name: "pubsub", type: "pubsub.redis",
                                      metadata: ComponentMetadata(["redisHost": "127.0.0.1:\(port)", "processingTimeout": "2s", "redeliverInterval": "1s"]))
            let broker = try RedisBroker(component: component, logger: logger)
            try await broker.connect()
            return IsolatedServer(broker: broker,
                                  restart: { try await BrokerScript.run(env: env, "restart", "redis") },
                                  stop: { try await BrokerScript.run(env: env, "stop", "redis") })
        })
    }()
}

extension BrokerFixture {
    /// tansu, a Kafka-protocol broker (memory storage, so it has no restart case). Needs
    /// librdkafka ≥ 2.2 at run time (scripts/test points LD_LIBRARY_PATH at 2.16). Work-around
    /// for its high-watermark bug (ListOffsets returns the last batch's base offset + 1): the
    /// producer sends batches of one record, so lag is exact.
    static let kafkaTansu = kafka(name: "kafka-tansu", env: "KAFKA_BROKERS", extra: ["librdkafka.batch.num.messages": "1"], needsModernLibrary: true,
                                  isolated: nil)

    /// noida-db's Kafka emulator (persists to disk, so the restart case runs on a private one).
    static let kafkaNoida = kafka(name: "kafka-noida", env: "NOIDA_KAFKA_BROKERS", extra: [:], needsModernLibrary: false, isolated: {
        let port = 29_092 + Int.random(in: 0..<1000)
        let env = ["NOIDA_PORT": "\(port)", "TOOLS_DIR": ProcessInfo.processInfo.environment["BROKERS_TOOLS_DIR"] ?? "/tmp/courier-brokers",
                   "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("conformance-noida-\(port)").path]
        try await BrokerScript.run(env: env, "start", "kafka-noida")
        let broker = try KafkaBroker(component: kafkaComponent(brokers: "127.0.0.1:\(port)", extra: [:]), logger: logger)
        return IsolatedServer(broker: broker,
                              restart: { try await BrokerScript.run(env: env, "restart", "kafka-noida") },
                              stop: { try await BrokerScript.run(env: env, "stop", "kafka-noida") },
                              prepare: { try await ($0 as! KafkaBroker).createTopic($1, partitions: 4) })
    })

    /// The shortest session timeout the brokers accept (6 s; tansu answers a join after
    /// session.timeout/2, so groups form in about 3 s), oldest offsets for fresh topics.
    static func kafkaComponent(brokers: String, extra: [String: String]) -> Component {
        var metadata = ["brokers": brokers, "authType": "none", "initialOffset": "oldest",
                        "sessionTimeout": "6s", "heartbeatInterval": "500ms"]
        metadata.merge(extra) { $1 }
        return Component(name: "pubsub", type: "pubsub.kafka", metadata: ComponentMetadata(metadata))
    }

    static func kafka(name: String, env: String, extra: [String: String], needsModernLibrary: Bool,
                      isolated: (@Sendable () async throws -> IsolatedServer)?) -> BrokerFixture {
        guard let brokers = ProcessInfo.processInfo.environment[env], !brokers.isEmpty else {
            return BrokerFixture(name: name, make: nil, unavailableReason: "\(env) is not set (scripts/brokers start; eval \"$(scripts/brokers env)\")")
        }
        if needsModernLibrary, KafkaBroker.libraryVersion.compare("2.2", options: .numeric) == .orderedAscending {
            return BrokerFixture(name: name, make: nil,
                                 unavailableReason: "librdkafka \(KafkaBroker.libraryVersion) cannot talk to tansu; run with LD_LIBRARY_PATH=$RDKAFKA_LIBRARY_PATH (librdkafka ≥ 2.2)")
        }
        return BrokerFixture(name: name, make: {
            try KafkaBroker(component: kafkaComponent(brokers: brokers, extra: extra), logger: logger)
        }, isolated: isolated, prepare: { broker, topic in
            try await (broker as! KafkaBroker).createTopic(topic, partitions: 4)
        }, orderingMetadata: ["partitionKey": "order"], spreadingMetadata: { ["partitionKey": "key-\($0)"] }, redividesWork: true)
    }
}

extension BrokerFixture {
    /// NATS JetStream (nats-server with -js): one stream per topic, created by the adapter.
    static let jetstream: BrokerFixture = {
        guard let url = ProcessInfo.processInfo.environment["NATS_URL"], !url.isEmpty else {
            return BrokerFixture(name: "jetstream", make: nil, unavailableReason: "NATS_URL is not set (scripts/brokers start nats; eval \"$(scripts/brokers env)\")")
        }
        return BrokerFixture(name: "jetstream", make: {
            try await JetStreamBroker(component: jetstreamComponent(url: url), logger: logger)
        }, isolated: {
            let port = 24_222 + Int.random(in: 0..<1000)
            let env = ["NATS_PORT": "\(port)", "NATS_MON_PORT": "\(port + 1000)",
                       "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("conformance-nats-\(port)").path]
            try await BrokerScript.run(env: env, "start", "nats")
            let broker = try await JetStreamBroker(component: jetstreamComponent(url: "nats://127.0.0.1:\(port)"), logger: logger)
            return IsolatedServer(broker: broker,
                                  restart: { try await BrokerScript.run(env: env, "restart", "nats") },
                                  stop: { try await BrokerScript.run(env: env, "stop", "nats") })
        })
    }()

    /// NATS JetStream against streams an operator made beforehand (with nats-py, as `nats stream
    /// add` would): each topic's stream is named otherwise and captures a second subject too, and
    /// the component may not create streams (`disableEntityManagement`), so every case runs on the
    /// stream Courier found by subject.
    static let jetstreamProvisioned: BrokerFixture = {
        guard let url = ProcessInfo.processInfo.environment["NATS_URL"], !url.isEmpty else {
            return BrokerFixture(name: "jetstream-provisioned", make: nil, unavailableReason: "NATS_URL is not set (scripts/brokers start nats; eval \"$(scripts/brokers env)\")")
        }
        guard ProcessInfo.processInfo.environment["COURIER_PYTHON"] != nil else {
            return BrokerFixture(name: "jetstream-provisioned", make: nil, unavailableReason: "COURIER_PYTHON (a Python with nats-py, made by scripts/test) is not set")
        }
        let provisioned: [String: String] = ["disableEntityManagement": "true"]
        return BrokerFixture(name: "jetstream-provisioned", make: {
            try await JetStreamBroker(component: jetstreamComponent(url: url, provisioned), logger: logger)
        }, isolated: {
            let port = 26_222 + Int.random(in: 0..<1000)
            let env = ["NATS_PORT": "\(port)", "NATS_MON_PORT": "\(port + 1000)",
                       "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("conformance-nats-\(port)").path]
            try await BrokerScript.run(env: env, "start", "nats")
            let serverURL = "nats://127.0.0.1:\(port)"
            let broker = try await JetStreamBroker(component: jetstreamComponent(url: serverURL, provisioned), logger: logger)
            return IsolatedServer(broker: broker,
                                  restart: { try await BrokerScript.run(env: env, "restart", "nats") },
                                  stop: { try await BrokerScript.run(env: env, "stop", "nats") },
                                  prepare: { _, topic in try await provisionStream(url: serverURL, topic: topic) })
        }, prepare: { _, topic in try await provisionStream(url: url, topic: topic) })
    }()

    /// Stream `OPS_<topic>` with subjects `<topic>` and `<topic>.audit`, made by nats-py.
    static func provisionStream(url: String, topic: String) async throws {
        let script = BrokerScript.root.appendingPathComponent("Tests/clients/brokerctl.py").path
        try await BrokerScript.spawn(ProcessInfo.processInfo.environment["COURIER_PYTHON"]!, [script, "jetstream-add-stream", "OPS_\(topic)", topic, "\(topic).audit"],
                                     env: ["NATS_URL": url])
    }

    /// The server's default AckWait (30 s): a shorter one redelivers messages that merely wait in a
    /// busy test process, which breaks the ordering case.
    static func jetstreamComponent(url: String, _ extra: [String: String] = [:]) -> Component {
        Component(name: "pubsub", type: "pubsub.jetstream", metadata: ComponentMetadata(["natsURL": url].merging(extra) { $1 }))
    }
}

extension BrokerFixture {
    /// RabbitMQ with persistent messages and queues that outlive their consumers (Dapr's code
    /// defaults, `deliveryMode` 0 and `deletedWhenUnused` true, keep neither across a restart).
    static let rabbitmq: BrokerFixture = {
        guard let url = ProcessInfo.processInfo.environment["AMQP_URL"], !url.isEmpty else {
            return BrokerFixture(name: "rabbitmq", make: nil, unavailableReason: "AMQP_URL is not set (scripts/brokers start rabbitmq; eval \"$(scripts/brokers env)\")")
        }
        return BrokerFixture(name: "rabbitmq", make: {
            let broker = try RabbitMQBroker(component: rabbitComponent(url: url), logger: logger)
            try await broker.connect()
            return broker
        }, isolated: {
            let port = 10_000 + Int.random(in: 0..<1000)  // every port below the ephemeral range (32768+), where client sockets could hold it
            let env = ["AMQP_PORT": "\(port)", "AMQPS_PORT": "\(port + 3000)", "RABBIT_DIST_PORT": "\(port + 1000)", "EPMD_PORT": "\(port + 2000)", "RABBIT_NODE": "rabbit\(port)",
                       "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("conformance-rabbitmq-\(port)").path]
            try await BrokerScript.run(env: env, "start", "rabbitmq")
            let broker = try RabbitMQBroker(component: rabbitComponent(url: "amqp://guest:guest@127.0.0.1:\(port)/"), logger: logger)
            return IsolatedServer(broker: broker,
                                  restart: { try await BrokerScript.run(env: env, "restart", "rabbitmq") },
                                  stop: { try await BrokerScript.run(env: env, "stop", "rabbitmq") })
        })
    }()

    static func rabbitComponent(url: String) -> Component {
        Component(name: "pubsub", type: "pubsub.rabbitmq", metadata: ComponentMetadata(
            ["connectionString": url, "deliveryMode": "2", "deletedWhenUnused": "false", "reconnectWaitSeconds": "0.5"]))
    }
}

extension BrokerFixture {
    /// Mosquitto (MQTT 3.1.1) with persistence; each broker gets its own spool directory and client id.
    static let mqtt: BrokerFixture = {
        guard let url = ProcessInfo.processInfo.environment["MQTT_URL"], !url.isEmpty else {
            return BrokerFixture(name: "mqtt", make: nil, unavailableReason: "MQTT_URL is not set (scripts/brokers start mosquitto; eval \"$(scripts/brokers env)\")")
        }
        var fixture = BrokerFixture(name: "mqtt", make: { try await mqttBroker(url: url) }, isolated: {
            let port = 21_883 + Int.random(in: 0..<1000)
            let env = ["MQTT_PORT": "\(port)", "MQTTS_PORT": "\(port + 1000)",
                       "BROKERS_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("conformance-mqtt-\(port)").path]
            try await BrokerScript.run(env: env, "start", "mosquitto")
            let broker = try await mqttBroker(url: "tcp://127.0.0.1:\(port)")
            return IsolatedServer(broker: broker,
                                  restart: { try await BrokerScript.run(env: env, "restart", "mosquitto") },
                                  stop: { try await BrokerScript.run(env: env, "stop", "mosquitto") })
        })
        fixture.carriesMetadata = false
        return fixture
    }()

    static func mqttBroker(url: String) async throws -> any MessageBroker {
        let id = "conformance-\(UUID().uuidString.prefix(8))"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(id).path
        return try await MQTTBroker(component: Component(name: "pubsub", type: "pubsub.mqtt3", metadata: ComponentMetadata(["url": url, "consumerID": id])),
                                    appID: id, dataDirectory: dir, logger: logger)
    }
}

/// A broker connected to a server of its own.
struct IsolatedServer: Sendable {
    var broker: any MessageBroker
    var restart: @Sendable () async throws -> Void
    var stop: @Sendable () async throws -> Void
    var prepare: (@Sendable (any MessageBroker, String) async throws -> Void)? = nil
}

/// Runs `scripts/brokers` (the same script scripts/test uses) from the package root.
enum BrokerScript {
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    static func run(env extra: [String: String] = [:], _ arguments: String...) async throws {
        try await spawn(root.appendingPathComponent("scripts/brokers").path, arguments, env: extra)
    }

    /// Spawns `executable` and waits for it with `waitpid` on a dispatch queue (not the cooperative pool).
    static func spawn(_ executable: String, _ arguments: [String], env extra: [String: String]) async throws {
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let argv = ([executable] + arguments).map { strdup($0) } + [nil]
                defer { argv.forEach { free($0) } }
                var environment = ProcessInfo.processInfo.environment
                for (k, v) in extra { environment[k] = v }
                let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
                defer { envp.forEach { free($0) } }
                var pid: pid_t = 0
                guard posix_spawn(&pid, executable, nil, nil, argv, envp) == 0 else {
                    continuation.resume(returning: -1)
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        guard status == 0 else { throw ConformanceFailure("\(executable) \(arguments.joined(separator: " ")) failed (status \(status))") }
    }
}
