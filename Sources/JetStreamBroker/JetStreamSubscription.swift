import BrokerKit
import Foundation
import Logging
import Synchronization

/// One pull subscription on a durable JetStream consumer. Its own thread fetches only as many
/// messages as the window has room for (so a slow subscriber is never flooded); acks are explicit,
/// a nack is a Nak with the back-off as delay, an abandoned delivery a plain Nak. Messages left
/// unacknowledged by a crash come back after the consumer's AckWait.
final class JetStreamSubscription: DeliverySource, DeliverySettler {
    let topic: String
    private let queue = HandOffQueue<FetchedMessage>()
    private let inFlight = DeliveryTokens<NatsMessage>()
    private let pollerBox = Mutex<PollThread?>(nil)

    init(topic: String) {
        self.topic = topic
    }

    func start(pull: PullSubscription, window: Int, logger: Logger) {
        let lastFailure = Mutex<ContinuousClock.Instant?>(nil)
        let queue = queue
        let poller = PollThread(name: "jetstream-\(topic)", body: { [self] in
            let room = window - queue.count - self.inFlight.count
            if room <= 0 {
                Thread.sleep(forTimeInterval: 0.002)
                return
            }
            switch pull.fetch(batch: min(room, 256), timeoutMs: 250) {
            case .success(let messages):
                for m in messages { queue.put(m) }
            case .failure(let error):
                let now = ContinuousClock.now
                let log = lastFailure.withLock { t -> Bool in
                    if let t, now - t < .seconds(10) { return false }
                    t = now
                    return true
                }
                if log { logger.warning("\(error); retrying") }
                Thread.sleep(forTimeInterval: 0.25)
            }
        }, finish: { _ = pull })
        pollerBox.withLock { $0 = poller }
    }

    // MARK: DeliverySource

    func next() async throws(BrokerError) -> Delivery? {
        guard let m = await queue.take() else { return nil }
        let token = inFlight.issue(m.message)
        return Delivery(topic: topic, payload: m.payload, metadata: m.headers, token: token, attempt: max(m.deliveries, 1), settler: self)
    }

    func stop() async {
        if let poller = pollerBox.withLock({ p -> PollThread? in defer { p = nil }; return p }) { await poller.stop() }
        // Hand back what was fetched and never handed out, so another consumer gets it now
        // rather than after AckWait.
        queue.removeAll { $0.message.nak(delayMs: 0); return true }
        queue.finish()
    }

    // MARK: DeliverySettler

    func ack(_ delivery: Delivery) async throws(BrokerError) {
        inFlight.take(delivery.token)?.ack()
    }

    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {
        inFlight.take(delivery.token)?.nak(delayMs: Int64(delay * 1000))
    }

    func abandoned(token: UInt64, topic: String) {
        inFlight.take(token)?.nak(delayMs: 0)
    }
}
