import Synchronization

/// Settles a delivery with the broker it came from. Implemented by each adapter.
public protocol DeliverySettler: Sendable {
    /// The app processed the message: remove it for this consumer group.
    func ack(_ delivery: Delivery) async throws(BrokerError)
    /// The message was not processed: make it available again after `delay` seconds.
    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError)
    /// The delivery was dropped without being settled (its task ended); called from `deinit`,
    /// so it must not suspend. The broker must redeliver it.
    func abandoned(token: UInt64, topic: String)
}

/// One message handed to one subscriber. It is settled exactly once: `ack` or `nack`; a delivery
/// released without either is reported as abandoned and redelivered by the broker.
public final class Delivery: Sendable {
    public let topic: String
    /// The bytes as stored in the broker (the CloudEvent envelope unless published raw).
    public let payload: [UInt8]
    /// Broker message metadata; becomes HTTP headers toward the app.
    public let metadata: [String: String]
    /// Adapter-specific identity of this message (sequence, offset, stream id, delivery tag).
    public let token: UInt64
    /// 1 for the first delivery of this message to the group, more for redeliveries (when known).
    public let attempt: Int

    private let settler: any DeliverySettler
    private let settled = Atomic<Bool>(false)

    public init(topic: String, payload: [UInt8], metadata: [String: String], token: UInt64, attempt: Int,
                settler: any DeliverySettler) {
        self.topic = topic
        self.payload = payload
        self.metadata = metadata
        self.token = token
        self.attempt = attempt
        self.settler = settler
    }

    /// True once `ack` or `nack` was called.
    public var isSettled: Bool { settled.load(ordering: .acquiring) }

    private func claim() -> Bool {
        settled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// Acknowledges the message. A second settle is ignored.
    public func ack() async throws(BrokerError) {
        guard claim() else { return }
        try await settler.ack(self)
    }

    /// Returns the message to the broker for redelivery after `delay` seconds. A second settle is ignored.
    public func nack(redeliverAfter delay: Double = 0) async throws(BrokerError) {
        guard claim() else { return }
        try await settler.nack(self, redeliverAfter: delay)
    }

    deinit {
        if !settled.load(ordering: .acquiring) {
            settler.abandoned(token: token, topic: topic)
        }
    }
}
