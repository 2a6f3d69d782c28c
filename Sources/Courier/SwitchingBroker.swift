import BrokerKit
import Delivery
import Synchronization

/// Stands in for a pub/sub while a reload replaces its client with one that cannot open beside
/// the old (the embedded broker's store admits one client): what arrives meanwhile (a publish, a
/// dead-letter write, a backlog read) waits until the new client is there and goes to it, so the
/// replacement costs a short wait, not a failed request.
final class SwitchingBroker: MessageBroker {
    let name: String
    let type: String
    let features: Set<BrokerFeature>
    private let ready = AppAvailability()
    private let replacement = Mutex<(any MessageBroker)?>(nil)

    init(replacing old: any MessageBroker) {
        name = old.name
        type = old.type
        features = old.features
        removesMessages = old.removesMessages
        ready.close()
    }

    /// The new client is open (`nil`: it could not be opened); everything waiting goes to it.
    func finish(with broker: (any MessageBroker)?) {
        replacement.withLock { $0 = broker }
        if broker == nil { ready.abandon() } else { ready.open() }
    }

    private func next() async throws(BrokerError) -> any MessageBroker {
        guard await ready.waitUntilOpen(), let broker = replacement.withLock({ $0 }) else {
            throw BrokerError(.unavailable, "pub/sub \(name) is being replaced and did not come back")
        }
        return broker
    }

    func publish(_ message: BrokerMessage) async throws(BrokerError) {
        try await next().publish(message)
    }

    func publishBatch(_ messages: [BrokerMessage]) async -> [BrokerError?] {
        do throws(BrokerError) {
            let broker = try await next()
            return await broker.publishBatch(messages)
        } catch {
            return Array(repeating: error, count: messages.count)
        }
    }

    func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        try await next().subscribe(request)
    }

    func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        try await next().backlog(topic: topic, group: group)
    }

    func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage] {
        try await next().browse(topic: topic, after: cursor, limit: limit)
    }

    func remove(topic: String, cursor: String) async throws(BrokerError) {
        try await next().remove(topic: topic, cursor: cursor)
    }

    /// As the pub/sub it stands in for (the same type, so the same answer).
    let removesMessages: Bool

    func isHealthy() async -> Bool {
        guard let broker = replacement.withLock({ $0 }) else { return false }
        return await broker.isHealthy()
    }

    /// The stand-in owns nothing: the replacement is closed where it is kept.
    func close() async {}
}
