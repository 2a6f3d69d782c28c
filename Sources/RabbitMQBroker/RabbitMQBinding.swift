import BrokerKit
import Logging
import Resources
import Synchronization

/// `bindings.rabbitmq`: one queue, `queueName`, reached through the default exchange, on the
/// pub/sub adapter's publisher and subscription types. Output `create` publishes with publisher
/// confirms (per-call `ttlInSeconds`, `priority` and `contentType`; other metadata as headers);
/// input consumes the queue with manual acks, acking only once the app accepted a message and
/// requeueing it otherwise. Both sides declare the queue with the same arguments (`durable`,
/// `deleteWhenUnused`, `maxPriority`, queue-wide `ttlInSeconds`), as Dapr does.
public final class RabbitMQBinding: InputBinding, OutputBinding {
    let options: RabbitMQOptions
    let publisher: RabbitPublisher
    let queue: RabbitPublisher.QueueDeclaration
    let contentType: String
    let logger: Logger
    private let subscriptions = Mutex<[RabbitSubscription]>([])

    public init(component: Component, logger: Logger) throws(BrokerError) {
        let translated = try Self.translate(component)
        options = try RabbitMQOptions(component: translated)
        let md = component.metadata
        let r = OptionReader(component)
        var arguments: [(String, AMQPConnection.Value)] = []
        if let p = try r.int("maxPriority") {
            guard (1...255).contains(p) else { throw r.fail("maxPriority must be from 1 to 255, not \(p)") }
            arguments.append(("x-max-priority", .int(p)))
        }
        if let t = options.ttlSeconds { arguments.append(("x-message-ttl", .int(t * 1000))) }
        // An exclusive queue dies with the connection that declared it, so the publishing and
        // the consuming connection could not share it.
        if try r.bool("exclusive") == true { throw r.fail("exclusive queues are not supported (the publisher and consumer use separate connections)") }
        queue = .init(name: md["queueName"] ?? "", durable: options.durable, autoDelete: options.deleteWhenUnused, arguments: arguments)
        contentType = md["contentType"].flatMap { $0.isEmpty ? nil : $0 } ?? "text/plain"
        publisher = RabbitPublisher(options: options, name: component.name, logger: logger)
        self.logger = logger
    }

    /// The binding's keys in the pub/sub adapter's terms: `host` is the connection string;
    /// `durable` and `deleteWhenUnused` default to false here, as in Dapr's binding.
    static func translate(_ component: Component) throws(BrokerError) -> Component {
        let md = component.metadata
        guard let queueName = md["queueName"], !queueName.isEmpty else { throw OptionReader(component).fail("queueName is required") }
        guard let host = md["host"] ?? md["connectionString"], !host.isEmpty else {
            throw OptionReader(component).fail("host is required (amqp://user:password@host:5672)")
        }
        var pairs = md.dictionary
        for key in ["host", "durable", "deleteWhenUnused", "reconnectWaitInSeconds", "ttlInSeconds"] {
            if let k = pairs.keys.first(where: { $0.lowercased() == key.lowercased() }) { pairs.removeValue(forKey: k) }
        }
        pairs["connectionString"] = host
        pairs["durable"] = md["durable"] ?? "false"
        pairs["deletedWhenUnused"] = md["deleteWhenUnused"] ?? "false"
        if let wait = md["reconnectWaitInSeconds"] { pairs["reconnectWaitSeconds"] = wait }
        if let ttl = md["ttlInSeconds"] { pairs["ttlInSeconds"] = ttl }
        var translated = component
        translated.metadata = ComponentMetadata(pairs)
        return translated
    }

    public static func validate(_ component: Component) throws(BrokerError) {
        _ = try RabbitMQOptions(component: translate(component))
    }

    /// Checks the broker answers.
    public func connect() async throws(BrokerError) { _ = try await publisher.readyCount("amq.courier.ping") }

    public var operations: [String] { ["create"] }

    public func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse {
        var headers: [(String, AMQPConnection.Value)] = []
        var priority: UInt8?
        var ttl: Int64?
        var contentType = contentType
        for (k, v) in request.metadata {
            switch k {
            case "priority":
                guard let p = UInt8(v) else { throw BindingError("priority must be an integer from 0 to 255, not '\(v)'", isRetriable: false) }
                priority = p
            case "ttlInSeconds":
                guard let t = Int64(v), t >= 0, t <= RabbitMQOptions.maxTTLSeconds else {
                    throw BindingError("ttlInSeconds must be an integer from 0 to \(RabbitMQOptions.maxTTLSeconds), not '\(v)'", isRetriable: false)
                }
                ttl = t
            case "contentType": contentType = v
            default: headers.append((k, .string(v)))
            }
        }
        do {
            try await publisher.publish(.init(exchange: "", routingKey: queue.name, body: request.data, headers: headers,
                                              contentType: contentType, deliveryMode: options.durable ? 2 : 1, priority: priority,
                                              expirationMs: ttl.map { $0 * 1000 }, queue: queue))
        } catch {
            throw BindingError(error)
        }
        return BindingResponse()
    }

    public func read(window: Int) async throws(BrokerError) -> [DeliveryStream] {
        let topology = RabbitSubscription.Topology(exchange: "", queue: queue.name, routingKeys: [], arguments: queue.arguments, deadLetter: false)
        let subscription = RabbitSubscription(topic: queue.name, queueName: queue.name, options: options)
        try await subscription.start(topology: topology, prefetch: options.prefetchCount > 0 ? options.prefetchCount : max(window, 1), logger: logger)
        subscriptions.withLock { $0.append(subscription) }
        return [DeliveryStream(source: subscription)]
    }

    public func backlog() async -> Backlog? {
        guard let ready = try? await publisher.readyCount(queue.name) else { return nil }
        let held = subscriptions.withLock { $0.reduce(0) { $0 + $1.held } }
        return Backlog(undelivered: ready, inFlight: Int64(held))
    }

    public func close() async {
        let all = subscriptions.withLock { s -> [RabbitSubscription] in defer { s = [] }; return s }
        for s in all { await s.stop() }
        await publisher.close()
    }
}
