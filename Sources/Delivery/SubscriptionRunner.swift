import BrokerKit
import CloudEvents
import Logging
import NIOCore
import NIOHTTP1
import Resources
import Synchronization

/// Delivers one subscription: pulls from the broker with bounded concurrency, routes each
/// event, pushes it to the app under the inbound policy, dead-letters, and settles it once
/// (spec §3.4–3.7, §5, §8).
public final class SubscriptionRunner: Sendable {
    public let subscription: SubscriptionSpec
    let broker: any MessageBroker
    let group: String
    let channel: AppTarget
    /// Its inbound Resiliency policy; a reload may replace it, for the next delivery.
    private let currentPolicy: Mutex<InboundPolicy>
    var policy: InboundPolicy { currentPolicy.withLock { $0 } }
    let routes: RouteTable
    let appID: String
    let limit: AsyncSemaphore
    /// Deliveries in flight at once (`maxConcurrency`, default 64).
    public let perSubscription: Int
    let logger: Logger
    let metrics: DeliveryMetrics
    /// This subscription's ingress metric handles, per outcome.
    let ingress: DeliveryMetrics.IngressOutcomes
    let defaultTimeout: Double
    /// Closed while the app is unhealthy: what fails then goes back to the broker, not to a dead-letter topic.
    let availability: AppAvailability?
    /// `orderingKey`: events with the same key go one at a time, in broker order.
    let ordering: OrderingKey?
    /// How many deliveries it may hold unsettled (the broker's prefetch window): ordered
    /// delivery queues events behind busy keys, so it holds more than it runs.
    public let window: Int

    public init(subscription: SubscriptionSpec, broker: any MessageBroker, group: String, channel: AppTarget,
                policy: InboundPolicy, appID: String, globalLimit: AsyncSemaphore, logger: Logger,
                metrics: DeliveryMetrics, defaultTimeout: Double = 60, availability: AppAvailability? = nil) throws(RouteTable.Invalid) {
        self.subscription = subscription
        self.availability = availability
        self.broker = broker
        self.group = group
        self.channel = channel
        self.currentPolicy = Mutex(policy)
        self.routes = try RouteTable(rules: subscription.rules)
        self.appID = appID
        self.limit = globalLimit
        let configured = subscription.metadata.first { $0.key.lowercased() == "maxconcurrency" }.flatMap { Int($0.value) } ?? 0
        self.perSubscription = configured > 0 ? configured : 64
        if let source = subscription.metadata.first(where: { $0.key.lowercased() == "orderingkey" })?.value,
           !source.trimmingSpaces.isEmpty {
            ordering = try OrderingKey(source)
        } else {
            ordering = nil
        }
        window = ordering == nil ? 64 : max(64, perSubscription * 4)
        var logger = logger
        logger[metadataKey: "pubsub"] = "\(subscription.pubsubName)"
        logger[metadataKey: "topic"] = "\(subscription.topic)"
        self.logger = logger
        self.metrics = metrics
        self.ingress = metrics.ingress(component: subscription.pubsubName, topic: subscription.topic)
        self.defaultTimeout = defaultTimeout
    }

    /// Subscribes and delivers until `stream` is stopped; in-flight deliveries finish first.
    public func run(_ stream: DeliveryStream) async {
        if subscription.bulkSubscribe.enabled {
            await runBulk(stream)
            return
        }
        if let ordering {
            await stream.forEachOrdered(maxConcurrency: perSubscription, maxBuffered: window, logger: logger,
                                        admit: { await self.limit.acquire() },
                                        key: { try? self.key(of: $0, ordering).get() }) { delivery, key in
                await self.handleInOrder(delivery, key: key, ordering)
                self.limit.release()
            }
            return
        }
        await stream.forEach(maxConcurrency: perSubscription, logger: logger, admit: { await self.limit.acquire() }) { delivery in
            await self.handle(delivery)
            self.limit.release()
        }
    }

