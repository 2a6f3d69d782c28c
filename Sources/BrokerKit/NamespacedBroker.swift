/// A namespace-scoped pub/sub (spec §6): every topic the app names is `topicPrefix + topic` at the
/// broker, on publish, subscribe and backlog, so apps of the same id in different namespaces
/// neither compete nor see each other's events.
///
/// Only the broker sees the prefixed name. Deliveries keep it (their adapter settles by it);
/// Courier addresses the app with the subscription's own topic, and envelopes are built with the
/// topic the app published to, so the prefix never reaches the app.
public struct NamespacedBroker: MessageBroker {
    public let inner: any MessageBroker
    public let topicPrefix: String

    public init(_ inner: any MessageBroker, topicPrefix: String) {
        self.inner = inner
        self.topicPrefix = topicPrefix
    }

    public var name: String { inner.name }
    public var type: String { inner.type }
    public var features: Set<BrokerFeature> { inner.features }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        try await inner.publish(prefixed(message))
    }

    public func publishBatch(_ messages: [BrokerMessage]) async -> [BrokerError?] {
        await inner.publishBatch(messages.map(prefixed))
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        var request = request
        request.topic = topicPrefix + request.topic
        return try await inner.subscribe(request)
    }

    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        try await inner.backlog(topic: topicPrefix + topic, group: group)
    }

    public func isHealthy() async -> Bool { await inner.isHealthy() }

    public func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage] {
        try await inner.browse(topic: topicPrefix + topic, after: cursor, limit: limit)
    }

    public func remove(topic: String, cursor: String) async throws(BrokerError) {
        try await inner.remove(topic: topicPrefix + topic, cursor: cursor)
    }

    public var removesMessages: Bool { inner.removesMessages }

    public func close() async { await inner.close() }

    private func prefixed(_ message: BrokerMessage) -> BrokerMessage {
        var message = message
        message.topic = topicPrefix + message.topic
        return message
    }
}
