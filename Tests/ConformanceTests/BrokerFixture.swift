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

    static let redis: BrokerFixture = {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], let u = URL(string: url), let host = u.host else {
            return BrokerFixture(name: "redis", make: nil, unavailableReason: "REDIS_URL is not set (scripts/brokers start redis; eval \"$(scripts/brokers env)\")")
        }
        let address = "\(host):\(u.port ?? 6379)"
        return BrokerFixture(name: "redis", make: {
            let component = Component(name: "pubsub", type: "pubsub.redis",
                                      metadata: ComponentMetadata(["redisHost": address, "processingTimeout": "2s", "redeliverInterval": "1s"]))
            let broker = try RedisBroker(component: component, logger: logger)
            try await broker.connect()
            return broker
        })
    }()
}
