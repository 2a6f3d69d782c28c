import BrokerKit
import Synchronization

/// One subscriber of a consumer group: pulls from the engine, settles through it.
final class EmbeddedSubscription: DeliverySource, DeliverySettler {
    private static let ids = Atomic<Int>(0)

    let engine: EmbeddedEngine
    let key: EmbeddedEngine.GroupKey
    let id: Int
    private let left = Atomic<Bool>(false)

    init(engine: EmbeddedEngine, key: EmbeddedEngine.GroupKey) {
        self.engine = engine
        self.key = key
        self.id = Self.ids.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func next() async throws(BrokerError) -> Delivery? {
        do {
            guard let (message, attempt) = try await engine.next(key, subscriber: id) else { return nil }
            return Delivery(topic: message.topic, payload: message.payload, metadata: message.metadata,
                            token: UInt64(message.seq), attempt: attempt, settler: self)
        } catch {
            throw BrokerError(.unavailable, "embedded store read failed: \(error)")
        }
    }

    func stop() async {
        guard !left.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await engine.stop(key, subscriber: id)
    }

    func ack(_ delivery: Delivery) async throws(BrokerError) {
        engine.ack(key, seq: Int64(delivery.token))
    }

    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {
        await engine.release(key, seq: Int64(delivery.token), after: delay)
    }

    func abandoned(token: UInt64, topic: String) {
        let engine = self.engine, key = self.key
        Task { await engine.release(key, seq: Int64(token), after: 0) }
    }
}
