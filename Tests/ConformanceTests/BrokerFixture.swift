import BrokerKit
import EmbeddedBroker
import Foundation
import Logging
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

    var description: String { name }

    static let logger: Logger = {
        var l = Logger(label: "conformance")
        l.logLevel = .warning
        return l
    }()

    /// `COURIER_REQUIRE_BROKERS=1` (set by scripts/test) turns a missing broker into a failure.
    static var brokersRequired: Bool { ProcessInfo.processInfo.environment["COURIER_REQUIRE_BROKERS"] == "1" }

    static let all: [BrokerFixture] = [embedded, redis]

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

/// A broker connected to a server of its own.
struct IsolatedServer: Sendable {
    var broker: any MessageBroker
    var restart: @Sendable () async throws -> Void
    var stop: @Sendable () async throws -> Void
}

/// Runs `scripts/brokers` (the same script scripts/test uses) from the package root.
enum BrokerScript {
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// Spawns the script and waits for it with `waitpid` on a dispatch queue (not the cooperative pool).
    static func run(env extra: [String: String] = [:], _ arguments: String...) async throws {
        let script = root.appendingPathComponent("scripts/brokers").path
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let argv = ([script] + arguments).map { strdup($0) } + [nil]
                defer { argv.forEach { free($0) } }
                var environment = ProcessInfo.processInfo.environment
                for (k, v) in extra { environment[k] = v }
                let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
                defer { envp.forEach { free($0) } }
                var pid: pid_t = 0
                guard posix_spawn(&pid, script, nil, nil, argv, envp) == 0 else {
                    continuation.resume(returning: -1)
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        guard status == 0 else { throw ConformanceFailure("scripts/brokers \(arguments.joined(separator: " ")) failed (status \(status))") }
    }
}
