import BrokerKit
import Delivery
import HTTPAPI
import Resources
import Synchronization

/// The pub/sub components Courier runs, by name: what start-up built and each reload changed.
/// The reloader replaces entries; the apps, the publisher and the closer at shutdown read them.
final class PubSubTable: Sendable {
    private let value: Mutex<[String: SubscriptionManager.PubSub]>

    init(_ pubsubs: [String: SubscriptionManager.PubSub] = [:]) {
        value = Mutex(pubsubs)
    }

    var all: [String: SubscriptionManager.PubSub] { value.withLock { $0 } }

    func set(_ pubsubs: [String: SubscriptionManager.PubSub]) {
        value.withLock { $0 = pubsubs }
    }

    /// What the publisher needs of each.
    var targets: [String: Publisher.Target] {
        all.mapValues { .init(broker: $0.broker, scopes: $0.scopes, consumerGroup: $0.consumerGroup, appScopes: $0.component.scopes) }
    }

    /// Connects a pub/sub component: its adapter (behind the namespace prefix, if any), its topic
    /// scopes and the flag app's consumer group (`consumerGroup`, `consumerID`, else the app id).
    static func make(_ component: Component, registry: BrokerRegistry, context: BrokerRegistry.BrokerContext) async throws -> SubscriptionManager.PubSub {
        var broker = try await registry.make(component, context: context)
        if let prefix = component.topicPrefix { broker = NamespacedBroker(broker, topicPrefix: prefix) }
        let group = component.metadata["consumerGroup"].flatMap { $0.isEmpty ? nil : $0 }
            ?? component.metadata["consumerID"].flatMap { $0.isEmpty ? nil : $0 } ?? context.appID
        return .init(broker: broker, component: component, scopes: TopicScopes(metadata: component.metadata), consumerGroup: group)
    }
}
