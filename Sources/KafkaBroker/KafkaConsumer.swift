import BrokerKit
import CRdKafka
import Foundation
import Logging
import Synchronization

/// One record as copied out of librdkafka.
struct KafkaRecord: Sendable {
    var partition: Int32
    var offset: Int64
    var key: [UInt8]?
    var payload: [UInt8]
    var headers: [(String, String)]
    /// Milliseconds since the epoch (create or log-append time); `nil` when the broker sent none.
    var timestampMs: Int64? = nil
}

/// What a consumer reports to, and asks of, the subscription it feeds. Called on the consumer's
/// poll thread only.
protocol KafkaConsumerDelegate: AnyObject, Sendable {
    func received(_ record: KafkaRecord)
    func assigned(_ partitions: [Int32])
    /// Partitions are being taken away: settle or give up their in-flight work and return the
    /// offsets to commit for them before they go.
    func revoking(_ partitions: [Int32]) -> [(partition: Int32, offset: Int64)]
    /// Offsets whose commit position moved since the last call.
    func pendingCommits() -> [(partition: Int32, offset: Int64)]
    /// A commit of these partitions failed: commit their position again next time.
    func commitFailed(_ partitions: [Int32])
    /// Deliveries queued for the subscriber, for pausing fetches while it is behind.
    var queued: Int { get }
}

/// The one librdkafka consumer of one subscription (topic, group), and the only code that calls
/// the consumer API. A dedicated thread polls it; rebalances and commits run on that thread.
final class KafkaConsumer: Sendable {
    private struct Handle: @unchecked Sendable { let raw: OpaquePointer }

    /// The handle's opaque: what the C callbacks reach.
    private final class Context: Sendable {
        let topic: String
        let delegate: any KafkaConsumerDelegate
        let errors: ErrorEvents
        let capacity: Int
        init(topic: String, delegate: any KafkaConsumerDelegate, errors: ErrorEvents, capacity: Int) {
            self.topic = topic
            self.delegate = delegate
            self.errors = errors
            self.capacity = capacity
        }
    }

    private let handle: Handle
    private let poller: PollThread

    init(topic: String, properties: [(String, String)], capacity: Int, delegate: any KafkaConsumerDelegate, logger: Logger) throws(BrokerError) {
        let conf = try RdKafkaHandle.configuration(properties)
        let context = Context(topic: topic, delegate: delegate, errors: ErrorEvents(role: "consumer \(topic)", logger: logger), capacity: capacity)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_error_cb(conf) { _, code, reason, opaque in
            guard let opaque else { return }
            Unmanaged<Context>.fromOpaque(opaque).takeUnretainedValue().errors.report(code, reason.map { String(cString: $0) } ?? "")
        }
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let opaque else { return }
            KafkaConsumer.rebalance(rk, err, partitions, Unmanaged<Context>.fromOpaque(opaque).takeUnretainedValue())
        }
        rd_kafka_conf_set_offset_commit_cb(conf) { _, err, offsets, opaque in
            guard err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET, let opaque else { return }
            let context = Unmanaged<Context>.fromOpaque(opaque).takeUnretainedValue()
            let partitions = offsets.map { list in (0..<Int(list.pointee.cnt)).map { list.pointee.elems[$0].partition } } ?? []
            context.delegate.commitFailed(partitions)
            context.errors.logger.debug("kafka commit on \(context.topic) failed, retried with the next one: \(RdKafkaHandle.describe(err))")
        }
        let handle = Handle(raw: try RdKafkaHandle.make(RD_KAFKA_CONSUMER, conf))
        rd_kafka_poll_set_consumer(handle.raw)
        let topics = rd_kafka_topic_partition_list_new(1)!
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA)
        let err = rd_kafka_subscribe(handle.raw, topics)
        rd_kafka_topic_partition_list_destroy(topics)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle.raw)
            throw BrokerError(.unavailable, "kafka subscribe to \(topic): \(RdKafkaHandle.describe(err))")
        }
        self.handle = handle
        let lastCommit = Mutex<ContinuousClock.Instant>(.now)
        poller = PollThread(
            name: "kafka-consumer-\(topic)",
            body: {
                // Take records only while the subscriber's queue has room. Meanwhile librdkafka keeps
                // its prefetch (bounded by queued.max.messages.kbytes) and its heartbeats; a rebalance
                // is served at the next poll. (Pausing partitions instead would purge the prefetch and
                // cost a fetch round trip, up to fetch.wait.max.ms on some brokers, per cycle.)
                if context.delegate.queued < context.capacity {
                    if let message = rd_kafka_consumer_poll(handle.raw, 50) {
                        Self.consume(message, context)
                        rd_kafka_message_destroy(message)
                    }
                } else {
                    Thread.sleep(forTimeInterval: 0.002)
                }
                let due = lastCommit.withLock { last -> Bool in
                    guard ContinuousClock.now - last >= .milliseconds(100) else { return false }
                    last = .now
                    return true
                }
                if due { Self.commit(handle.raw, topic: topic, context.delegate.pendingCommits(), async: true) }
            },
            finish: {
                // Leaves the group; the revoke callback commits what is done.
                rd_kafka_consumer_close(handle.raw)
                rd_kafka_destroy(handle.raw)
                _ = context
            })
    }

    /// Leaves the group (committing acknowledged offsets) and destroys the handle.
    func close() async { await poller.stop() }

    // MARK: Poll-thread helpers

    private static func consume(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ context: Context) {
        let m = message.pointee
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                context.errors.logger.warning("kafka consumer \(context.topic): \(RdKafkaHandle.describe(m.err))")
            }
            return
        }
        let payload = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var headers: [(String, String)] = []
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var i = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                if let name {
                    let bytes = value.map { UnsafeRawBufferPointer(start: $0, count: size) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
                    headers.append((String(cString: name), String(decoding: bytes, as: UTF8.self)))
                }
                i += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        context.delegate.received(KafkaRecord(partition: m.partition, offset: m.offset, key: key, payload: payload, headers: headers,
                                              timestampMs: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp))
    }

    private static func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                                  _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, _ context: Context) {
        let numbers = partitions.map { list in (0..<Int(list.pointee.cnt)).map { list.pointee.elems[$0].partition } } ?? []
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            context.delegate.assigned(numbers)
            _ = rd_kafka_assign(rk, partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            commit(rk, topic: context.topic, context.delegate.revoking(numbers), async: false)
            _ = rd_kafka_assign(rk, nil)
        default:
            context.errors.logger.warning("kafka rebalance on \(context.topic): \(RdKafkaHandle.describe(err))")
            _ = rd_kafka_assign(rk, nil)
        }
    }

    private static func commit(_ rk: OpaquePointer, topic: String, _ offsets: [(partition: Int32, offset: Int64)], async: Bool) {
        guard !offsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for (partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
        }
        _ = rd_kafka_commit(rk, list, async ? 1 : 0)
        rd_kafka_topic_partition_list_destroy(list)
    }
}
