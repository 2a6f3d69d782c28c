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
    let streams: StreamDirectory
    private let subscriptions = Mutex<[JetStreamSubscription]>([])

    /// Connects to the server named by `natsURL`.
    public init(component: Component, logger: Logger) async throws(BrokerError) {
        name = component.name
        type = component.type
        let options = try JetStreamOptions(component: component)
        self.options = options
        let client = try await runBlocking { () throws(BrokerError) in try NatsClient(options: options) }
        self.client = client
        streams = StreamDirectory(client: client, options: options)
        self.logger = logger
        if let name = options.streamName, !options.createStreams {
            // Courier may not create it, so a missing one is a start-up error, not a failing publish.
            guard try await runBlocking({ () throws(BrokerError) in try client.streamExists(name) }) else {
                await close()
                throw BrokerError(.configuration, "jetstream: stream \(name) (streamName) does not exist and disableEntityManagement is set")
            }
        }
    }

    /// Checks the component's metadata without connecting (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) { _ = try JetStreamOptions(component: component) }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        _ = try await streams.stream(for: message.topic)
        let id = message.deduplicationID ?? (message.contentType == nil ? nil : EnvelopeFields.scan(message.payload)?.id)
        do {
            try await client.publish(subject: message.topic, payload: message.payload, headers: message.metadata, messageID: id)
        } catch {
            // The stream may have been deleted behind our back: look again next time.
            streams.forget()
            throw error
        }
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        let client = client, options = options, topic = request.topic
        let stream = try await streams.stream(for: topic)
        let durable = streams.durable(for: topic, group: request.group, in: stream)
        let pull = try await runBlocking { () throws(BrokerError) in
            try client.pullSubscribe(subject: topic, stream: stream, durable: durable, options: options)
        }
        let subscription = JetStreamSubscription(topic: topic)
        subscription.start(pull: pull, window: max(request.window, 1), logger: logger)
        subscriptions.withLock { $0.append(subscription) }
        return DeliveryStream(source: subscription)
    }

    /// Reads the topic's messages by stream sequence: no consumer is made or moved.
    public func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage] {
        guard let stream = try await streams.existingStream(for: topic) else { return [] }
        let client = client, from = (cursor.flatMap { UInt64($0) } ?? 0) + 1
        return try await runBlocking { () throws(BrokerError) in
            try client.messages(stream: stream, subject: topic, from: from, limit: min(limit, 1_000)).map {
                StoredMessage(cursor: String($0.seq), payload: $0.payload, metadata: $0.headers)
            }
        }
    }

    /// Deletes the message from its stream (durable consumers skip it).
    public var removesMessages: Bool { true }

    public func remove(topic: String, cursor: String) async throws(BrokerError) {
        guard let seq = UInt64(cursor) else { throw BrokerError(.rejected, "'\(cursor)' is not a cursor of \(name)") }
        guard let stream = try await streams.existingStream(for: topic) else { return }
        let client = client
        try await runBlocking { () throws(BrokerError) in try client.deleteMessage(stream: stream, seq: seq, subject: topic) }
    }

    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        guard let stream = try await streams.existingStream(for: topic) else { return Backlog(undelivered: 0, inFlight: 0) }
        let client = client, durable = streams.durable(for: topic, group: group, in: stream)
        return try await runBlocking { () throws(BrokerError) in try client.backlog(stream: stream, subject: topic, durable: durable) }
    }

    public func isHealthy() async -> Bool { client.isConnected }

    public func close() async {
        let all = subscriptions.withLock { s -> [JetStreamSubscription] in defer { s = [] }; return s }
        for s in all { await s.stop() }
        let client = client
        _ = try? await runBlocking { () throws(BrokerError) in client.close() }
    }
}
