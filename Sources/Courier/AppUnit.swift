import BrokerKit
import Delivery
import GRPCAPI
import HTTPAPI
import Logging
import Resources

/// One app Courier delivers to: the `--app-id`/`--app-port` app, or an `App` resource (gateway
/// mode). Each has what one app has in a sidecar, of its own: a channel (an HTTP connection pool,
/// or a gRPC AppCallback client), a consumer group on every pub/sub it may see, its declarative
/// subscriptions and resiliency policies, a concurrency limit, and the manager that runs them.
public final class AppUnit: Sendable {
    public let id: String
    /// `http://host:port`; `nil` for the flag app without `--app-port`.
    public let baseURL: String?
    public let protocolName: String
    public let subscriptions: SubscriptionManager
    let pubsubs: [String: SubscriptionManager.PubSub]
    let pool: HTTP1ConnectionPool?
    let callback: AppCallbackClient?
    /// Its health probe, when health checks are on (HTTP apps).
    let probe: AppHealthProbe?

    /// `pubsubs` are every loaded pub/sub; the unit keeps those whose scopes admit it, with
    /// `group(pubsub)` as its consumer group there.
    init(id: String, address: AppSpec.Address?, protocolName: String, appToken: String?, maxConcurrency: Int,
         pubsubs all: [String: SubscriptionManager.PubSub], group: (SubscriptionManager.PubSub) -> String,
         resources: ResourceSet, namespace: String, logger: Logger, spec: AppSpec? = nil,
         healthCheck: AppHealthProbe.Settings? = nil) throws {
        self.id = id
        self.spec = spec
        self.protocolName = protocolName
        baseURL = address?.url
        var pubsubs: [String: SubscriptionManager.PubSub] = [:]
        for (name, var pubsub) in all where pubsub.component.isVisible(to: id) {
            pubsub.consumerGroup = group(pubsub)
            pubsubs[name] = pubsub
        }
        self.pubsubs = pubsubs
        var pool: HTTP1ConnectionPool?
        var callback: AppCallbackClient?
        let channel: AppTarget?
        switch (address, protocolName) {
        case (let address?, "grpc"):
            let client = try AppCallbackClient(host: address.host, port: address.port, apiToken: appToken, logger: logger)
            callback = client
            channel = .grpc(client)
        case (let address?, _):
            // Each subscription has its own in-flight window (64 by default); the pool must hold more
            // than one window, or a subscription whose route hangs takes every connection to the app
            // and starves the others (with 64, a hanging /a left /b 0 of 300 events).
            let p = HTTP1ConnectionPool(host: address.host, port: address.port, maxConnections: 1024)
            pool = p
            channel = .http(AppChannel(pool: p, apiToken: appToken))
        case (nil, _):
            channel = nil
        }
        self.pool = pool
        self.callback = callback
        var appLogger = logger
        appLogger[metadataKey: "app"] = "\(id)"
        subscriptions = SubscriptionManager(appID: id, pubsubs: pubsubs, channel: channel,
                                            declarative: resources.subscriptions(for: id), resiliencies: resources.resiliencies(for: id),
                                            maxConcurrency: maxConcurrency, logger: appLogger,
                                            metrics: DeliveryMetrics(appID: id, namespace: namespace))
        if let healthCheck, case .http(let http)? = channel {
            probe = AppHealthProbe(settings: healthCheck, channel: http, subscriptions: subscriptions, logger: appLogger)
        } else {
            probe = nil
        }
    }

    /// The definition it was built from, to tell whether a reload changed it.
    let spec: AppSpec?

    /// The unit of an `App` resource: its consumer group is its id on every pub/sub, whatever the
    /// component's `consumerID` (which names the flag app's group).
    convenience init(app: AppSpec, pubsubs: [String: SubscriptionManager.PubSub], resources: ResourceSet, namespace: String,
                     logger: Logger) throws {
        try self.init(id: app.id, address: app.address, protocolName: app.protocolName, appToken: AppSpec.literal(app.appToken),
                      maxConcurrency: app.maxConcurrency, pubsubs: pubsubs, group: { _ in app.id }, resources: resources,
                      namespace: namespace, logger: logger, spec: app, healthCheck: app.healthCheck.map(AppHealthProbe.Settings.init))
    }

    /// Runs the app's gRPC client (if any) and its subscriptions until the subscriptions stopped
    /// (shutdown, or `stop` for an app removed while running) and drained.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let callback { group.addTask { try? await callback.run() } }
            if let probe { group.addTask { await probe.run() } }
            try? await subscriptions.run()
            callback?.stop()
            group.cancelAll()
        }
    }

    /// Stops taking messages for this app; `run` returns once in-flight deliveries settled.
    func stop() async {
        await subscriptions.stopTaking()
    }

    /// What `GET /v1.0-alpha1/apps` shows of it: live subscriptions with their backlog at its group.
    func status(inputBindings: [String]) async -> AppStatus {
        var subs: [AppStatus.Subscription] = []
        for s in subscriptions.activeSubscriptions {
            let pubsub = pubsubs[s.pubsubName]
            let backlog = try? await pubsub?.broker.backlog(topic: s.topic, group: pubsub?.consumerGroup ?? id)
            subs.append(.init(pubsub: s.pubsubName, topic: s.topic, routes: s.rules.map(\.path), deadLetterTopic: s.deadLetterTopic,
                              backlog: backlog))
        }
        // With health checks, what they say; without, whether the app answered its subscription discovery.
        return AppStatus(id: id, baseURL: baseURL, protocolName: protocolName, healthy: probe?.isHealthy ?? subscriptions.isReady, subscriptions: subs,
                         inputBindings: inputBindings)
    }

    /// Closes its connections to the app (after deliveries drained).
    func close() async {
        await pool?.shutdown()
    }
}
