import BrokerKit
import CRdKafka

/// Blocking admin and offset queries, each on a short-lived handle of its own; callers run them
/// through `runBlocking` (never on the cooperative pool): topic creation and consumer-group lag.
enum KafkaAdmin {
    /// Asks a broker for cluster metadata: proof the bootstrap servers answer.
    static func ping(properties: [(String, String)], timeoutMs: Int32) throws(BrokerError) {
        let rk = try RdKafkaHandle.make(RD_KAFKA_PRODUCER, try RdKafkaHandle.configuration(properties))
        defer { rd_kafka_destroy(rk) }
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let err = rd_kafka_metadata(rk, 0, nil, &metadata, timeoutMs)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw BrokerError(.unavailable, "kafka brokers did not answer: \(RdKafkaHandle.describe(err))")
        }
    }

    /// Makes sure `topic` exists before a consumer subscribes to it: a consumer does not see a
    /// topic created later until its next metadata refresh (minutes), so the first events would
    /// wait that long. Creates it with the broker's default partitions and replication when
    /// missing; a failure is left to the consumer, which keeps waiting for the topic.
    static func ensureTopic(_ topic: String, properties: [(String, String)]) throws(BrokerError) {
        let rk = try RdKafkaHandle.make(RD_KAFKA_PRODUCER, try RdKafkaHandle.configuration(properties))
        defer { rd_kafka_destroy(rk) }
        guard let rkt = rd_kafka_topic_new(rk, topic, nil) else { return }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let err = rd_kafka_metadata(rk, 0, rkt, &metadata, 5_000)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw BrokerError(.unavailable, "kafka metadata for \(topic): \(RdKafkaHandle.describe(err))")
        }
        let exists = metadata.pointee.topic_cnt == 1 && metadata.pointee.topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
            && metadata.pointee.topics[0].partition_cnt > 0
        rd_kafka_metadata_destroy(metadata)
        if !exists { try create(topic, partitions: -1, replication: -1, on: rk) }
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1); an existing topic is fine.
    static func createTopic(_ topic: String, partitions: Int, properties: [(String, String)]) throws(BrokerError) {
        let rk = try RdKafkaHandle.make(RD_KAFKA_PRODUCER, try RdKafkaHandle.configuration(properties))
        defer { rd_kafka_destroy(rk) }
        try create(topic, partitions: Int32(partitions), replication: 1, on: rk)
    }

    private static func create(_ topic: String, partitions: Int32, replication: Int32, on rk: OpaquePointer) throws(BrokerError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, partitions, replication, &error, error.count) else {
            throw BrokerError(.rejected, "kafka create topic \(topic): \(RdKafkaHandle.text(error))")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(rk, &topics, 1, nil, queue)
        guard let event = rd_kafka_queue_poll(queue, 15_000) else { throw BrokerError(.unavailable, "kafka create topic \(topic): timed out") }
        defer { rd_kafka_event_destroy(event) }
        if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw BrokerError(.unavailable, "kafka create topic \(topic): \(String(cString: rd_kafka_event_error_string(event)))")
        }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
              let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1 else { return }
        let err = rd_kafka_topic_result_error(results[0])
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw BrokerError(.rejected, "kafka create topic \(topic): \(RdKafkaHandle.describe(err))")
        }
    }

    /// Messages of `topic` that `group` has not committed: per partition, the high watermark minus the
    /// committed offset (or minus where the group would start: the low watermark for `earliest`).
    static func lag(topic: String, group: String, earliest: Bool, properties: [(String, String)]) throws(BrokerError) -> Int64 {
        let rk = try RdKafkaHandle.make(RD_KAFKA_CONSUMER, try RdKafkaHandle.configuration(properties + [("group.id", group)]))
        defer { rd_kafka_destroy(rk) }
        let partitions = try Self.partitions(of: topic, on: rk)
        guard !partitions.isEmpty else { return 0 }
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for p in partitions { rd_kafka_topic_partition_list_add(list, topic, p) }
        let committedErr = rd_kafka_committed(rk, list, 5_000)
        guard committedErr == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw BrokerError(.unavailable, "kafka committed offsets of \(group): \(RdKafkaHandle.describe(committedErr))")
        }
        var total: Int64 = 0
        for i in 0..<Int(list.pointee.cnt) {
            let entry = list.pointee.elems[i]
            var low: Int64 = 0, high: Int64 = 0
            let wErr = rd_kafka_query_watermark_offsets(rk, topic, entry.partition, &low, &high, 5_000)
            guard wErr == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw BrokerError(.unavailable, "kafka watermarks of \(topic)[\(entry.partition)]: \(RdKafkaHandle.describe(wErr))")
            }
            let start = entry.offset >= 0 ? entry.offset : (earliest ? low : high)
            total += max(0, high - start)
        }
        return total
    }

    /// The partitions of `topic` (none when it does not exist).
    static func partitions(of topic: String, on rk: OpaquePointer) throws(BrokerError) -> [Int32] {
        guard let rkt = rd_kafka_topic_new(rk, topic, nil) else { return [] }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let err = rd_kafka_metadata(rk, 0, rkt, &metadata, 5_000)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw BrokerError(.unavailable, "kafka metadata for \(topic): \(RdKafkaHandle.describe(err))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1, metadata.pointee.topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR else { return [] }
        return (0..<Int(metadata.pointee.topics[0].partition_cnt)).map { metadata.pointee.topics[0].partitions[$0].id }.sorted()
    }

    /// Up to `limit` records of `topic` after `cursor` (partition, offset), partition by
    /// partition in offset order, read by assignment: no group is joined and nothing committed.
    static func browse(topic: String, after cursor: (partition: Int32, offset: Int64)?, limit: Int,
                       properties: [(String, String)]) throws(BrokerError) -> [KafkaRecord] {
        let rk = try RdKafkaHandle.make(RD_KAFKA_CONSUMER, try RdKafkaHandle.configuration(properties + [
            ("group.id", "courier-browse"), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
        ]))
        defer {
            rd_kafka_consumer_close(rk)
            rd_kafka_destroy(rk)
        }
        var out: [KafkaRecord] = []
        for p in try partitions(of: topic, on: rk) where p >= (cursor?.partition ?? 0) && out.count < limit {
            var low: Int64 = 0, high: Int64 = 0
            let wErr = rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 5_000)
            guard wErr == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw BrokerError(.unavailable, "kafka watermarks of \(topic)[\(p)]: \(RdKafkaHandle.describe(wErr))")
            }
            // Read to the partition's end as the fetch reports it (some brokers' watermark
            // answers lag their fetches: tansu's stopped a few records short).
            let start = cursor.map { $0.partition == p ? max(low, $0.offset + 1) : low } ?? low
            let list = rd_kafka_topic_partition_list_new(1)!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            rd_kafka_topic_partition_list_add(list, topic, p).pointee.offset = start
            let aErr = rd_kafka_assign(rk, list)
            guard aErr == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw BrokerError(.unavailable, "kafka reading \(topic)[\(p)]: \(RdKafkaHandle.describe(aErr))")
            }
            defer { rd_kafka_assign(rk, nil) }
            var idle = 0
            reading: while out.count < limit {
                guard let message = rd_kafka_consumer_poll(rk, 500) else {
                    idle += 1
                    if idle >= 20 { throw BrokerError(.unavailable, "kafka reading \(topic)[\(p)]: no records within 10 s") }
                    continue
                }
                defer { rd_kafka_message_destroy(message) }
                let m = message.pointee
                // What arrives from the partition read before this one (its end, a record) is stale.
                if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    if m.partition == p { break reading }
                    continue
                }
                guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw BrokerError(.unavailable, "kafka reading \(topic)[\(p)]: \(RdKafkaHandle.describe(m.err))")
                }
                guard m.partition == p else { continue }
                out.append(KafkaConsumer.record(message))
            }
        }
        return out
    }
}