    /// The ordering key of `delivery` (of its envelope; a raw payload's as delivered to the app).
    func key(of delivery: Delivery, _ ordering: OrderingKey) -> Result<String, RouteTable.Invalid> {
        let envelope = subscription.rawPayload
            ? Envelope.wrapRaw(payload: delivery.payload, topic: subscription.topic, pubsubName: subscription.pubsubName, trace: nil)
            : delivery.payload
        return ordering.key(envelope: envelope)
    }

    /// Ordered delivery of one event: it holds its key until it is accepted, dropped or
    /// dead-lettered. Where it would go back to the broker (no dead-letter topic, the app
    /// unhealthy) it is tried again here after the broker's back-off instead, so no later event
    /// of its key overtakes it. An event whose key cannot be evaluated goes where a rule error goes.
    func handleInOrder(_ delivery: Delivery, key: String?, _ ordering: OrderingKey) async {
        if key == nil, case .failure(let why) = self.key(of: delivery, ordering) {
            logger.warning("\(why); dead-lettering or returning it to the broker")
            await failUnprocessable(delivery, record(.ruleerror, delivery, answer: AppAnswer(error: why.description)))
            return
        }
        var rounds = 0
        var progress = Progress()  // the app's attempts across rounds, for a dead-letter record
        while await handle(delivery, holding: true, progress: &progress) {
            rounds += 1
            do {
                try await Task.sleep(for: .seconds(Self.redeliveryDelay(attempt: rounds)))
            } catch {
                return  // shutting down: unsettled, the broker redelivers it
            }
        }
    }

    /// Uses `policy` from the next delivery on (a changed Resiliency resource).
    func update(policy: InboundPolicy) {
        currentPolicy.withLock { $0 = policy }
    }

    // MARK: One delivery

    /// What became of one event over its delivery rounds.
    struct Progress {
        /// The app's attempts, every round counted.
        var attempts = 0
        /// The app accepted it.
        var accepted = false
    }

    /// Delivers one event and settles it. With `holding` (ordered delivery) an event that would
    /// go back to the broker is left unsettled and `true` returned: the caller tries it again.
    @discardableResult
    func handle(_ delivery: Delivery, holding: Bool = false) async -> Bool {
        var progress = Progress()
        return await handle(delivery, holding: holding, progress: &progress)
    }

    /// Delivers `delivery` (a redriven dead letter) as one of this subscription's events, under
    /// its routing, resiliency and the app's concurrency limit, and settles it: true when the app
    /// accepted it (a failure dead-letters it again, with its attempts counted).
    public func redeliver(_ delivery: Delivery) async -> Bool {
        await limit.acquire()
        defer { limit.release() }
        var progress = Progress()
        _ = await handle(delivery, holding: false, progress: &progress)
        return progress.accepted
    }

