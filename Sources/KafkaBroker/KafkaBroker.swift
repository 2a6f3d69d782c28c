import BrokerKit
import Foundation
import Logging
import Resources
import Synchronization

/// `pubsub.kafka` through librdkafka: an idempotent producer (`acks=all` by default; 204 only on
/// the delivery report), `partitionKey`/`__key` as the record key, `partitionNumber` as the
/// partition, every other metadata entry as a header. Each subscription is a consumer in group
/// `consumerGroup` (or the consumer id) that commits only acknowledged offsets.
public final class KafkaBroker: MessageBroker {
    public let name: String
    public let type: String
    public var features: Set<BrokerFeature> { [.bulkPubSub] }

    let options: KafkaOptions
    let producer: KafkaProducer
    let logger: Logger
    private let subscriptions = Mutex<[KafkaSubscription]>([])
    /// The group members of this component: one per consumer group, plus one more for each
    /// further subscription of a topic the group's first member already serves (a replica inside
    /// one process, as the conformance suite's competing consumers are).
    private let members = Mutex<[String: [KafkaConsumer]]>([:])

    /// How many group members this client runs in each consumer group (for tests and status).
    public var groupMembers: [String: Int] { members.withLock { $0.mapValues(\.count) } }

    public init(component: Component, logger: Logger) throws(BrokerError) {
        name = component.name
        type = component.type
        options = try KafkaOptions(component: component)
        producer = try KafkaProducer(properties: options.producerProperties, label: component.name, logger: logger)
        self.logger = logger
    }

    /// Checks a broker answers (cluster metadata within 10 s); used at start-up so a wrong address fails loudly.
    public func connect() async throws(BrokerError) {
        let properties = options.adminProperties
        try await runBlocking { () throws(BrokerError) in try KafkaAdmin.ping(properties: properties, timeoutMs: 10_000) }
    }

    /// Checks the component's metadata without connecting (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) { _ = try KafkaOptions(component: component) }

    /// The librdkafka version this process runs with.
    public static var libraryVersion: String { RdKafkaHandle.version }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        var key: [UInt8]?
        var partition: Int32 = -1  // RD_KAFKA_PARTITION_UA: the partitioner decides
        var headers: [(String, String)] = []
        headers.reserveCapacity(message.metadata.count)
        for (k, v) in message.metadata {
            switch k {
            case "partitionKey", "__key": key = Array(v.utf8)
            case "partitionNumber":
                guard let n = Int32(v), n >= 0 else { throw BrokerError(.rejected, "partitionNumber must be a non-negative integer, not '\(v)'") }
                partition = n
            default: headers.append((k, v))
            }
        }
        try await producer.send(topic: message.topic, partition: partition, key: key, payload: message.payload, headers: headers)
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        let group = request.group
        let properties = options.adminProperties
        let topic = request.topic
        do throws(BrokerError) {
            try await runBlocking { () throws(BrokerError) in try KafkaAdmin.ensureTopic(topic, properties: properties) }
        } catch {
            logger.warning("kafka: could not make sure topic \(topic) exists (the consumer waits for it): \(error)")
        }
        let subscription = KafkaSubscription(topic: request.topic, group: group, options: options, logger: logger)
        let member = try joinMember(group: group, topic: topic, subscription: subscription)
        await subscription.waitForAssignment(15) { [weak self] in await self?.leave(member, group: group, topic: topic) }
        subscriptions.withLock { $0.append(subscription) }
        return DeliveryStream(source: subscription)
    }

    /// Adds the subscription to a member of `group` that does not serve `topic` yet (creating one
    /// if none), under the members lock so a member that is closing is never joined.
    private func joinMember(group: String, topic: String, subscription: KafkaSubscription) throws(BrokerError) -> KafkaConsumer {
        let properties = options.consumerProperties(group: group), capacity = options.channelBufferSize, logger = logger
        return try members.withLock { (m: inout [String: [KafkaConsumer]]) throws(BrokerError) -> KafkaConsumer in
            let member: KafkaConsumer
            if let free = m[group, default: []].first(where: { !$0.has(topic: topic) }) {
                member = free
            } else {
                member = try KafkaConsumer(group: group, properties: properties, capacity: capacity, logger: logger)
                m[group, default: []].append(member)
            }
            member.add(topic: topic, delegate: subscription)
            return member
        }
    }

    /// Takes `topic` out of `member`; the member leaves the group when it served the last one.
    private func leave(_ member: KafkaConsumer, group: String, topic: String) async {
        let last = members.withLock { m -> Bool in
            guard member.remove(topic: topic) else { return false }
            m[group]?.removeAll { $0 === member }
            return true
        }
        if last { await member.close() }
    }

    /// Uncommitted messages of the group (lag); the part this process holds counts as in flight.
    /// Reads the topic by partition assignment (cursor `partition:offset`): no group joins or
    /// commits, so no consumer's position moves.
    public func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage] {
        var position: (partition: Int32, offset: Int64)?
        if let cursor {
            let parts = cursor.split(separator: ":")
            guard parts.count == 2, let p = Int32(parts[0]), let o = Int64(parts[1]) else {
                throw BrokerError(.rejected, "'\(cursor)' is not a cursor of \(name) (partition:offset)")
            }
            position = (p, o)
        }
        let properties = options.adminProperties, start = position, count = min(limit, 1_000)
        let records = try await runBlocking { () throws(BrokerError) in
            try KafkaAdmin.browse(topic: topic, after: start, limit: count, properties: properties)
        }
        return records.map { StoredMessage(cursor: "\($0.partition):\($0.offset)", payload: $0.payload, metadata: $0.metadata(topic: topic)) }
    }

    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        let earliest = options.consumer.contains { $0 == ("auto.offset.reset", "earliest") }
        let properties = options.adminProperties
        let lag = try await runBlocking { () throws(BrokerError) in
            try KafkaAdmin.lag(topic: topic, group: group, earliest: earliest, properties: properties)
        }
        let held = subscriptions.withLock { $0.filter { $0.topic == topic && $0.group == group }.reduce(0) { $0 + $1.held } }
        let inFlight = min(Int64(held), lag)
        return Backlog(undelivered: lag - inFlight, inFlight: inFlight)
    }

    /// Creates a topic with `partitions` partitions unless it exists (used by tests and tooling;
    /// publishing relies on the broker's auto-creation as Dapr does).
    public func createTopic(_ topic: String, partitions: Int) async throws(BrokerError) {
        let properties = options.adminProperties
        try await runBlocking { () throws(BrokerError) in try KafkaAdmin.createTopic(topic, partitions: partitions, properties: properties) }
    }

    public func isHealthy() async -> Bool { producer.isHealthy }

    public func close() async {
        let all = subscriptions.withLock { s -> [KafkaSubscription] in defer { s = [] }; return s }
        for s in all { await s.stop() }
        await producer.close()
    }
}
