import Bindings
import BrokerKit
import Delivery
import GRPCAPI
import HTTPAPI
import Logging
import NIOSSL
import Resources

/// One app Courier delivers to: the `--app-id`/`--app-port` app, or an `App` resource (gateway
/// mode). Each has what one app has in a sidecar, of its own: a channel (an HTTP connection pool,
/// or a gRPC AppCallback client), a consumer group on every pub/sub it may see, its declarative
/// subscriptions and resiliency policies, a concurrency limit, and the manager that runs them; an
/// `App` also reads its own input bindings. Its health gate pauses all of it while it is unhealthy.
public final class AppUnit: Sendable {
    /// What an app's input bindings need; its unit builds their runners with its channel.
    struct InputPlan: Sendable {
        struct Binding: Sendable {
            var component: Component
            var settings: BindingSettings
            var source: InputBindingRunner.Source
        }
        var bindings: [Binding]
        var hub: BindingHub
        var resiliencies: [ResiliencySpec]
        var metrics: BindingMetrics

        /// A runner for each binding, delivering through `channel`.
        func runners(channel: AppTarget, availability: AppAvailability, breakers: CircuitBreakerRegistry, logger: Logger) -> [InputBindingRunner] {
            bindings.map { b in
                let resolved = resiliencies.policy(component: b.component.name, category: "bindings", direction: .inbound)
                return InputBindingRunner(name: b.component.name, type: b.component.type, source: b.source, settings: b.settings, channel: channel,
                                          hub: hub, policy: InboundPolicy(resolved: resolved, breakers: breakers),
                                          metrics: metrics, logger: logger, availability: availability)
            }
        }
    }

    public let id: String
    /// `http://host:port`; `nil` for the flag app without `--app-port`.
    public let baseURL: String?
    public let protocolName: String
    public let subscriptions: SubscriptionManager
    /// Its input bindings (an `App`'s; the flag app's are read by the runtime's service).
    let inputs: InputBindingService?
    /// The circuit breakers of its input bindings.
    let inputBreakers = CircuitBreakerRegistry()
    let logger: Logger
    /// Its consumer group on a pub/sub.
    let grouping: @Sendable (SubscriptionManager.PubSub) -> String
    /// Closed while its health checks fail.
    let availability = AppAvailability()
    let pool: HTTP1ConnectionPool?
    let callback: AppCallbackClient?
    /// Its health probe, when health checks are on.
    let probe: AppHealthProbe?