    func handle(_ delivery: Delivery, holding: Bool, progress: inout Progress) async -> Bool {
        let started = RFC3339.currentUnixSeconds()
        // 1. The body the app receives, and the attributes the decision needs.
        var body = delivery.payload
        let fields: EnvelopeFields?
        if subscription.rawPayload {
            let trace = delivery.metadata["traceparent"].flatMap { TraceContext(traceparent: $0, traceState: delivery.metadata["tracestate"] ?? "") }
            body = Envelope.wrapRaw(payload: delivery.payload, topic: subscription.topic, pubsubName: subscription.pubsubName, trace: trace)
            fields = EnvelopeFields.scan(body)
        } else {
            fields = EnvelopeFields.scan(body)
        }
        guard let fields else {
            logger.warning("message is not a CloudEvent; dead-lettering or returning it to the broker")
            return await failUnprocessable(delivery, record(.unparseable, delivery), holding: holding)
        }
        // 2. Expiry.
        if fields.isExpired(now: started) {
            logger.warning("message expired at \(fields.expiration ?? "")", metadata: ["id": "\(fields.id ?? "")"])
            return await deadLetterThenAck(delivery, record(.expired, delivery), holding: holding)
        }
        // 3. Routing.
        let path: String
        switch routes.route(envelope: body) {
        case .path(let p):
            path = p
        case .noMatch:
            logger.debug("no route matched; dropping", metadata: ["id": "\(fields.id ?? "")"])
            ingress.drop.record(0)
            return await deadLetterThenAck(delivery, record(.unroutable, delivery), holding: holding)
        case .error(let why):
            logger.warning("\(why); dead-lettering or returning it to the broker", metadata: ["id": "\(fields.id ?? "")"])
            return await failUnprocessable(delivery, record(.ruleerror, delivery, answer: AppAnswer(error: why)), holding: holding)
        }
        // 4. Push under the inbound policy.
        let push: @Sendable () async -> (DeliveryOutcome, AppAnswer)
        let policy = self.policy
        let timeout = policy.timeout(fallback: defaultTimeout)
        switch channel {
        case .http(let http):
            let headers = makeHeaders(delivery.metadata, trace: fields.trace)
            let buffer = ByteBuffer(bytes: body)
            push = { await Self.push(http, path: path, headers: headers, body: buffer, timeout: timeout) }
        case .grpc(let callback):
            let event = body, subscription = subscription, trace = fields.trace?.child()
            push = { await callback.onTopicEvent(event, path: path, subscription: subscription, trace: trace, timeout: timeout) }
        }
        var answer = AppAnswer()
        let (outcome, retries) = await policy.run(onRetry: { _ in
            self.metrics.retry(component: self.subscription.pubsubName, topic: self.subscription.topic)
        }) {
            let (outcome, last) = await push()
            answer = last
            return outcome
        }
        let seconds = RFC3339.currentUnixSeconds() - started
        progress.attempts += retries + 1
        if Task.isCancelled {
            // Shutting down: neither dead-letter nor nack; the broker redelivers.
            return false
        }
        switch outcome {
        case .success:
            ingress.success.record(seconds)
            progress.accepted = true
            await settle(delivery, ack: true)
            return false
        case .drop:
            logger.warning("app dropped the message", metadata: ["id": "\(fields.id ?? "")"])
            ingress.drop.record(seconds)
            return await deadLetterThenAck(delivery, record(answer.status == "404" ? .notfound : .drop, delivery, attempts: progress.attempts,
                                                            answer: answer, route: path), holding: holding)
        case .retry(_, let reason):
            ingress.retry.record(seconds)
            logger.info("delivery failed: \(reason)", metadata: ["id": "\(fields.id ?? "")"])
            return await failUnprocessable(delivery, record(answer.timedOut ? .timeout : .maxretries, delivery, attempts: progress.attempts,
                                                            answer: answer, route: path), holding: holding)
        }
    }

    static func push(_ channel: AppChannel, path: String, headers: HTTPHeaders, body: ByteBuffer, timeout: Double) async -> (DeliveryOutcome, AppAnswer) {
        do {
            let response = try await channel.send(method: .POST, path: path, headers: headers, body: body, timeout: timeout)
            return (AppResponse.single(status: response.status, body: response.body), AppAnswer(http: response))
        } catch {
            return (.retry(status: nil, reason: "cannot reach the app: \(error)"),
                    AppAnswer(error: "\(error)", timedOut: (error as? HTTP1ExchangeError) == .timedOut))
        }
    }

