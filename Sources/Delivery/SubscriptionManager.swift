import BrokerKit
import Logging
import Resources
import ServiceLifecycle
import Synchronization

/// Starts a runner per subscription and drains them on shutdown: stop taking new messages,
/// let in-flight deliveries finish (the service group's grace period cancels the rest, which
/// then stay unacknowledged for redelivery).
public final class SubscriptionManager: Service, Sendable {
    /// One pub/sub component as the manager sees it.
    public struct PubSub: Sendable {
        public var broker: any MessageBroker
        public var component: Component
        public var scopes: TopicScopes
        public var consumerGroup: String

        public init(broker: any MessageBroker, component: Component, scopes: TopicScopes, consumerGroup: String) {
            self.broker = broker
            self.component = component
            self.scopes = scopes
            self.consumerGroup = consumerGroup
        }
    }

    let appID: String
    let pubsubs: [String: PubSub]
    /// How the app is reached; `nil` without one (no `--app-port`).
    public let channel: AppTarget?
    let declarative: [SubscriptionSpec]
    let resiliencies: [ResiliencySpec]
    let breakers = CircuitBreakerRegistry()
    let globalLimit: AsyncSemaphore
    let logger: Logger
    let metrics: DeliveryMetrics
    private let state = Mutex(State())

    struct State {
        var active: [SubscriptionSpec] = []
        var streams: [DeliveryStream] = []
        var stopping = false
        var ready = false
    }

    public init(appID: String, pubsubs: [String: PubSub], channel: AppTarget?, declarative: [SubscriptionSpec],
                resiliencies: [ResiliencySpec], maxConcurrency: Int, logger: Logger, metrics: DeliveryMetrics) {
        self.appID = appID
        self.pubsubs = pubsubs
        self.channel = channel
        self.declarative = declarative
        self.resiliencies = resiliencies
        self.globalLimit = AsyncSemaphore(permits: maxConcurrency)
        self.logger = logger
        self.metrics = metrics
    }

    /// Subscriptions being delivered (for the metadata API).
    public var activeSubscriptions: [SubscriptionSpec] { state.withLock { $0.active } }

    /// True once subscriptions were discovered and started (or there is no app).
    public var isReady: Bool { state.withLock { $0.ready } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.deliver()
        } onGracefulShutdown: {
            Task { await self.stopTaking() }
        }
    }

    /// Stops every subscription from taking new messages.
    public func stopTaking() async {
        let streams = state.withLock { s -> [DeliveryStream] in
            s.stopping = true
            return s.streams
        }
        for stream in streams { await stream.stop() }
    }

    func deliver() async {
        guard let channel else {
            if !declarative.isEmpty { logger.warning("no --app-port: declarative subscriptions are not delivered") }
            state.withLock { $0.ready = true }
            return
        }
        let programmatic = await SubscriptionDiscovery.discover(target: channel, logger: logger,
                                                                isCancelled: { Task.isCancelled || self.state.withLock { $0.stopping } })
        let all = SubscriptionDiscovery.merge(declarative: declarative, programmatic: programmatic, logger: logger)
        // Started together: a broker such as Kafka then joins its group once for all of them, and
        // start-up time does not grow with the number of subscriptions.
        let runners = await withTaskGroup(of: (Int, (SubscriptionRunner, DeliveryStream)?).self) { group in
            for (i, subscription) in all.enumerated() {
                group.addTask { (i, await self.start(subscription, channel: channel)) }
            }
            var started: [(Int, SubscriptionRunner, DeliveryStream)] = []
            for await (i, result) in group {
                if let (runner, stream) = result { started.append((i, runner, stream)) }
            }
            return started.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
        }
        let stopNow = state.withLock { s -> Bool in
            s.streams = runners.map(\.1)
            s.active = runners.map(\.0.subscription)
            s.ready = true
            return s.stopping
        }
        if stopNow { for (_, stream) in runners { await stream.stop() } }
        await withTaskGroup(of: Void.self) { group in
            for (runner, stream) in runners {
                group.addTask { await runner.run(stream) }
            }
        }
    }

    func start(_ subscription: SubscriptionSpec, channel: AppTarget) async -> (SubscriptionRunner, DeliveryStream)? {
        let label = "\(subscription.pubsubName)/\(subscription.topic)"
        guard let pubsub = pubsubs[subscription.pubsubName] else {
            logger.error("subscription to \(label): pubsub '\(subscription.pubsubName)' is not configured; ignored")
            return nil
        }
        guard pubsub.scopes.isAllowed(topic: subscription.topic, appID: appID, operation: .subscribe) else {
            logger.error("subscription to topic \(subscription.topic) is not allowed for app id \(appID)")
            return nil
        }
        let policy = InboundPolicy(resolved: resiliencies.policy(component: subscription.pubsubName, category: "pubsub", direction: .inbound),
                                   breakers: breakers)
        do {
            let runner = try SubscriptionRunner(subscription: subscription, broker: pubsub.broker, group: pubsub.consumerGroup,
                                                channel: channel, policy: policy, appID: appID, globalLimit: globalLimit,
                                                logger: logger, metrics: metrics)
            let stream = try await pubsub.broker.subscribe(SubscribeRequest(topic: subscription.topic, group: pubsub.consumerGroup,
                                                                            metadata: subscription.metadata))
            logger.info("subscribed", metadata: ["pubsub": "\(subscription.pubsubName)", "topic": "\(subscription.topic)",
                                                 "routes": "\(subscription.rules.map(\.path))", "origin": "\(subscription.origin.rawValue)"])
            return (runner, stream)
        } catch {
            logger.error("subscription to \(label) failed: \(error)")
            return nil
        }
    }
}
