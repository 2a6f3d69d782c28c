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

    /// What a delivery of it carries as metadata: its headers, and `__key`, `__topic`,
    /// `__partition`, `__offset`, `__timestamp`.
    func metadata(topic: String) -> [String: String] {
        var metadata: [String: String] = [:]
        metadata.reserveCapacity(headers.count + 5)
        for (k, v) in headers { metadata[k] = v }
        if let key { metadata["__key"] = String(decoding: key, as: UTF8.self) }
        metadata["__topic"] = topic
        metadata["__partition"] = String(partition)
        metadata["__offset"] = String(offset)
        if let timestampMs { metadata["__timestamp"] = String(timestampMs) }
        return metadata
    }
}

/// What a consumer reports to, and asks of, the subscription of one topic it feeds. Called on the
/// consumer's poll thread only.
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

/// The one librdkafka consumer of a (component, consumer group), subscribed to every topic the
/// component's subscriptions ask for, and the only code that calls the consumer API. One group
/// member per component (as Dapr and the Kafka clients do) means adding a subscription costs one
/// rebalance of this member instead of a new member joining and rebalancing all the others.
///
/// A dedicated thread polls it; rebalances and commits run on that thread. Flow control is per
/// topic: while every topic's queue is full the thread stops taking records (librdkafka keeps its
/// prefetch); while only some are, their partitions are paused so a slow subscription never holds
/// back the others.
final class KafkaConsumer: Sendable {
    private struct Handle: @unchecked Sendable { let raw: OpaquePointer }

    /// What the poll thread and the C callbacks share.
    private final class Context: Sendable {
        let group: String
        let errors: ErrorEvents
        let capacity: Int
        let state = Mutex(State())
        init(group: String, errors: ErrorEvents, capacity: Int) {
            self.group = group
            self.errors = errors
            self.capacity = capacity
        }

        /// The subscription of `topic`, also one that is leaving but not yet revoked.
        func delegate(_ topic: String) -> (any KafkaConsumerDelegate)? { state.withLock { $0.delegates[topic] ?? $0.leaving[topic] } }
        var delegates: [String: any KafkaConsumerDelegate] { state.withLock { $0.delegates } }
    }

    private struct State: Sendable {
        var delegates: [String: any KafkaConsumerDelegate] = [:]
        /// Removed subscriptions, kept until the revoke that commits their last offsets.
        var leaving: [String: any KafkaConsumerDelegate] = [:]
        /// The topic set changed at this instant and has not been handed to librdkafka yet.
        var changedAt: ContinuousClock.Instant?
        /// Topics whose partitions are paused, and the assignment generation they were paused in.
        var paused: [String: Int] = [:]
        var assignment = 0
    }

    private let handle: Handle
    private let context: Context
    private let poller: PollThread

    /// Creates the group member; it subscribes once the first topic is added.
    init(group: String, properties: [(String, String)], capacity: Int, logger: Logger) throws(BrokerError) {
        let conf = try RdKafkaHandle.configuration(properties)
        let context = Context(group: group, errors: ErrorEvents(role: "consumer \(group)", logger: logger), capacity: capacity)
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
            let grouped: [String: [Int32]] = offsets.map { KafkaConsumer.byTopic($0) } ?? [:]
            for (topic, partitions) in grouped {
                context.delegate(topic)?.commitFailed(partitions)
            }
            context.errors.logger.debug("kafka commit in group \(context.group) failed, retried with the next one: \(RdKafkaHandle.describe(err))")
        }
        let handle = Handle(raw: try RdKafkaHandle.make(RD_KAFKA_CONSUMER, conf))
        rd_kafka_poll_set_consumer(handle.raw)
        self.handle = handle
        self.context = context
        let lastCommit = Mutex<ContinuousClock.Instant>(.now)
        poller = PollThread(
            name: "kafka-consumer-\(group)",
            body: {
                Self.applyTopicChanges(handle.raw, context)
                if Self.flowControl(handle.raw, context) {
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
                if due {
                    var offsets: [(String, Int32, Int64)] = []
                    let all = context.state.withLock { $0.delegates.merging($0.leaving) { a, _ in a } }
                    for (topic, delegate) in all {
                        offsets += delegate.pendingCommits().map { (topic, $0.partition, $0.offset) }
                    }
                    Self.commit(handle.raw, offsets, async: true)
                }
            },
            finish: {
                // Leaves the group; the revoke callback commits what is done.
                rd_kafka_consumer_close(handle.raw)
                rd_kafka_destroy(handle.raw)
                _ = context
            })
    }

    /// Whether a subscription of `topic` is already served by this member.
    func has(topic: String) -> Bool { context.state.withLock { $0.delegates[topic] != nil } }

    /// Adds `topic` to the member's subscription (applied by the poll thread once the topic set
    /// has been quiet for 100 ms, so subscriptions started together cost one rebalance).
    func add(topic: String, delegate: any KafkaConsumerDelegate) {
        context.state.withLock { s in
            s.delegates[topic] = delegate
            s.changedAt = .now
        }
    }

