import AsyncHTTPClient
import Bindings
import BrokerKit
import JetStreamBroker
import KafkaBroker
import Logging
import MQTTBroker
import RabbitMQBroker
import RedisBroker
import Resources

/// Maps a binding component's `spec.type` to the code that serves it: the broker bindings live
/// beside their pub/sub adapters and reuse their client types; HTTP and cron live in `Bindings`.
public struct BindingRegistry: Sendable {
    /// What a factory may need besides the component.
    public struct Context: Sendable {
        public var appID: String
        public var dataDirectory: String
        public var httpClient: HTTPClient
        public var logger: Logger
    }

    public typealias Factory = @Sendable (Component, Context) async throws(BrokerError) -> BindingComponent
    public typealias Check = @Sendable (Component) throws(BrokerError) -> Void

    private var factories: [String: Factory] = [:]
    private var checks: [String: Check] = [:]

    public init() {}

    public static let standard: BindingRegistry = {
        var r = BindingRegistry()
        r.register("bindings.kafka", check: KafkaBinding.validate) { c, ctx throws(BrokerError) in
            let b = try KafkaBinding(component: c, appID: ctx.appID, logger: ctx.logger)
            do throws(BrokerError) { try await b.connect() } catch { await b.close(); throw error }
            return BindingComponent(name: c.name, type: c.type, input: b.canRead ? b : nil, output: b.canWrite ? b : nil, close: { await b.close() })
        }
        r.register("bindings.rabbitmq", check: RabbitMQBinding.validate) { c, ctx throws(BrokerError) in
            let b = try RabbitMQBinding(component: c, logger: ctx.logger)
            do throws(BrokerError) { try await b.connect() } catch { await b.close(); throw error }
            return BindingComponent(name: c.name, type: c.type, input: b, output: b, close: { await b.close() })
        }
        r.register("bindings.mqtt3", check: MQTTBinding.validate) { c, ctx throws(BrokerError) in
            let b = try await MQTTBinding(component: c, appID: ctx.appID, dataDirectory: ctx.dataDirectory, logger: ctx.logger)
            return BindingComponent(name: c.name, type: c.type, input: b, output: b, close: { await b.close() })
        }
        r.register("bindings.redis", check: RedisBinding.validate) { c, ctx throws(BrokerError) in
            let b = try RedisBinding(component: c, appID: ctx.appID, logger: ctx.logger)
            do throws(BrokerError) { try await b.connect() } catch { await b.close(); throw error }
            return BindingComponent(name: c.name, type: c.type, input: b.canRead ? b : nil, output: b, close: { await b.close() })
        }
        r.register("bindings.jetstream", check: JetStreamBinding.validate) { c, ctx throws(BrokerError) in
            let b = try await JetStreamBinding(component: c, appID: ctx.appID, logger: ctx.logger)
            return BindingComponent(name: c.name, type: c.type, input: b.canRead ? b : nil, output: b, close: { await b.close() })
        }
        r.register("bindings.http", check: HTTPBinding.validate) { c, ctx throws(BrokerError) in
            let b = try HTTPBinding(component: c, client: ctx.httpClient)
            return BindingComponent(name: c.name, type: c.type, input: nil, output: b, close: {})
        }
        r.register("bindings.cron", check: CronBinding.validate) { c, _ throws(BrokerError) in
            let b = try CronBinding(component: c)
            return BindingComponent(name: c.name, type: c.type, input: b, output: nil, close: {})
        }
        return r
    }()

    public mutating func register(_ type: String, check: Check? = nil, _ factory: @escaping Factory) {
        factories[type] = factory
        checks[type] = check
    }

    public func supports(_ type: String) -> Bool { factories[type] != nil }

    public var types: [String] { factories.keys.sorted() }

    /// The problem with a component's metadata, if its binding finds one.
    public func check(_ component: Component) -> BrokerError? {
        do {
            try checks[component.type]?(component)
            return nil
        } catch {
            return error
        }
    }

    public func make(_ component: Component, context: Context) async throws(BrokerError) -> BindingComponent {
        guard let factory = factories[component.type] else {
            throw BrokerError(.configuration, "unknown binding type '\(component.type)'")
        }
        return try await factory(component, context)
    }
}
