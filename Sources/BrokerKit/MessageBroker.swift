/// The contract every pub/sub adapter implements (Kafka, RabbitMQ, MQTT, Redis, NATS, embedded).
///
/// - `publish` returns only once the broker has durably accepted the message (delivery report,
///   publisher confirm, PUBACK, XADD reply, PubAck, committed transaction): that is what lets the
///   HTTP API answer 204.
/// - `subscribe` hands out deliveries that must each be settled once; unsettled ones are redelivered.
/// - `backlog` reports the queue length of a consumer group, for autoscaling.
public protocol MessageBroker: Sendable {
    /// The component name (`metadata.name`).
    var name: String { get }
    /// The component type (`spec.type`).
    var type: String { get }
    /// Capabilities this adapter declares.
    var features: Set<BrokerFeature> { get }

    /// Publishes one message and waits for the broker's confirmation.
    func publish(_ message: BrokerMessage) async throws(BrokerError)

    /// Publishes several messages; the result holds one error (or `nil`) per message, in order.
    func publishBatch(_ messages: [BrokerMessage]) async -> [BrokerError?]

    /// Starts consuming `request.topic` as `request.group`.
    func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream

    /// Messages not yet delivered and in flight for `group` on `topic`.
    func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog

    /// True while the broker connection is usable.
    func isHealthy() async -> Bool

    /// The messages `topic` holds, oldest first, after `cursor` (from the oldest when `nil`), at
    /// most `limit`: nothing is consumed, settled or moved for any consumer group. A broker that
    /// cannot list a topic that way throws `.unsupported` saying why.
    func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage]

    /// Removes the message at `cursor` (from `browse`) from `topic`: a redriven dead letter.
    func remove(topic: String, cursor: String) async throws(BrokerError)

    /// Whether `remove` works (Kafka keeps every record until retention ends it).
    var removesMessages: Bool { get }

    /// Stops all subscriptions and releases connections.
    func close() async
}

extension MessageBroker {
    /// Default batch publish: every message concurrently through `publish`.
    public func publishBatch(_ messages: [BrokerMessage]) async -> [BrokerError?] {
        await withTaskGroup(of: (Int, BrokerError?).self) { group in
            for (i, message) in messages.enumerated() {
                group.addTask {
                    do throws(BrokerError) {
                        try await self.publish(message)
                        return (i, nil)
                    } catch {
                        return (i, error)
                    }
                }
            }
            var results = [BrokerError?](repeating: nil, count: messages.count)
            for await (i, error) in group { results[i] = error }
            return results
        }
    }

    public func isHealthy() async -> Bool { true }

    public func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage] {
        throw BrokerError(.unsupported, "\(type) cannot list a topic's messages without consuming them")
    }

    public func remove(topic: String, cursor: String) async throws(BrokerError) {
        throw BrokerError(.unsupported, "\(type) cannot remove one message from a topic")
    }

    public var removesMessages: Bool { false }
}

/// A message as a topic holds it, listed without being consumed.
public struct StoredMessage: Sendable {
    /// Where it is in the topic: `browse`'s `after` for what follows it, `remove`'s `cursor`.
    public var cursor: String
    public var payload: [UInt8]
    public var metadata: [String: String]

    public init(cursor: String, payload: [UInt8], metadata: [String: String]) {
        self.cursor = cursor
        self.payload = payload
        self.metadata = metadata
    }
}
