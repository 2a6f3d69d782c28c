import BrokerKit
import CloudEvents
import Delivery
import Logging
import NIOCore
import NIOHTTP1
import Resources
import Synchronization

/// Reads one input binding and hands every message to the app (`POST {route}` with the raw
/// bytes) or, for a bridge, to its `forwardTo` output bindings. A message is acknowledged at the
/// source only once the app answered 2xx (after the inbound policy's retries) or every target
/// accepted it; otherwise it goes back to the source for redelivery. Cron ignores the answer.
/// While the app is unhealthy (`availability` closed) a message waits before it is delivered.
public final class InputBindingRunner: Sendable {
    /// Where it reads: the component loaded at start-up (shared with its output side), or a
    /// reader of its own opened when it starts reading (an `App`'s, in its consumer group).
    public enum Source: Sendable {
        case loaded(any InputBinding)
        case opened(@Sendable () async throws -> BindingComponent)
    }

    public let name: String
    let type: String
    let source: Source
    let settings: BindingSettings
    let channel: AppTarget?
    let hub: BindingHub
    private let currentPolicy: Mutex<InboundPolicy>
    /// Its inbound Resiliency policy (a reload may change it for the next message).
    var policy: InboundPolicy { currentPolicy.withLock { $0 } }
    /// Abandoned once it is removed: messages waiting for an unhealthy app go back to the source.
    let halted = AppAvailability()
    let metrics: BindingMetrics
    let logger: Logger
    let defaultTimeout: Double
    let availability: AppAvailability?

