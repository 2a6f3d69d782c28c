// Raw-client baselines for scripts/bench: each broker driven directly through the same C library
// Courier wraps, as fast as the library allows, with the same delivery guarantee Courier waits for.
// Prints messages per second.
//   RawBench kafka BROKERS TOPIC COUNT SIZE     librdkafka producer, acks=all, idempotent
//   RawBench amqp HOST PORT COUNT SIZE          librabbitmq, publisher confirms, persistent
//   RawBench nats URL COUNT SIZE                nats.c, JetStream async publish + PubAcks
import Foundation

func elapsedSeconds(since start: ContinuousClock.Instant) -> Double {
    let e = ContinuousClock.now - start
    return Double(e.components.seconds) + Double(e.components.attoseconds) / 1e18
}

let a = CommandLine.arguments
func arg(_ i: Int) -> String {
    guard i < a.count else {
        FileHandle.standardError.write(Data("usage: RawBench kafka BROKERS TOPIC COUNT SIZE | amqp HOST PORT COUNT SIZE | nats URL COUNT SIZE\n".utf8))
        exit(2)
    }
    return a[i]
}
let rate: Double
switch arg(1) {
case "kafka": rate = kafkaProducerLoop(brokers: arg(2), topic: arg(3), count: Int(arg(4))!, size: Int(arg(5))!)
case "amqp": rate = amqpPublisherLoop(host: arg(2), port: Int(arg(3))!, count: Int(arg(4))!, size: Int(arg(5))!)
case "nats": rate = natsPublisherLoop(url: arg(2), count: Int(arg(3))!, size: Int(arg(4))!)
default: _ = arg(99); rate = 0
}
print(Int(rate))