    /// Removes `topic`; returns true when it was the last one (then `close` the consumer).
    func remove(topic: String) -> Bool {
        context.state.withLock { s in
            if let d = s.delegates.removeValue(forKey: topic) { s.leaving[topic] = d }
            s.paused.removeValue(forKey: topic)
            s.changedAt = .now
            return s.delegates.isEmpty
        }
    }

    /// Leaves the group (committing acknowledged offsets) and destroys the handle.
    func close() async { await poller.stop() }

    // MARK: Poll-thread helpers

    private static func applyTopicChanges(_ rk: OpaquePointer, _ context: Context) {
        let topics = context.state.withLock { s -> [String]? in
            guard let at = s.changedAt, ContinuousClock.now - at >= .milliseconds(100) else { return nil }
            s.changedAt = nil
            return s.delegates.keys.sorted()
        }
        guard let topics, !topics.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            context.errors.logger.error("kafka subscribe to \(topics) in group \(context.group): \(RdKafkaHandle.describe(err)); retrying")
            context.state.withLock { $0.changedAt = .now }
        }
    }

    /// Pauses the partitions of topics whose subscriber is behind while others still have room,
    /// resumes them once drained to half; returns whether to poll at all.
    private static func flowControl(_ rk: OpaquePointer, _ context: Context) -> Bool {
        let delegates = context.delegates
        guard !delegates.isEmpty else { return true }  // nothing subscribed yet: serve rebalances
        var full: [String] = [], drained: [String] = []
        var anyRoom = false
        let (paused, assignment) = context.state.withLock { ($0.paused, $0.assignment) }
        for (topic, delegate) in delegates {
            let queued = delegate.queued
            if queued >= context.capacity {
                if paused[topic] != assignment { full.append(topic) }
            } else {
                if paused[topic] == nil { anyRoom = true }
                if paused[topic] != nil && queued <= context.capacity / 2 { drained.append(topic) }
            }
        }
        if !drained.isEmpty {
            setPaused(rk, drained, pause: false)
            context.state.withLock { s in for t in drained { s.paused.removeValue(forKey: t) } }
            anyRoom = true
        }
        // Only pause when another topic can use the fetches: a lone full topic just waits, keeping
        // its prefetch (a resume costs a fetch round trip, up to fetch.wait.max.ms on some brokers).
        if anyRoom && !full.isEmpty {
            setPaused(rk, full, pause: true)
            context.state.withLock { s in for t in full { s.paused[t] = assignment } }
        }
        return anyRoom
    }

    private static func setPaused(_ rk: OpaquePointer, _ topics: [String], pause: Bool) {
        var assigned: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR, let assigned else { return }
        defer { rd_kafka_topic_partition_list_destroy(assigned) }
        let wanted = Set(topics)
        let list = rd_kafka_topic_partition_list_new(assigned.pointee.cnt)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for i in 0..<Int(assigned.pointee.cnt) {
            let element = assigned.pointee.elems[i]
            if wanted.contains(String(cString: element.topic)) { rd_kafka_topic_partition_list_add(list, element.topic, element.partition) }
        }
        guard list.pointee.cnt > 0 else { return }
        _ = pause ? rd_kafka_pause_partitions(rk, list) : rd_kafka_resume_partitions(rk, list)
    }

    private static func consume(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ context: Context) {
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                context.errors.logger.warning("kafka consumer \(topic.isEmpty ? context.group : topic): \(RdKafkaHandle.describe(m.err))")
            }
            return
        }
        guard let delegate = context.delegate(topic) else { return }  // its subscription just stopped
        delegate.received(record(message))
    }

    /// A received message's partition, offset, key, bytes, headers and timestamp.
    static func record(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaRecord {
        let m = message.pointee
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
        return KafkaRecord(partition: m.partition, offset: m.offset, key: key, payload: payload, headers: headers,
                           timestampMs: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp)
    }

    /// The partitions of a list, grouped by topic.
    private static func byTopic(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [String: [Int32]] {
        var out: [String: [Int32]] = [:]
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            out[String(cString: e.topic), default: []].append(e.partition)
        }
        return out
    }

    private static func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                                  _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, _ context: Context) {
        let grouped = partitions.map(byTopic) ?? [:]
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            context.state.withLock { $0.assignment += 1 }
            for (topic, numbers) in grouped { context.delegate(topic)?.assigned(numbers) }
            _ = rd_kafka_assign(rk, partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            var offsets: [(String, Int32, Int64)] = []
            for (topic, numbers) in grouped {
                offsets += (context.delegate(topic)?.revoking(numbers) ?? []).map { (topic, $0.partition, $0.offset) }
            }
            commit(rk, offsets, async: false)
            _ = rd_kafka_assign(rk, nil)
            context.state.withLock { s in
                s.paused = [:]  // a new assignment starts unpaused
                s.leaving = [:]  // their last offsets are committed
            }
        default:
            context.errors.logger.warning("kafka rebalance in group \(context.group): \(RdKafkaHandle.describe(err))")
            _ = rd_kafka_assign(rk, nil)
        }
    }

    private static func commit(_ rk: OpaquePointer, _ offsets: [(topic: String, partition: Int32, offset: Int64)], async: Bool) {
        guard !offsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for (topic, partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
        }
        _ = rd_kafka_commit(rk, list, async ? 1 : 0)
        rd_kafka_topic_partition_list_destroy(list)
    }
}
