import BrokerKit
import CloudEvents
import Logging
import Resources
import Synchronization

/// `pubsub.jetstream` through nats.c: publishes wait for the stream's PubAck (with `Nats-Msg-Id`
/// = the CloudEvent id, so the server drops a re-sent duplicate); each subscription is a pull
/// subscription on a durable consumer named after the group (`durableName` or the consumer id),
/// so replicas of one app compete for messages; explicit acks, Nak with delay on failure.
public final class JetStreamBroker: MessageBroker {
    public let name: String
    public let type: String
    public var features: Set<BrokerFeature> { [] }

    let options: JetStreamOptions
    let client: NatsClient
    let logger: Logger
    private let knownStreams = Mutex<Set<String>>([])
    private let subscriptions = Mutex<[JetStreamSubscription]>([])

    /// Connects to the server named by `natsURL`.
    public init(component: Component, logger: Logger) async throws(BrokerError) {
        name = component.name
        type = component.type
        let options = try JetStreamOptions(component: component)
        self.options = options
        client = try await runBlocking { () throws(BrokerError) in try NatsClient(options: options) }
        self.logger = logger
    }

    /// Checks the component's metadata without connecting (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) { _ = try JetStreamOptions(component: component) }

    /// The stream that stores `topic`: `streamName`, or one stream per topic named after it.
    func stream(for topic: String) -> String { options.streamName ?? JetStreamOptions.sanitize(topic) }

    /// The durable consumer of `group` on `topic`; per topic when topics share one stream.
    func durable(for topic: String, group: String) -> String {
        let base = JetStreamOptions.sanitize(options.durableName ?? group)
        return options.streamName == nil ? base : "\(base)-\(JetStreamOptions.sanitize(topic))"
    }

    private func ensureStream(_ topic: String) async throws(BrokerError) {
        let stream = stream(for: topic)
        let key = stream + "\u{0}" + topic
        if knownStreams.withLock({ $0.contains(key) }) { return }
        let client = client, memory = options.memoryStorage, replicas = options.replicas
        try await runBlocking { () throws(BrokerError) in try client.ensureStream(stream, subject: topic, memory: memory, replicas: replicas) }
        knownStreams.withLock { _ = $0.insert(key) }
    }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        try await ensureStream(message.topic)
        let id = message.contentType == nil ? nil : EnvelopeFields.scan(message.payload)?.id
        do {
            try await client.publish(subject: message.topic, payload: message.payload, headers: message.metadata, messageID: id)
        } catch {
            // The stream may have been deleted behind our back: look again next time.
            knownStreams.withLock { $0.removeAll() }
            throw error
        }
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        try await ensureStream(request.topic)
        let client = client, options = options, topic = request.topic
        let stream = stream(for: topic), durable = durable(for: topic, group: request.group)
        let pull = try await runBlocking { () throws(BrokerError) in
            try client.pullSubscribe(subject: topic, stream: stream, durable: durable, options: options)
        }
        let subscription = JetStreamSubscription(topic: topic)
        subscription.start(pull: pull, window: max(request.window, 1), logger: logger)
        subscriptions.withLock { $0.append(subscription) }
        return DeliveryStream(source: subscription)
    }

    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        let client = client, stream = stream(for: topic), durable = durable(for: topic, group: group)
        return try await runBlocking { () throws(BrokerError) in try client.backlog(stream: stream, durable: durable) }
    }

    public func isHealthy() async -> Bool { client.isConnected }

    public func close() async {
        let all = subscriptions.withLock { s -> [JetStreamSubscription] in defer { s = [] }; return s }
        for s in all { await s.stop() }
        let client = client
        _ = try? await runBlocking { () throws(BrokerError) in client.close() }
    }
}
