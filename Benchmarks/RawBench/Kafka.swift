import CRdKafka
import Foundation

/// One librdkafka producer with Courier's settings (acks=all, idempotence) sending `count` records
/// of `size` bytes as fast as the library takes them, then waiting for every delivery report.
/// Failed delivery reports (the C callback cannot capture a local).
nonisolated(unsafe) var kafkaFailed = 0

func kafkaProducerLoop(brokers: String, topic: String, count: Int, size: Int) -> Double {
    let conf = rd_kafka_conf_new()!
    var errstr = [CChar](repeating: 0, count: 512)
    for (k, v) in [("bootstrap.servers", brokers), ("acks", "all"), ("enable.idempotence", "true"), ("queue.buffering.max.messages", "1000000")] {
        guard rd_kafka_conf_set(conf, k, v, &errstr, errstr.count) == RD_KAFKA_CONF_OK else { fatalError("\(k)") }
    }
    rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
        if message!.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR { kafkaFailed += 1 }
    }
    guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else { fatalError("rd_kafka_new") }
    let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)

    // Warm up: metadata and the producer id.
    _ = courier_rdk_produce(rk, topic, -1, nil, 0, payload, payload.count, nil, nil)
    rd_kafka_flush(rk, 10_000)

    let start = ContinuousClock.now
    var sent = 0
    while sent < count {
        let err = payload.withUnsafeBytes { courier_rdk_produce(rk, topic, -1, nil, 0, $0.baseAddress, $0.count, nil, nil) }
        if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
            rd_kafka_poll(rk, 1)
            continue
        }
        precondition(err == RD_KAFKA_RESP_ERR_NO_ERROR, String(cString: rd_kafka_err2str(err)))
        sent += 1
        if sent % 1000 == 0 { rd_kafka_poll(rk, 0) }
    }
    rd_kafka_flush(rk, 60_000)
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    rd_kafka_destroy(rk)
    return Double(count - kafkaFailed) / seconds
}
