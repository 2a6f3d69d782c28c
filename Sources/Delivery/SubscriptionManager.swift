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
    let resiliencies: [ResiliencySpec]
    let breakers = CircuitBreakerRegistry()
    let globalLimit: AsyncSemaphore
    let logger: Logger
    let metrics: DeliveryMetrics
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
                resiliencies: [ResiliencySpec], maxConcurrency: Int, logger: Logger, metrics: DeliveryMetrics) {
        self.appID = appID
        self.pubsubs = pubsubs
        self.channel = channel
        self.resiliencies = resiliencies
        self.globalLimit = AsyncSemaphore(permits: maxConcurrency)
        self.logger = logger
        self.metrics = metrics
        state = Mutex(State(declarative: declarative))
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
        await changes.acquire()
        defer { changes.release() }
        let (ready, programmatic, running) = state.withLock { s in
            s.declarative = declarative
            return (s.ready && !s.stopping && !s.paused, s.programmatic, s.running.mapValues(\.runner.subscription))
        }
        guard ready, let channel else { return [] }
        let wanted = SubscriptionDiscovery.merge(declarative: declarative, programmatic: programmatic, logger: logger)
        let wantedByKey = Dictionary(wanted.map { ($0.key, $0) }) { a, _ in a }
        var summary: [String] = []
        for (key, current) in running {
            if let next = wantedByKey[key], next.hasSameDefinition(as: current) { continue }
            await stop(key)
            summary.append("\(wantedByKey[key] == nil ? "removed" : "changed") \(current.pubsubName)/\(current.topic)")
        }
        let toStart = wanted.filter { spec in state.withLock { $0.running[spec.key] == nil } }
        for spec in toStart where running[spec.key] == nil { summary.append("added \(spec.pubsubName)/\(spec.topic)") }
        await startAll(toStart, channel: channel)
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