    public init(name: String, type: String, source: Source, settings: BindingSettings, channel: AppTarget?, hub: BindingHub,
                policy: InboundPolicy, metrics: BindingMetrics, logger: Logger, defaultTimeout: Double = 60,
                availability: AppAvailability? = nil) {
        self.name = name
        self.type = type
        self.source = source
        self.availability = availability
        self.settings = settings
        self.channel = channel
        self.hub = hub
        currentPolicy = Mutex(policy)
        halted.close()
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "binding"] = "\(name)"
        self.logger = logger
        self.defaultTimeout = defaultTimeout
    }

    /// Applies a changed inbound policy from the next message on.
    public func use(policy: InboundPolicy) { currentPolicy.withLock { $0 = policy } }

    /// Stops waiting for its app: it is being removed (see `waitForApp`).
    func halt() { halted.abandon() }

    var ignoresAnswer: Bool { type == "bindings.cron" }

    /// Whether to read at all (spec §9.2): a bridge or `direction: input` always reads; otherwise
    /// the app is asked with `OPTIONS {route}` (2xx or 405: yes; anything else: no). While the
    /// app is not reachable the probe is repeated for up to `waitSeconds`.
    public func shouldRead(waitSeconds: Double = 60, isCancelled: @Sendable () -> Bool = { Task.isCancelled }) async -> Bool {
        guard settings.inputAllowed else { return false }
        if !settings.forwardTo.isEmpty { return true }
        guard let channel else {
            logger.warning("input binding has no app to deliver to (no --app-port and no forwardTo); not read")
            return false
        }
        if settings.readsWithoutProbe { return true }
        var waited = 0.0
        while !isCancelled() {
            do {
                switch channel {
                case .http(let http):
                    let response = try await http.send(method: .OPTIONS, path: settings.route, timeout: 3)
                    let reads = (200..<300).contains(response.status) || response.status == 405
                    if !reads { logger.info("app answered OPTIONS \(settings.route) with \(response.status); input binding not read") }
                    return reads
                case .grpc(let callback):
                    let reads = try await callback.listInputBindings().contains(name)
                    if !reads { logger.info("the app's ListInputBindings does not name this binding; input binding not read") }
                    return reads
                }
            } catch {
                if waited >= waitSeconds {
                    logger.error("asking the app whether it reads this binding failed; input binding not read: \(error)")
                    return false
                }
                try? await Task.sleep(for: .milliseconds(500))
                waited += 0.5
            }
        }
        return false
    }

    /// Delivers every stream until each is stopped; in-flight messages finish first.
    public func run(_ streams: [DeliveryStream]) async {
        await withTaskGroup(of: Void.self) { group in
            for stream in streams { group.addTask { await self.run(stream) } }
        }
    }

    func run(_ stream: DeliveryStream) async {
        await stream.forEach(maxConcurrency: settings.maxConcurrency, logger: logger) { delivery in await self.handle(delivery) }
    }

    func handle(_ delivery: Delivery) async {
        if settings.forwardTo.isEmpty, let availability, !availability.isOpen, !(await waitForApp(availability)) {
            // The app or this binding is gone, or Courier stops, while the app was unhealthy: back to the source.
            try? await delivery.nack(redeliverAfter: 0)
            return
        }
        let started = RFC3339.currentUnixSeconds()
        let accepted = settings.forwardTo.isEmpty ? await deliverToApp(delivery) : await forward(delivery)
        if Task.isCancelled && !accepted { return }  // shutting down: the source redelivers it
        metrics.input(component: name, success: accepted, seconds: RFC3339.currentUnixSeconds() - started)
        do {
            if accepted || ignoresAnswer {
                try await delivery.ack()
            } else {
                try await delivery.nack(redeliverAfter: SubscriptionRunner.redeliveryDelay(attempt: delivery.attempt))
            }
        } catch {
            logger.warning("settling with the source failed (it will redeliver): \(error)")
        }
    }

    /// Waits until the app is healthy again; false when it is removed, Courier stops, or this
    /// runner is removed meanwhile.
    func waitForApp(_ availability: AppAvailability) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await availability.waitUntilOpen() }
            group.addTask { [halted] in
                _ = await halted.waitUntilOpen()
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// `POST {route}` (HTTP) or `OnBindingEvent` (gRPC) under the inbound policy; true once the
    /// app accepted the message.
    func deliverToApp(_ delivery: Delivery) async -> Bool {
        switch channel {
        case .http(let http): return await deliverOverHTTP(http, delivery)
        case .grpc(let callback): return await deliverOverGRPC(callback, delivery)
        case nil: return false
        }
    }

    func deliverOverGRPC(_ callback: any AppCallbackChannel, _ delivery: Delivery) async -> Bool {
        var metadata = delivery.metadata
        if metadata["traceparent"] == nil { metadata["traceparent"] = TraceContext.newRoot().traceparent }
        let policy = self.policy
        let timeout = policy.timeout(fallback: defaultTimeout)
        var reply: AppBindingReply?
        let (outcome, _) = await policy.run {
            do {
                reply = try await callback.onBindingEvent(name: name, data: delivery.payload, metadata: metadata, timeout: timeout)
                return .success
            } catch {
                return .retry(status: nil, reason: "OnBindingEvent failed: \(error)")
            }
        }
        guard case .success = outcome else {
            if case .retry(_, let reason) = outcome, !ignoresAnswer { logger.info("input binding message not accepted: \(reason); returned to the source") }
            return false
        }
        if let reply, !reply.to.isEmpty { await routeReply(reply) }
        return true
    }

    /// Dapr's reply routing: the app's `data` goes to each output binding in `to` (`create`),
    /// one after another or, with `PARALLEL`, at once. A failure is logged; the input message
    /// was accepted by the app and is not redelivered for it.
    func routeReply(_ answer: AppBindingReply) async {
        let request = BindingRequest(operation: "create", data: answer.data, metadata: [:])
        let send: @Sendable (String) async -> Void = { target in
            do throws(BindingHub.Failure) {
                _ = try await self.hub.invoke(target, request)
            } catch {
                self.logger.error("sending the app's reply to output binding \(target) failed: \(error.detail)")
            }
        }
        if answer.parallel {
            await withTaskGroup(of: Void.self) { group in
                for target in answer.to { group.addTask { await send(target) } }
            }
        } else {
            for target in answer.to { await send(target) }
        }
    }

    func deliverOverHTTP(_ channel: AppChannel, _ delivery: Delivery) async -> Bool {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        for (key, value) in delivery.metadata where HeaderRules.forwards(key) { headers.add(name: key, value: value) }
        if headers["traceparent"].isEmpty { headers.add(name: "traceparent", value: TraceContext.newRoot().traceparent) }
        let body = ByteBuffer(bytes: delivery.payload)
        let route = settings.route
        let policy = self.policy
        let timeout = policy.timeout(fallback: defaultTimeout)
        let (outcome, _) = await policy.run {
            do {
                let response = try await channel.send(method: .POST, path: route, headers: headers, body: body, timeout: timeout)
                // Only exactly 200 avoids a policy retry (spec §9.2); another 2xx still counts as accepted at the end.
                if response.status == 200 { return .success }
                return .retry(status: response.status, reason: "app answered HTTP \(response.status)")
            } catch {
                return .retry(status: nil, reason: "cannot reach the app: \(error)")
            }
        }
        switch outcome {
        case .success: return true
        case .retry(let status?, _) where (200..<300).contains(status): return true
        case .retry(_, let reason):
            if !ignoresAnswer { logger.info("input binding message not accepted: \(reason); returned to the source") }
            return false
        case .drop: return false
        }
    }

    /// `create` on every `forwardTo` target with the same bytes; true once all accepted.
    func forward(_ delivery: Delivery) async -> Bool {
        for target in settings.forwardTo {
            do throws(BindingHub.Failure) {
                _ = try await hub.invoke(target, BindingRequest(operation: "create", data: delivery.payload, metadata: Self.forwardedMetadata(delivery.metadata)))
            } catch {
                logger.info("forwarding to \(target) failed: \(error.detail); the message stays at the source")
                return false
            }
        }
        return true
    }

    /// Source metadata passed on to a target: the source's own keys (`__topic`, `mqttTopic`…)
    /// travel, but keys a target reads as instructions (`topic`, `subject`, `key`, `path`…) are
    /// left out so a bridge never redirects itself.
    static func forwardedMetadata(_ metadata: [String: String]) -> [String: String] {
        let instructions: Set<String> = ["topic", "subject", "key", "partitionkey", "path", "retain", "ttlinseconds", "priority",
                                         "contenttype", "operation", "delete", "errorifnot2xx"]
        return metadata.filter { !instructions.contains($0.key.lowercased()) && $0.key.first?.isUppercase != true }
    }
}