    /// Headers toward the app (spec §3.4): metadata, `pubsubname`, trace, content type.
    func makeHeaders(_ metadata: [String: String], trace: TraceContext?) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(metadata.count + 4)
        headers.add(name: "content-type", value: ContentType.cloudEventsJSON)
        for (key, value) in metadata where HeaderRules.forwards(key) && !HeaderRules.isTraceKey(key) {
            headers.add(name: key, value: value)
        }
        headers.add(name: "pubsubname", value: subscription.pubsubName)
        if let child = trace?.child() {
            headers.add(name: "traceparent", value: child.traceparent)
            if !child.traceState.isEmpty { headers.add(name: "tracestate", value: child.traceState) }
        }
        return headers
    }

    // MARK: Settling

    /// The dead-letter record of `delivery` failing for `reason` after `attempts` attempts here
    /// (added to those of earlier rounds it carries), with the app's last `answer`.
    func record(_ reason: DeadLetterRecord.Reason, _ delivery: Delivery, attempts: Int = 0, answer: AppAnswer = AppAnswer(),
                route: String? = nil) -> DeadLetterRecord {
        let earlier = DeadLetterRecord.earlierAttempts(event: subscription.rawPayload ? nil : delivery.payload, metadata: delivery.metadata)
        return DeadLetterRecord(reason: reason, attempts: earlier + attempts, status: answer.status, error: answer.detail, app: appID,
                                route: route, pubsub: subscription.pubsubName, topic: subscription.topic)
    }

    /// Error path (§3.6 step 7): dead-letter topic if set and the republish works, else nack. A
    /// delivery that failed while the app is unhealthy goes back to the broker: it is not the
    /// event's fault.
    /// With `holding`, what would be nacked is left unsettled instead and `true` returned.
    @discardableResult
    func failUnprocessable(_ delivery: Delivery, _ record: DeadLetterRecord, holding: Bool = false) async -> Bool {
        if record.reason == .maxretries || record.reason == .timeout, availability?.isOpen == false {
            return await release(delivery, holding: holding)
        }
        if subscription.deadLetterTopic != nil, await publishDeadLetter(delivery, record) {
            await settle(delivery, ack: true)
            return false
        }
        return await release(delivery, holding: holding)
    }

    /// Drop path: dead-letter if set; ack unless that republish failed (then nack, so nothing is lost).
    @discardableResult
    func deadLetterThenAck(_ delivery: Delivery, _ record: DeadLetterRecord, holding: Bool = false) async -> Bool {
        if subscription.deadLetterTopic != nil, !(await publishDeadLetter(delivery, record)) {
            return await release(delivery, holding: holding)
        }
        await settle(delivery, ack: true)
        return false
    }

    /// Returns a delivery to the broker, or (`holding`) keeps it for another round: `true`.
    private func release(_ delivery: Delivery, holding: Bool) async -> Bool {
        if holding { return true }
        await settle(delivery, ack: false)
        return false
    }

    /// Republishes the event to the dead-letter topic of the same pubsub with `record`'s
    /// attributes: as CloudEvent attributes, or as metadata beside a raw or unparseable payload.
    func publishDeadLetter(_ delivery: Delivery, _ record: DeadLetterRecord) async -> Bool {
        guard let topic = subscription.deadLetterTopic else { return false }
        let started = RFC3339.currentUnixSeconds()
        do {
            try await broker.publish(record.message(topic: topic, payload: delivery.payload, metadata: delivery.metadata, raw: subscription.rawPayload))
            metrics.deadLetter(component: subscription.pubsubName, topic: subscription.topic, reason: record.reason.rawValue)
            metrics.egress(component: subscription.pubsubName, topic: topic, success: true, seconds: RFC3339.currentUnixSeconds() - started)
            return true
        } catch {
            logger.error("dead-letter publish to \(topic) failed: \(error)")
            metrics.egress(component: subscription.pubsubName, topic: topic, success: false, seconds: RFC3339.currentUnixSeconds() - started)
            return false
        }
    }

    func settle(_ delivery: Delivery, ack: Bool) async {
        do {
            if ack {
                try await delivery.ack()
            } else {
                try await delivery.nack(redeliverAfter: Self.redeliveryDelay(attempt: delivery.attempt))
            }
        } catch {
            logger.warning("settling with the broker failed (the broker will redeliver): \(error)")
        }
    }

    /// Broker-side back-off for a message the app keeps failing: 0.2 s doubling to 10 s.
    public static func redeliveryDelay(attempt: Int) -> Double {
        min(0.2 * Double(1 << min(max(attempt - 1, 0), 10)), 10)
    }
}

/// Which broker metadata keys become HTTP headers toward the app.
public enum HeaderRules {
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                                        "trailer", "trailers", "transfer-encoding", "upgrade", "content-type", "content-length", "host"]

    public static func forwards(_ key: String) -> Bool {
        guard !key.isEmpty, key.utf8.allSatisfy(isTokenChar) else { return false }
        let lower = key.lowercased()
        return !hopByHop.contains(lower) && !lower.hasSuffix("-bin")
    }

    static func isTraceKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        return lower == "traceparent" || lower == "tracestate" || lower == "pubsubname"
    }

    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}