    /// `pubsubs` are every loaded pub/sub; the unit keeps those whose scopes admit it, with
    /// `group(pubsub)` as its consumer group there.
    init(id: String, address: AppSpec.Address?, protocolName: String, appToken: String?, maxConcurrency: Int,
         pubsubs all: [String: SubscriptionManager.PubSub], group: @escaping @Sendable (SubscriptionManager.PubSub) -> String,
         resources: ResourceSet, namespace: String, logger: Logger, spec: AppSpec? = nil,
         healthCheck: AppHealthProbe.Settings? = nil, inputPlan: InputPlan? = nil) throws {
        self.id = id
        self.spec = spec
        self.protocolName = protocolName
        self.grouping = group
        baseURL = address?.url
        let pubsubs = Self.visible(all, to: id, group: group)
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
            let p = HTTP1ConnectionPool(host: address.host, port: address.port, maxConnections: 1024,
                                        tls: address.scheme == "https" ? try Self.tlsContext(caFile: spec?.caFile) : nil)
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
                                            metrics: DeliveryMetrics(appID: id, namespace: namespace), availability: availability)
        switch (healthCheck, channel) {
        case (let settings?, .http(let http)?):
            probe = AppHealthProbe(settings: settings, channel: http, subscriptions: subscriptions, availability: availability, logger: appLogger)
        case (let settings?, .grpc?):
            let client = callback!
            probe = AppHealthProbe(settings: settings, subscriptions: subscriptions, availability: availability, logger: appLogger) { timeout in
                await client.healthCheck(timeout: timeout)
            }
        default:
            probe = nil
        }
        self.logger = appLogger
        if let inputPlan, let channel {
            inputs = InputBindingService(runners: inputPlan.runners(channel: channel, availability: availability, breakers: inputBreakers, logger: appLogger),
                                         logger: appLogger)
        } else {
            inputs = nil
        }
    }

    /// TLS toward an `https://` app: verified against `caFile`, else the system's trust roots.
    static func tlsContext(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.trustRoots = .file(caFile) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The pub/subs app `id` may see, with its consumer group on each.
    static func visible(_ all: [String: SubscriptionManager.PubSub], to id: String,
                        group: (SubscriptionManager.PubSub) -> String) -> [String: SubscriptionManager.PubSub] {
        var pubsubs: [String: SubscriptionManager.PubSub] = [:]
        for (name, var pubsub) in all where pubsub.component.isVisible(to: id) {
            pubsub.consumerGroup = group(pubsub)
            pubsubs[name] = pubsub
        }
        return pubsubs
    }

    /// Uses `all` (the loaded pub/subs after a reload) from now on; the subscriptions on the
    /// pub/subs named in `replaced` start again on their new client.
    func apply(pubsubs all: [String: SubscriptionManager.PubSub], replaced: Set<String>) async -> [String] {
        await subscriptions.apply(pubsubs: Self.visible(all, to: id, group: grouping), replaced: replaced)
    }

    /// Stops reading the binding components named in `names`; returns once their runners drained.
    func stopReading(bindings names: Set<String>) async {
        guard let inputs else { return }
        let current = Set(inputs.runners.map(\.name))
        for name in names.sorted() where current.contains(name) { await inputs.remove(name) }
    }

    /// Starts reading what `plan` names (binding components added or changed by a reload).
    func startReading(_ plan: InputPlan) {
        guard let inputs, let channel = subscriptions.channel else { return }
        for runner in plan.runners(channel: channel, availability: availability, breakers: inputBreakers, logger: logger) {
            inputs.add(runner)
        }
    }

    /// Applies changed Resiliency policies to the next delivery of its subscriptions and input bindings.
    func apply(resiliencies: [ResiliencySpec]) async {
        await subscriptions.apply(resiliencies: resiliencies)
        for runner in inputs?.runners ?? [] {
            let resolved = resiliencies.policy(component: runner.name, category: "bindings", direction: .inbound)
            runner.use(policy: InboundPolicy(resolved: resolved, breakers: inputBreakers))
        }
    }

    /// The definition it was built from, to tell whether a reload changed it.
    let spec: AppSpec?

    /// The unit of an `App` resource: its consumer group is its id on every pub/sub, whatever the
    /// component's `consumerID` (which names the flag app's group).
    convenience init(app: AppSpec, pubsubs: [String: SubscriptionManager.PubSub], resources: ResourceSet, namespace: String,
                     logger: Logger, inputPlan: InputPlan? = nil) throws {
        let id = app.id
        try self.init(id: id, address: app.address, protocolName: app.protocolName, appToken: AppSpec.literal(app.appToken),
                      maxConcurrency: app.maxConcurrency, pubsubs: pubsubs, group: { _ in id }, resources: resources,
                      namespace: namespace, logger: logger, spec: app, healthCheck: app.healthCheck.map(AppHealthProbe.Settings.init),
                      inputPlan: inputPlan)
    }

    /// Runs the app's gRPC client (if any), its subscriptions and its input bindings until they
    /// stopped (shutdown, or `stop` for an app removed while running) and drained.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let callback { group.addTask { try? await callback.run() } }
            if let probe { group.addTask { await probe.run() } }
            await withTaskGroup(of: Void.self) { work in
                if let inputs { work.addTask { try? await inputs.run() } }
                try? await subscriptions.run()
                await inputs?.stopReading()
            }
            callback?.stop()
            group.cancelAll()
        }
    }

    /// Stops taking messages for this app; `run` returns once in-flight deliveries settled.
    func stop() async {
        await inputs?.stopReading()
        await subscriptions.stopTaking()
    }

    /// What `GET /v1.0-alpha1/apps` shows of it: live subscriptions with their backlog at its group.
    func status(inputBindings: [String]? = nil, backlogs cache: BacklogCache) async -> AppStatus {
        let active = subscriptions.activeSubscriptions
        var requests: [(key: BacklogCache.Key, broker: any MessageBroker)] = []
        var index: [Int?] = []
        for s in active {
            guard let pubsub = subscriptions.pubsub(named: s.pubsubName) else { index.append(nil); continue }
            index.append(requests.count)
            requests.append((.init(pubsub: s.pubsubName, topic: s.topic, group: pubsub.consumerGroup), pubsub.broker))
        }
        let backlogs = await cache.backlogs(requests)
        let subs = zip(active, index).map { s, i in
            AppStatus.Subscription(pubsub: s.pubsubName, topic: s.topic, routes: s.rules.map(\.path), deadLetterTopic: s.deadLetterTopic,
                                   backlog: i.flatMap { backlogs[$0] })
        }
        // With health checks, what they say; without, whether the app answered its subscription discovery.
        return AppStatus(id: id, baseURL: baseURL, protocolName: protocolName, healthy: probe?.isHealthy ?? subscriptions.isReady, subscriptions: subs,
                         inputBindings: inputBindings ?? inputs?.reading ?? [])
    }

    /// Closes its connections to the app (after deliveries drained).
    func close() async {
        await pool?.shutdown()
    }
}
