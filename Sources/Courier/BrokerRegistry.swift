import BrokerKit
import EmbeddedBroker
import JetStreamBroker
import KafkaBroker
import Logging
import MQTTBroker
import RabbitMQBroker
import RedisBroker
import Resources

/// Maps a component's `spec.type` to the adapter that serves it.
public struct BrokerRegistry: Sendable {
    /// Builds an adapter for a component.
    public typealias Factory = @Sendable (Component, BrokerContext) async throws(BrokerError) -> any MessageBroker

    /// What a factory may need besides the component.
    public struct BrokerContext: Sendable {
        public var appID: String
        public var dataDirectory: String
        public var logger: Logger
    }

    /// Checks a component's metadata without connecting.
    public typealias Check = @Sendable (Component) throws(BrokerError) -> Void

    private var factories: [String: Factory] = [:]
    private var checks: [String: Check] = [:]

    public init() {}

    /// The adapters this build of Courier ships.
    public static let standard: BrokerRegistry = {
        var r = BrokerRegistry()
        r.register("pubsub.embedded", check: EmbeddedBroker.validate) { component, context throws(BrokerError) in
            try EmbeddedBroker(component: component, durable: true, dataDirectory: context.dataDirectory, logger: context.logger)
        }
        r.register("pubsub.in-memory", check: EmbeddedBroker.validate) { component, context throws(BrokerError) in
            try EmbeddedBroker(component: component, durable: false, dataDirectory: context.dataDirectory, logger: context.logger)
        }
        r.register("pubsub.redis", check: RedisBroker.validate) { component, context throws(BrokerError) in
            let broker = try RedisBroker(component: component, logger: context.logger)
            return try await connected(broker) { () throws(BrokerError) in try await broker.connect() }
        }
        r.register("pubsub.kafka", check: KafkaBroker.validate) { component, context throws(BrokerError) in
            let broker = try KafkaBroker(component: component, logger: context.logger)
            return try await connected(broker) { () throws(BrokerError) in try await broker.connect() }
        }
        r.register("pubsub.jetstream", check: JetStreamBroker.validate) { component, context throws(BrokerError) in
            try await JetStreamBroker(component: component, logger: context.logger)
        }
        r.register("pubsub.rabbitmq", check: RabbitMQBroker.validate) { component, context throws(BrokerError) in
            let broker = try RabbitMQBroker(component: component, logger: context.logger)
            return try await connected(broker) { () throws(BrokerError) in try await broker.connect() }
        }
        r.register("pubsub.mqtt3", check: MQTTBroker.validate) { component, context throws(BrokerError) in
            try await MQTTBroker(component: component, appID: context.appID, dataDirectory: context.dataDirectory, logger: context.logger)
        }
        return r
    }()

    /// `broker` once `connect` succeeded; closed (its threads stopped) when it failed.
    private static func connected(_ broker: any MessageBroker, _ connect: () async throws(BrokerError) -> Void) async throws(BrokerError) -> any MessageBroker {
        do {
            try await connect()
        } catch {
            await broker.close()
            throw error
        }
        return broker
    }

    public mutating func register(_ type: String, check: Check? = nil, _ factory: @escaping Factory) {
        factories[type] = factory
        checks[type] = check
    }

    /// The problem with a component's metadata, if its adapter finds one.
    public func check(_ component: Component) -> BrokerError? {
        do {
            try checks[component.type]?(component)
            return nil
        } catch {
            return error
        }
    }

    /// Whether `type` (ignoring the `/version` suffix) has an adapter.
    public func supports(_ type: String) -> Bool { factories[type] != nil }

    public var types: [String] { factories.keys.sorted() }

    public func make(_ component: Component, context: BrokerContext) async throws(BrokerError) -> any MessageBroker {
        guard let factory = factories[component.type] else {
            throw BrokerError(.configuration, "\(component.location): component '\(component.name)': unknown component type '\(component.type)'")
        }
        return try await factory(component, context)
    }
}
