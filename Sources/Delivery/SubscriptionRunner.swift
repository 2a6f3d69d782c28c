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
    let perSubscription: Int
    let logger: Logger
    let metrics: DeliveryMetrics
    /// This subscription's ingress metric handles, per outcome.
    let ingress: DeliveryMetrics.IngressOutcomes
    let defaultTimeout: Double
    /// Closed while the app is unhealthy: what fails then goes back to the broker, not to a dead-letter topic.
    let availability: AppAvailability?

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
        await stream.forEach(maxConcurrency: perSubscription, logger: logger, admit: { await self.limit.acquire() }) { delivery in
            await self.handle(delivery)
            self.limit.release()
        }
    }

    /// Uses `policy` from the next delivery on (a changed Resiliency resource).
    func update(policy: InboundPolicy) {
        currentPolicy.withLock { $0 = policy }
    }

    // MARK: One delivery

    func handle(_ delivery: Delivery) async {
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
            await failUnprocessable(delivery, reason: "unparseable")
            return
        }
        // 2. Expiry.
        if fields.isExpired(now: started) {
            logger.warning("message expired at \(fields.expiration ?? "")", metadata: ["id": "\(fields.id ?? "")"])
            await deadLetterThenAck(delivery, reason: "expired")
            return
        }
        // 3. Routing.
        let path: String
        switch routes.route(envelope: body) {
        case .path(let p):
            path = p
        case .noMatch:
            logger.debug("no route matched; dropping", metadata: ["id": "\(fields.id ?? "")"])
            ingress.drop.record(0)
            await deadLetterThenAck(delivery, reason: "unroutable")
            return
        case .error(let why):
            logger.warning("\(why); dead-lettering or returning it to the broker", metadata: ["id": "\(fields.id ?? "")"])
            await failUnprocessable(delivery, reason: "unroutable")
            return
        }
        // 4. Push under the inbound policy.
        let push: @Sendable () async -> DeliveryOutcome
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
        let (outcome, _) = await policy.run(onRetry: { _ in
            self.metrics.retry(component: self.subscription.pubsubName, topic: self.subscription.topic)
        }, push)
        let seconds = RFC3339.currentUnixSeconds() - started
        if Task.isCancelled {
            // Shutting down: neither dead-letter nor nack; the broker redelivers.
            return
        }
        switch outcome {
        case .success:
            ingress.success.record(seconds)
            await settle(delivery, ack: true)
        case .drop:
            logger.warning("app dropped the message", metadata: ["id": "\(fields.id ?? "")"])
            ingress.drop.record(seconds)
            await deadLetterThenAck(delivery, reason: "drop")
        case .retry(_, let reason):
            ingress.retry.record(seconds)
            logger.info("delivery failed: \(reason)", metadata: ["id": "\(fields.id ?? "")"])
            await failUnprocessable(delivery, reason: "failed")
        }
    }

    static func push(_ channel: AppChannel, path: String, headers: HTTPHeaders, body: ByteBuffer, timeout: Double) async -> DeliveryOutcome {
        do {
            let response = try await channel.send(method: .POST, path: path, headers: headers, body: body, timeout: timeout)
            return AppResponse.single(status: response.status, body: response.body)
        } catch {
            return .retry(status: nil, reason: "cannot reach the app: \(error)")
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

    /// Error path (§3.6 step 7): dead-letter topic if set and the republish works, else nack. A
    /// delivery that failed while the app is unhealthy goes back to the broker: it is not the
    /// event's fault.
    func failUnprocessable(_ delivery: Delivery, reason: String) async {
        if reason == "failed", availability?.isOpen == false {
            await settle(delivery, ack: false)
            return
        }
        if subscription.deadLetterTopic != nil, await publishDeadLetter(delivery, reason: reason) {
            await settle(delivery, ack: true)
        } else {
            await settle(delivery, ack: false)
        }
    }

    /// Drop path: dead-letter if set; ack unless that republish failed (then nack, so nothing is lost).
    func deadLetterThenAck(_ delivery: Delivery, reason: String) async {
        if subscription.deadLetterTopic != nil, !(await publishDeadLetter(delivery, reason: reason)) {
            await settle(delivery, ack: false)
            return
        }
        await settle(delivery, ack: true)
    }

    /// Republishes the original bytes and metadata to the dead-letter topic of the same pubsub.
    func publishDeadLetter(_ delivery: Delivery, reason: String) async -> Bool {
        guard let topic = subscription.deadLetterTopic else { return false }
        let started = RFC3339.currentUnixSeconds()
        do {
            try await broker.publish(BrokerMessage(topic: topic, payload: delivery.payload,
                                                   contentType: subscription.rawPayload ? nil : ContentType.cloudEventsJSON,
                                                   metadata: delivery.metadata))
            metrics.deadLetter(component: subscription.pubsubName, topic: subscription.topic, reason: reason)
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
