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
}
