import BrokerKit
import Foundation
import Logging
import Resources
import Synchronization

/// `pubsub.rabbitmq` through librabbitmq (AMQP 0-9-1): one exchange per topic (`exchangeKind`,
/// fanout by default), publisher confirms on every publish, one queue per consumer group
/// (`{consumerID}-{topic}`) with manual acks. Per-message `ttlInSeconds` becomes the AMQP
/// expiration, so RabbitMQ enforces TTL itself.
public final class RabbitMQBroker: MessageBroker {
    public let name: String
    public let type: String
    public var features: Set<BrokerFeature> { [.messageTTL] }

    let options: RabbitMQOptions
    let publisher: RabbitPublisher
    let logger: Logger
    private let subscriptions = Mutex<[RabbitSubscription]>([])

    public init(component: Component, logger: Logger) throws(BrokerError) {
        name = component.name
        type = component.type
        options = try RabbitMQOptions(component: component)
        publisher = RabbitPublisher(options: options, name: component.name, logger: logger)
        self.logger = logger
    }

    /// Checks the component's metadata without connecting (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) { _ = try RabbitMQOptions(component: component) }

    /// Checks the broker answers (a passive queue check through the publishing connection).
    public func connect() async throws(BrokerError) {
        _ = try await publisher.readyCount("amq.courier.ping")
    }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        var headers: [(String, AMQPConnection.Value)] = []
        var routingKey = ""
        var priority: UInt8?
        var ttl = options.ttlSeconds
        var deliveryMode = options.deliveryMode
        for (k, v) in message.metadata {
            switch k {
            case "routingKey": routingKey = v
            case "priority":
                guard let p = UInt8(v) else { throw BrokerError(.rejected, "priority must be an integer from 0 to 255, not '\(v)'") }
                priority = p
            case "ttlInSeconds":
                guard let t = Int64(v), t >= 0, t <= RabbitMQOptions.maxTTLSeconds else {
                    throw BrokerError(.rejected, "ttlInSeconds must be an integer from 0 to \(RabbitMQOptions.maxTTLSeconds), not '\(v)'")
                }
                ttl = t
                headers.append((k, .string(v)))
            case "deliveryMode":
                guard let m = UInt8(v), m <= 2 else { throw BrokerError(.rejected, "deliveryMode must be 1 or 2, not '\(v)'") }
                deliveryMode = m
            default: headers.append((k, .string(v)))
            }
        }
        try await publisher.publish(.init(exchange: message.topic, routingKey: routingKey, body: message.payload, headers: headers,
                                          contentType: message.contentType, deliveryMode: deliveryMode, priority: priority,
                                          expirationMs: ttl.map { $0 * 1000 }))
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        let md = request.metadata
        let queueName = md["queueName"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(request.group)-\(request.topic)"
        var arguments: [(String, AMQPConnection.Value)] = []
        func int(_ key: String) throws(BrokerError) -> Int64? {
            guard let v = md[key], !v.isEmpty else { return nil }
            guard let n = Int64(v), n >= 0 else { throw BrokerError(.configuration, "\(key) must be a non-negative integer, not '\(v)'") }
            return n
        }
        if let n = try int("maxLen") ?? options.maxLen { arguments.append(("x-max-length", .int(n))) }
        if let n = try int("maxLenBytes") ?? options.maxLenBytes { arguments.append(("x-max-length-bytes", .int(n))) }
        if let n = try int("maxPriority") { arguments.append(("x-max-priority", .int(min(n, 255)))) }
        let keys = md["routingKey"].map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } } ?? [""]
        let topology = RabbitSubscription.Topology(exchange: request.topic, queue: queueName, routingKeys: keys,
                                                   arguments: arguments, deadLetter: options.enableDeadLetter)
        let subscription = RabbitSubscription(topic: request.topic, queueName: queueName, options: options)
        let prefetch = options.prefetchCount > 0 ? options.prefetchCount : max(request.window, 1)
        try await subscription.start(topology: topology, prefetch: prefetch, logger: logger)
        subscriptions.withLock { $0.append(subscription) }
        return DeliveryStream(source: subscription)
    }

    /// Ready messages in the group's queue, plus those this process holds unacknowledged.
    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        let queueName = "\(group)-\(topic)"
        let ready = try await publisher.readyCount(queueName) ?? 0
        let held = subscriptions.withLock { $0.filter { $0.queueName == queueName }.reduce(0) { $0 + $1.held } }
        return Backlog(undelivered: ready, inFlight: Int64(held))
    }

    public func isHealthy() async -> Bool { (try? await publisher.readyCount("amq.courier.ping")) != nil }

    public func close() async {
        let all = subscriptions.withLock { s -> [RabbitSubscription] in defer { s = [] }; return s }
        for s in all { await s.stop() }
        await publisher.close()
    }
}
