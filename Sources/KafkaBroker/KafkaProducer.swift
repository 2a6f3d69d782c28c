import BrokerKit
import CRdKafka
import Foundation
import Logging
import Synchronization

/// The one librdkafka producer of a component. `send` enqueues the record (a non-blocking C call)
/// and suspends until its delivery report arrives on the producer's poll thread: with the
/// default `acks=all` and idempotence, that is when every in-sync replica has it.
final class KafkaProducer: Sendable {
    private struct Handle: @unchecked Sendable { let raw: OpaquePointer }
    private let handle: Handle
    private let poller: PollThread
    private let events: ErrorEvents

    init(properties: [(String, String)], label: String, logger: Logger) throws(BrokerError) {
        let conf = try RdKafkaHandle.configuration(properties)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            Unmanaged<ReportBox>.fromOpaque(opaque).takeRetainedValue().continuation.resume(returning: message.pointee.err)
        }
        let events = ErrorEvents(role: "producer", logger: logger)
        events.install(on: conf)
        let handle = Handle(raw: try RdKafkaHandle.make(RD_KAFKA_PRODUCER, conf))
        self.handle = handle
        self.events = events
        poller = PollThread(name: "kafka-producer-\(label)",
                            body: { rd_kafka_poll(handle.raw, 100) },
                            finish: {
                                rd_kafka_flush(handle.raw, 10_000)
                                rd_kafka_destroy(handle.raw)
                                _ = events  // the handle's error callback refers to it until here
                            })
    }

    private final class ReportBox {
        let continuation: CheckedContinuation<rd_kafka_resp_err_t, Never>
        init(_ c: CheckedContinuation<rd_kafka_resp_err_t, Never>) { continuation = c }
    }

    /// True unless librdkafka reported a broker-level error since the last successful delivery.
    var isHealthy: Bool { events.lastError == nil }

    /// Sends one record and waits for its delivery report.
    func send(topic: String, partition: Int32, key: [UInt8]?, payload: [UInt8], headers: [(String, String)]) async throws(BrokerError) {
        guard !poller.isStopping else { throw BrokerError(.closed, "kafka producer is closed") }
        var waited = 0
        while true {
            let err = await withCheckedContinuation { (c: CheckedContinuation<rd_kafka_resp_err_t, Never>) in
                let box = Unmanaged.passRetained(ReportBox(c))
                let hdrs = Self.makeHeaders(headers)
                let err = payload.withUnsafeBytes { value in
                    (key ?? []).withUnsafeBytes { keyBytes in
                        courier_rdk_produce(handle.raw, topic, partition, key == nil ? nil : keyBytes.baseAddress, keyBytes.count,
                                            value.baseAddress, value.count, hdrs, box.toOpaque())
                    }
                }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if let hdrs { rd_kafka_headers_destroy(hdrs) }
                    box.release()
                    c.resume(returning: err)
                }
            }
            switch err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                events.clear()
                return
            case RD_KAFKA_RESP_ERR__QUEUE_FULL where waited < 3_000:
                // The local queue is full: wait for deliveries to drain it (up to ~30 s).
                waited += 1
                try? await Task.sleep(for: .milliseconds(10))
            case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD,
                 RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
                throw BrokerError(.rejected, "kafka rejected the record for \(topic): \(RdKafkaHandle.describe(err))")
            default:
                throw BrokerError(.unavailable, "kafka did not confirm the record for \(topic): \(RdKafkaHandle.describe(err))")
            }
        }
    }

    private static func makeHeaders(_ headers: [(String, String)]) -> OpaquePointer? {
        guard !headers.isEmpty else { return nil }
        let h = rd_kafka_headers_new(headers.count)!
        for (name, value) in headers {
            var v = value
            v.withUTF8 { bytes in _ = rd_kafka_header_add(h, name, -1, bytes.baseAddress, bytes.count) }
        }
        return h
    }

    /// Flushes outstanding records (up to 10 s) and destroys the handle.
    func close() async { await poller.stop() }
}
