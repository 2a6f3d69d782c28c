import BrokerKit
@testable import EmbeddedBroker
import Foundation
import Logging
import Synchronization
import Testing

@Suite struct EmbeddedBrokerTests {
    static func tempPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-test-\(UUID().uuidString)")
        return dir.appendingPathComponent("store.sqlite").path
    }

    func broker(path: String?, oldest: Bool = false) throws -> EmbeddedBroker {
        var options = EmbeddedOptions()
        options.path = path
        options.initialOffsetOldest = oldest
        return try EmbeddedBroker(name: "ps", type: "pubsub.embedded", options: options, logger: Logger(label: "test"))
    }

    @Test func publishThenReceiveAndAck() async throws {
        let b = try broker(path: nil)
        let stream = try await b.subscribe(SubscribeRequest(topic: "orders", group: "app"))
        try await b.publish(BrokerMessage(topic: "orders", payload: Array("hello".utf8), metadata: ["k": "v"]))
        var it = stream.makeAsyncIterator()
        let d = try await it.next()!
        #expect(d.payload == Array("hello".utf8))
        #expect(d.metadata["k"] == "v")
        #expect(try await b.backlog(topic: "orders", group: "app") == Backlog(undelivered: 0, inFlight: 1))
        try await d.ack()
        #expect(try await b.backlog(topic: "orders", group: "app") == Backlog(undelivered: 0, inFlight: 0))
        await stream.stop()
        await b.close()
    }

    @Test func batchPublishKeepsItsOrderAndRefusesOnlyOversizedEntries() async throws {
        var options = EmbeddedOptions()
        options.initialOffsetOldest = true
        options.maxMessageBytes = 10
        let b = try EmbeddedBroker(name: "ps", type: "pubsub.embedded", options: options, logger: Logger(label: "test"))
        var messages = (0..<3000).map { BrokerMessage(topic: "t", payload: Array("\($0)".utf8)) }  // more than one transaction
        messages[7] = BrokerMessage(topic: "t", payload: [UInt8](repeating: 0, count: 11))
        let results = await b.publishBatch(messages)
        #expect(results.enumerated().allSatisfy { $0.offset == 7 ? $0.element?.kind == .rejected : $0.element == nil })
        let stream = try await b.subscribe(SubscribeRequest(topic: "t", group: "g", window: 4000))
        var got: [Int] = []
        for try await d in stream {
            got.append(Int(String(decoding: d.payload, as: UTF8.self))!)
            try await d.ack()
            if got.count == 2999 { break }
        }
        #expect(got == (0..<3000).filter { $0 != 7 })
        await stream.stop()
        await b.close()
    }

    @Test func survivesReopenWithoutLosingUnackedMessages() async throws {
        let path = Self.tempPath()
        do {
            let b = try broker(path: path)
            let stream = try await b.subscribe(SubscribeRequest(topic: "t", group: "g"))
            for i in 0..<10 { try await b.publish(BrokerMessage(topic: "t", payload: [UInt8(i)])) }
            var it = stream.makeAsyncIterator()
            for _ in 0..<4 { try await it.next()!.ack() }
            let held = try await it.next()!  // in flight, never settled
            #expect(held.payload == [4])
            try await Task.sleep(for: .milliseconds(400))  // let the watermark persist
            await stream.stop()
            await b.close()
            withExtendedLifetime(held) {}
        }
        let b = try broker(path: path)
        #expect(try await b.backlog(topic: "t", group: "g").total == 6)
        let stream = try await b.subscribe(SubscribeRequest(topic: "t", group: "g"))
        var it = stream.makeAsyncIterator()
        var got: [UInt8] = []
        for _ in 0..<6 {
            let d = try await it.next()!
            got.append(d.payload[0])
            try await d.ack()
        }
        #expect(got == [4, 5, 6, 7, 8, 9])
        await stream.stop()
        await b.close()
    }

    @Test func nackRedeliversAndGroupsFanOut() async throws {
        let b = try broker(path: nil)
        let s1 = try await b.subscribe(SubscribeRequest(topic: "t", group: "a"))
        let s2 = try await b.subscribe(SubscribeRequest(topic: "t", group: "b"))
        try await b.publish(BrokerMessage(topic: "t", payload: [1]))
        var i1 = s1.makeAsyncIterator()
        var i2 = s2.makeAsyncIterator()
        let first = try await i1.next()!
        try await first.nack(redeliverAfter: 0.05)
        let again = try await i1.next()!
        #expect(again.payload == [1] && again.attempt == 2)
        try await again.ack()
        let other = try await i2.next()!
        #expect(other.payload == [1] && other.attempt == 1)
        try await other.ack()
        await s1.stop(); await s2.stop()
        await b.close()
    }

    @Test func abandonedDeliveryIsRedelivered() async throws {
        let b = try broker(path: nil)
        let s = try await b.subscribe(SubscribeRequest(topic: "t", group: "g"))
        try await b.publish(BrokerMessage(topic: "t", payload: [7]))
        var it = s.makeAsyncIterator()
        do { _ = try await it.next()! }  // dropped without settling
        let again = try await it.next()!
        #expect(again.payload == [7] && again.attempt == 2)
        try await again.ack()
        await s.stop()
        await b.close()
    }

    @Test func competingSubscribersShareOneGroup() async throws {
        let b = try broker(path: nil)
        let s1 = try await b.subscribe(SubscribeRequest(topic: "t", group: "g"))
        let s2 = try await b.subscribe(SubscribeRequest(topic: "t", group: "g"))
        for i in 0..<100 { try await b.publish(BrokerMessage(topic: "t", payload: [UInt8(i)])) }
        let seen = Seen()
        let counts = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for s in [s1, s2] {
                group.addTask {
                    var got: [UInt8] = []
                    for try await d in s {
                        got.append(d.payload[0])
                        try await Task.sleep(for: .milliseconds(2))  // hold it, as a real consumer would
                        try await d.ack()
                        let total = seen.values.withLock { $0.append(d.payload[0]); return $0.count }
                        if total == 100 { await s1.stop(); await s2.stop() }
                    }
                    return got
                }
            }
            var all: [[UInt8]] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(counts.allSatisfy { !$0.isEmpty }, "both subscribers of the group got work")
        let merged = counts.flatMap { $0 }.sorted()
        #expect(merged == (0..<100).map { UInt8($0) }, "every message exactly once across the group")
        await s1.stop(); await s2.stop()
        await b.close()
    }

    @Test func anExpiredLeaseIsHandedOutAgain() async throws {
        var options = EmbeddedOptions()
        options.leaseSeconds = 0.3
        let b = try EmbeddedBroker(name: "ps", type: "pubsub.embedded", options: options, logger: Logger(label: "test"))
        let s = try await b.subscribe(SubscribeRequest(topic: "t", group: "g"))
        try await b.publish(BrokerMessage(topic: "t", payload: [9]))
        var it = s.makeAsyncIterator()
        let held = try await it.next()!  // kept alive and never settled: a stuck consumer
        let again = try await it.next()!  // arrives once the lease ran out
        #expect(again.payload == [9] && again.attempt == 2)
        try await again.ack()
        try await held.ack()  // settling the expired one is ignored
        #expect(try await b.backlog(topic: "t", group: "g").total == 0)
        await s.stop()
        await b.close()
    }

    @Test func retentionDeletesOldMessages() async throws {
        let b = try broker(path: nil, oldest: true)
        try await b.publish(BrokerMessage(topic: "t", payload: [1]))
        #expect(try await b.backlog(topic: "t", group: "new").total == 1)
        let deleted = try await b.store.deleteOlder(than: RFC3339Clock.now() + 1)
        #expect(deleted == 1)
        #expect(try await b.backlog(topic: "t", group: "new").total == 0)
        await b.close()
    }

    @Test func secondProcessCannotOpenTheSameStore() async throws {
        let path = Self.tempPath()
        let b = try broker(path: path)
        #expect(throws: BrokerError.self) { _ = try broker(path: path) }
        await b.close()
    }
}

final class Seen: Sendable {
    let values = Mutex<[UInt8]>([])
}
