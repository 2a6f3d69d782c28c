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
    /// How the app is reached; `nil` without one (no `--app-port`).
    public let channel: AppTarget?
    let breakers = CircuitBreakerRegistry()
    let globalLimit: AsyncSemaphore
    let logger: Logger
    let metrics: DeliveryMetrics
    /// The app's health gate (with health checks).
    let availability: AppAvailability?
    /// One change at a time: the first start, then each `apply`.
    private let changes = AsyncSemaphore(permits: 1)
    private let state: Mutex<State>
    private let commands: (stream: AsyncStream<Command>, continuation: AsyncStream<Command>.Continuation)

    /// A subscription being delivered, and how to wait for it to finish draining.
    struct Running: Sendable {
        var runner: SubscriptionRunner
        var stream: DeliveryStream
        var finished: AsyncStream<Void>
    }

    /// What `deliver` is asked to run next.
    enum Command: Sendable {
        case run(SubscriptionRunner, DeliveryStream, AsyncStream<Void>.Continuation)
    }

    struct State {
        /// The pub/subs it may subscribe to, with its consumer group on each.
        var pubsubs: [String: PubSub]
        /// Pub/subs whose client a reload is replacing: their subscriptions wait, stopped.
        var held: Set<String> = []
        var resiliencies: [ResiliencySpec]
        var declarative: [SubscriptionSpec]
        var programmatic: [SubscriptionSpec] = []
        /// In the order they were merged, keyed by `SubscriptionSpec.key`.
        var order: [String] = []
        var running: [String: Running] = [:]
        var stopping = false
        var ready = false
        /// The app is unhealthy: nothing runs until `resume`.
        var paused = false
        var active: [SubscriptionSpec] { order.compactMap { running[$0]?.runner.subscription } }
    }

    public init(appID: String, pubsubs: [String: PubSub], channel: AppTarget?, declarative: [SubscriptionSpec],
                resiliencies: [ResiliencySpec], maxConcurrency: Int, logger: Logger, metrics: DeliveryMetrics,
                availability: AppAvailability? = nil) {
        self.appID = appID
        self.availability = availability
        self.channel = channel
        self.globalLimit = AsyncSemaphore(permits: maxConcurrency)
        self.logger = logger
        self.metrics = metrics
        state = Mutex(State(pubsubs: pubsubs, resiliencies: resiliencies, declarative: declarative))
        commands = AsyncStream.makeStream()
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

    /// Stops every subscription from taking new messages; `run` returns once in-flight deliveries settled.
    public func stopTaking() async {
        let streams = state.withLock { s -> [DeliveryStream] in
            s.stopping = true
            return s.running.values.map(\.stream)
        }
        commands.continuation.finish()
        for stream in streams { await stream.stop() }
    }

    func deliver() async {
        guard let channel else {
            if !state.withLock({ $0.declarative.isEmpty }) { logger.warning("no --app-port: declarative subscriptions are not delivered") }
            state.withLock { $0.ready = true }
            commands.continuation.finish()
            return
        }
        await changes.acquire()
        let programmatic = await SubscriptionDiscovery.discover(target: channel, logger: logger,
                                                                isCancelled: { Task.isCancelled || self.state.withLock { $0.stopping } })
        let declarative = state.withLock { s -> [SubscriptionSpec] in
            s.programmatic = programmatic
            return s.declarative
        }
        let all = SubscriptionDiscovery.merge(declarative: declarative, programmatic: programmatic, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            // Started together: a broker such as Kafka then joins its group once for all of them, and
            // start-up time does not grow with the number of subscriptions.
            if !state.withLock({ $0.paused }) { await startAll(all, channel: channel) }
            state.withLock { $0.ready = true }
            changes.release()
            for await command in commands.stream {
                switch command {
                case .run(let runner, let stream, let done):
                    group.addTask {
                        await runner.run(stream)
                        done.finish()
                    }
                }
            }
        }
    }

    /// Subscribes `specs` concurrently and hands each started one to `deliver`'s task group.
    private func startAll(_ specs: [SubscriptionSpec], channel: AppTarget) async {
        let started = await withTaskGroup(of: (Int, (SubscriptionRunner, DeliveryStream)?).self) { group in
            for (i, subscription) in specs.enumerated() {
                group.addTask { (i, await self.start(subscription, channel: channel)) }
            }
            var started: [(Int, SubscriptionRunner, DeliveryStream)] = []
            for await (i, result) in group {
                if let (runner, stream) = result { started.append((i, runner, stream)) }
            }
            return started.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
        }
        for (runner, stream) in started {
            let (finished, done) = AsyncStream<Void>.makeStream()
            let accepted = state.withLock { s -> Bool in
                guard !s.stopping else { return false }
                let key = runner.subscription.key
                if !s.order.contains(key) { s.order.append(key) }
                s.running[key] = Running(runner: runner, stream: stream, finished: finished)
                return true
            }
            if accepted, case .enqueued = commands.continuation.yield(.run(runner, stream, done)) { continue }
            state.withLock { _ = $0.running.removeValue(forKey: runner.subscription.key) }
            await stream.stop()
        }
    }

    /// Applies a new set of declarative subscriptions while delivering: a subscription whose
    /// definition is unchanged is not touched (it never pauses); a removed one stops taking
    /// messages and drains (what it did not take stays in the broker for the app's group); a
    /// changed one drains and starts again; a new one starts. Returns what changed, as log text.
    @discardableResult
    public func apply(declarative: [SubscriptionSpec]) async -> [String] {
        await reconcile { s in
            s.declarative = declarative
            return []
        }
    }

    /// Uses `pubsubs` from now on. The subscriptions of the pub/subs named in `replaced` (a changed
    /// component, now a new client) drain and start again on the new one; those of a pub/sub no
    /// longer there drain and stop; one that could not start before (its pub/sub was missing)
    /// starts; every other subscription is not touched.
    @discardableResult
    public func apply(pubsubs: [String: PubSub], replaced: Set<String>) async -> [String] {
        await reconcile { s in
            s.pubsubs = pubsubs
            s.held = []
            return replaced
        }
    }

    /// Stops the subscriptions on the pub/subs named in `names` (in-flight deliveries settle) and
    /// keeps them stopped until `apply(pubsubs:replaced:)`: their client is being replaced.
    public func hold(pubsubs names: Set<String>) async {
        _ = await reconcile { s in
            s.held = names
            return names
        }
    }

    /// The pub/sub named `name` as this app sees it (its consumer group there).
    public func pubsub(named name: String) -> PubSub? { state.withLock { $0.pubsubs[name] } }

    /// The running subscription to `topic` on `pubsub`, if any.
    public func runner(pubsub: String, topic: String) -> SubscriptionRunner? {
        state.withLock { s in s.running.values.first { $0.runner.subscription.pubsubName == pubsub && $0.runner.subscription.topic == topic }?.runner }
    }

    /// Uses `resiliencies` from the next delivery on, in every running subscription (none pauses).
    public func apply(resiliencies: [ResiliencySpec]) async {
        await changes.acquire()
        defer { changes.release() }
        let runners = state.withLock { s -> [SubscriptionRunner] in
            s.resiliencies = resiliencies
            return s.running.values.map(\.runner)
        }
        for runner in runners { runner.update(policy: policy(for: runner.subscription, resiliencies: resiliencies)) }
    }

    /// Changes the state with `change` (which names the pub/subs whose subscriptions must restart),
    /// then brings the running subscriptions in line with it.
    private func reconcile(_ change: (inout State) -> Set<String>) async -> [String] {
        await changes.acquire()
        defer { changes.release() }
        let (ready, declarative, programmatic, running, restart) = state.withLock { s in
            let restart = change(&s)
            return (s.ready && !s.stopping && !s.paused, s.declarative, s.programmatic, s.running.mapValues(\.runner.subscription), restart)
        }
        guard ready, let channel else { return [] }
        let wanted = SubscriptionDiscovery.merge(declarative: declarative, programmatic: programmatic, logger: logger)
        let wantedByKey = Dictionary(wanted.map { ($0.key, $0) }) { a, _ in a }
        var summary: [String] = []
        for (key, current) in running {
            if let next = wantedByKey[key], next.hasSameDefinition(as: current), !restart.contains(current.pubsubName) { continue }
            await stop(key)
            if restart.contains(current.pubsubName) && wantedByKey[key] != nil { continue }
            if wantedByKey[key] == nil {
                summary.append("removed \(current.pubsubName)/\(current.topic)")
            } else if !restart.contains(current.pubsubName) {
                summary.append("changed \(current.pubsubName)/\(current.topic)")
            }
        }
        let toStart = wanted.filter { spec in state.withLock { $0.running[spec.key] == nil && !$0.held.contains(spec.pubsubName) } }
        await startAll(toStart, channel: channel)
        let live = state.withLock { s in Set(s.running.keys) }
        for spec in toStart where live.contains(spec.key) {
            if restart.contains(spec.pubsubName) {
                summary.append("restarted \(spec.pubsubName)/\(spec.topic)")
            } else if running[spec.key] == nil {
                summary.append("added \(spec.pubsubName)/\(spec.topic)")
            }
        }
        state.withLock { s in s.order = wanted.map(\.key).filter { s.running[$0] != nil } }
        return summary
    }

    /// Stops every subscription taking messages (in-flight deliveries settle first) until `resume`:
    /// for an app that stopped answering its health checks.
    public func pause() async {
        await changes.acquire()
        defer { changes.release() }
        let keys = state.withLock { s -> [String] in
            guard !s.paused else { return [] }
            s.paused = true  // also before the first start, which then starts nothing
            return Array(s.running.keys)
        }
        for key in keys { await stop(key) }
    }

    /// Reads the app's subscriptions again and starts them: it answers its health checks again.
    public func resume() async {
        await changes.acquire()
        defer { changes.release() }
        guard let channel, state.withLock({ $0.paused && !$0.stopping }) else { return }
        let programmatic = await SubscriptionDiscovery.discover(target: channel, logger: logger,
                                                                isCancelled: { Task.isCancelled || self.state.withLock { $0.stopping } })
        let declarative = state.withLock { s -> [SubscriptionSpec] in
            s.programmatic = programmatic
            s.paused = false
            return s.declarative
        }
        let wanted = SubscriptionDiscovery.merge(declarative: declarative, programmatic: programmatic, logger: logger)
        await startAll(wanted, channel: channel)
        state.withLock { s in s.order = wanted.map(\.key).filter { s.running[$0] != nil } }
    }

    /// Stops one subscription taking messages and waits until its in-flight deliveries settled.
    private func stop(_ key: String) async {
        guard let running = state.withLock({ $0.running.removeValue(forKey: key) }) else { return }
        await running.stream.stop()
        for await _ in running.finished {}
    }

    func start(_ subscription: SubscriptionSpec, channel: AppTarget) async -> (SubscriptionRunner, DeliveryStream)? {
        let label = "\(subscription.pubsubName)/\(subscription.topic)"
        let (pubsub, resiliencies) = state.withLock { ($0.pubsubs[subscription.pubsubName], $0.resiliencies) }
        guard let pubsub else {
            logger.error("subscription to \(label): pubsub '\(subscription.pubsubName)' is not configured; ignored")
            return nil
        }
        guard pubsub.scopes.isAllowed(topic: subscription.topic, appID: appID, operation: .subscribe) else {
            logger.error("subscription to topic \(subscription.topic) is not allowed for app id \(appID)")
            return nil
        }
        let policy = self.policy(for: subscription, resiliencies: resiliencies)
        do {
            let runner = try SubscriptionRunner(subscription: subscription, broker: pubsub.broker, group: pubsub.consumerGroup,
                                                channel: channel, policy: policy, appID: appID, globalLimit: globalLimit,
                                                logger: logger, metrics: metrics, availability: availability)
            let stream = try await pubsub.broker.subscribe(SubscribeRequest(topic: subscription.topic, group: pubsub.consumerGroup,
                                                                            metadata: subscription.metadata, window: runner.window))
            logger.info("subscribed", metadata: ["pubsub": "\(subscription.pubsubName)", "topic": "\(subscription.topic)",
                                                 "routes": "\(subscription.rules.map(\.path))", "origin": "\(subscription.origin.rawValue)"])
            return (runner, stream)
        } catch {
            logger.error("subscription to \(label) failed: \(error)")
            return nil
        }
    }

    private func policy(for subscription: SubscriptionSpec, resiliencies: [ResiliencySpec]) -> InboundPolicy {
        InboundPolicy(resolved: resiliencies.policy(component: subscription.pubsubName, category: "pubsub", direction: .inbound),
                      breakers: breakers)
    }
}
