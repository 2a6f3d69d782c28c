// The raw librdkafka baseline for scripts/bench: one producer with Courier's settings (acks=all,
// idempotence) sending COUNT records of SIZE bytes as fast as the library takes them, then
// waiting for every delivery report. Prints records per second.
// Usage: KafkaBench BROKERS TOPIC [COUNT] [SIZE]
//        KafkaBench BROKERS TOPIC COUNT SIZE adapter   (consume COUNT through Courier's KafkaBroker, prints records/s)
import BrokerKit
import CRdKafka
import Foundation
import KafkaBroker
import Logging
import Resources

if CommandLine.arguments.count > 5 && CommandLine.arguments[5] == "adapter" {
    let a = CommandLine.arguments
    let broker = try KafkaBroker(component: Component(name: "k", type: "pubsub.kafka",
        metadata: ComponentMetadata(["brokers": a[1], "authType": "none", "initialOffset": "oldest", "sessionTimeout": "6s", "heartbeatInterval": "500ms", "librdkafka.fetch.wait.max.ms": ProcessInfo.processInfo.environment["FWM"] ?? "500"])),
        logger: Logger(label: "bench"))
    let stream = try await broker.subscribe(SubscribeRequest(topic: a[2], group: "bench-\(UUID().uuidString.prefix(6))"))
    let n = Int(a[3])!
    let start = ContinuousClock.now
    var got = 0
    for try await d in stream {
        try await d.ack()
        got += 1
        if got == n { break }
    }
    let e = ContinuousClock.now - start
    print(Int(Double(got) / (Double(e.components.seconds) + Double(e.components.attoseconds) / 1e18)))
    await stream.stop()
    await broker.close()
    exit(0)
}

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write("usage: KafkaBench BROKERS TOPIC [COUNT] [SIZE]\n".data(using: .utf8)!)
    exit(2)
}
let count = args.count > 3 ? Int(args[3])! : 200_000
let size = args.count > 4 ? Int(args[4])! : 1024

let conf = rd_kafka_conf_new()!
var errstr = [CChar](repeating: 0, count: 512)
for (k, v) in [("bootstrap.servers", args[1]), ("acks", "all"), ("enable.idempotence", "true"), ("queue.buffering.max.messages", "1000000")] {
    guard rd_kafka_conf_set(conf, k, v, &errstr, errstr.count) == RD_KAFKA_CONF_OK else { fatalError("\(k)") }
}
nonisolated(unsafe) var failed = 0
rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
    if message!.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR { failed += 1 }
}
guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else { fatalError("rd_kafka_new") }
let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)

// Warm up: metadata and the producer id.
_ = courier_rdk_produce(rk, args[2], -1, nil, 0, payload, payload.count, nil, nil)
rd_kafka_flush(rk, 10_000)

let start = ContinuousClock.now
var sent = 0
while sent < count {
    let err = payload.withUnsafeBytes { courier_rdk_produce(rk, args[2], -1, nil, 0, $0.baseAddress, $0.count, nil, nil) }
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
print(Int(Double(count - failed) / seconds))
rd_kafka_destroy(rk)
