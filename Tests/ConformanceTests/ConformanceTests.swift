import BrokerKit
import Foundation
import Synchronization
import Testing

/// One suite, every broker: the same cases run against each fixture (as dapr/components-contrib's
/// pub/sub conformance tests do). A broker whose server is not configured is skipped with its
/// reason, unless COURIER_REQUIRE_BROKERS=1, where that is a failure.
@Suite struct ConformanceTests {
    func withBroker(_ fixture: BrokerFixture, _ body: (any MessageBroker, String) async throws -> Void) async throws {
        if BrokerFixture.skipped.contains(fixture.name) {
            print("skipping \(fixture.name): listed in COURIER_SKIP_FIXTURES")
            return
        }
        guard let make = fixture.make else {
            if BrokerFixture.brokersRequired { Issue.record("\(fixture.name) is required but unavailable: \(fixture.unavailableReason ?? "")") }
            else { print("skipping \(fixture.name): \(fixture.unavailableReason ?? "")") }
            return
        }
        let broker = try await make()
        let topic = "conf-\(UUID().uuidString.prefix(8))"
        do {
            try await fixture.prepare?(broker, topic)
            try await body(broker, topic)
        } catch {
            await broker.close()
            throw error
        }
        await broker.close()
    }

    /// What the suite keeps of a delivery (never the `Delivery` itself, so unsettled ones are released).
    struct Received: Sendable {
        var payload: [UInt8]
        var metadata: [String: String]
        var attempt: Int
    }

    /// Pulls `count` deliveries (or fails after `timeout`, stopping the stream), settling each with `settle`.
    func receive(_ stream: DeliveryStream, _ count: Int, timeout: Double = 15,
                 settle: @escaping @Sendable (Delivery) async throws -> Void = { try await $0.ack() }) async throws -> [Received] {
        let timer = Task {
            try await Task.sleep(for: .seconds(timeout))
            await stream.stop()
        }
        defer { timer.cancel() }
        var got: [Received] = []
        var it = stream.makeAsyncIterator()
        while got.count < count, let d = try await it.next() {
            got.append(Received(payload: d.payload, metadata: d.metadata, attempt: d.attempt))
            try await settle(d)
        }
        guard got.count == count else { throw ConformanceFailure("received \(got.count) of \(count) deliveries within \(timeout)s") }
        return got
    }

    @Test(arguments: BrokerFixture.all)
    func publishThenReceiveWithPayloadAndMetadata(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            let payload = Array(#"{"specversion":"1.0","id":"1","data":"é\u0000"}"#.utf8)
            try await broker.publish(BrokerMessage(topic: topic, payload: payload, contentType: "application/cloudevents+json", metadata: ["k": "v", "ttlInSeconds": "5"]))
            let got = try await receive(stream, 1)
            #expect(got[0].payload == payload)
            if fixture.carriesMetadata {
                #expect(got[0].metadata["k"] == "v" && got[0].metadata["ttlInSeconds"] == "5")
            }
            await stream.stop()
        }
    }

    @Test(arguments: BrokerFixture.all)
    func manyMessagesNoneLost(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            let n = 300
            let results = await broker.publishBatch((0..<n).map { BrokerMessage(topic: topic, payload: Array("\($0)".utf8)) })
            #expect(results.allSatisfy { $0 == nil })
            let got = try await receive(stream, n)
            let values = got.map { Int(String(decoding: $0.payload, as: UTF8.self))! }
            #expect(Set(values) == Set(0..<n))
            #expect(values.count - Set(values).count == 0, "duplicates")
            await stream.stop()
        }
    }

    @Test(arguments: BrokerFixture.all)
    func nackRedeliversAndAbandonedIsRedelivered(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            try await broker.publish(BrokerMessage(topic: topic, payload: [1]))
            try await broker.publish(BrokerMessage(topic: topic, payload: [2]))
            // The first delivery of 1 is nacked, the first of 2 dropped unsettled (its task "died");
            // both must come back (in whatever order the broker chooses) as redeliveries.
            let seen = Mutex<(first: Set<UInt8>, again: [UInt8: Int])>(([], [:]))
            _ = try await receive(stream, 4, timeout: 20) { d in
                let payload = d.payload.first ?? 0
                let isFirst = seen.withLock { s in s.first.insert(payload).inserted }
                if isFirst {
                    if payload == 1 { try await d.nack(redeliverAfter: 0.1) }
                    return  // payload 2: never settled
                }
                seen.withLock { s in s.again[payload] = d.attempt }
                try await d.ack()
            }
            let result = seen.withLock { $0 }
            #expect(result.first == [1, 2])
            #expect(Set(result.again.keys) == [1, 2], "both redelivered")
            #expect(result.again.values.allSatisfy { $0 >= 2 }, "redeliveries count as attempt 2 or more: \(result.again)")
            await stream.stop()
        }
    }

    @Test(arguments: BrokerFixture.all)
    func oneGroupSplitsTheWorkTwoGroupsEachGetEverything(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            // A small prefetch window, so a pull-based broker (JetStream) cannot hand every message to
            // whichever member fetched first under load.
            let a1 = try await broker.subscribe(SubscribeRequest(topic: topic, group: "a-\(topic)", window: 10))
            let a2 = try await broker.subscribe(SubscribeRequest(topic: topic, group: "a-\(topic)", window: 10))
            let b = try await broker.subscribe(SubscribeRequest(topic: topic, group: "b-\(topic)"))
            let n = 100
            _ = await broker.publishBatch((0..<n).map { BrokerMessage(topic: topic, payload: Array("\($0)".utf8), metadata: fixture.spreadingMetadata($0)) })
            let seen = Counter()
            let split = try await withThrowingTaskGroup(of: [String].self) { tasks in
                for stream in [a1, a2] {
                    tasks.addTask {
                        var got: [String] = []
                        for try await d in stream {
                            got.append(String(decoding: d.payload, as: UTF8.self))
                            try await Task.sleep(for: .milliseconds(2))  // hold it, as a real consumer would
                            try await d.ack()
                            if seen.add() == n { await a1.stop(); await a2.stop() }
                        }
                        return got
                    }
                }
                var all: [[String]] = []
                for try await part in tasks { all.append(part) }
                return all
            }
            let merged = split.flatMap { $0 }
            // Exactly once within the group, except across a rebalance (under load the second Kafka
            // member can join after the first began): then an in-flight message may come twice.
            let duplicatesAllowed = fixture.redividesWork ? 10 : 0
            #expect(Set(merged).count == n && merged.count <= n + duplicatesAllowed,
                    "every message once within the group: \(merged.count) deliveries, \(Set(merged).count) distinct, split \(split.map(\.count))")
            #expect(split.allSatisfy { !$0.isEmpty }, "both consumers got work")
            // Group b held its prefetch while group a worked; under load that can outlast a broker's
            // redelivery timeout (Redis processingTimeout), so a message may come twice: count
            // distinct messages, at least once each.
            var groupB = Set<String>()
            while groupB.count < n {
                for d in try await receive(b, 1) { groupB.insert(String(decoding: d.payload, as: UTF8.self)) }
            }
            #expect(groupB.count == n)
            await a1.stop(); await a2.stop(); await b.stop()
        }
    }

    @Test(arguments: BrokerFixture.all)
    func largePayloadRoundTrips(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            let big = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try await broker.publish(BrokerMessage(topic: topic, payload: big))
            let got = try await receive(stream, 1)
            #expect(got[0].payload == big)
            await stream.stop()
        }
    }

    @Test(arguments: BrokerFixture.all)
    func backlogCountsUntilDrained(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            _ = await broker.publishBatch((0..<25).map { BrokerMessage(topic: topic, payload: [UInt8($0)]) })
            try await Task.sleep(for: .milliseconds(300))
            let before = try await broker.backlog(topic: topic, group: "g-\(topic)")
            #expect(before.total == 25, "\(before)")
            _ = try await receive(stream, 25)
            try await Task.sleep(for: .milliseconds(300))
            let after = try await broker.backlog(topic: topic, group: "g-\(topic)")
            #expect(after.total == 0, "\(after)")
            await stream.stop()
        }
    }
}

extension ConformanceTests {
    /// Every broker keeps publish order for a single consumer when nothing fails (Kafka: within one partition key).
    @Test(arguments: BrokerFixture.all)
    func orderIsKeptForOneConsumer(_ fixture: BrokerFixture) async throws {
        try await withBroker(fixture) { broker, topic in
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            for i in 0..<100 { try await broker.publish(BrokerMessage(topic: topic, payload: Array("\(i)".utf8), metadata: fixture.orderingMetadata)) }
            let got = try await receive(stream, 100).map { Int(String(decoding: $0.payload, as: UTF8.self))! }
            #expect(got == Array(0..<100))
            await stream.stop()
        }
    }

    @Test(arguments: BrokerFixture.all)
    func reconnectAfterTheBrokerRestartsLosesNothingAcknowledged(_ fixture: BrokerFixture) async throws {
        guard fixture.make != nil, let isolated = fixture.isolated, !BrokerFixture.skipped.contains(fixture.name) else { return }  // no separate server to restart
        let server = try await isolated()
        let broker = server.broker
        let restart = server.restart
        let topic = "conf-\(UUID().uuidString.prefix(8))"
        do {
            try await server.prepare?(broker, topic)
            let stream = try await broker.subscribe(SubscribeRequest(topic: topic, group: "g-\(topic)"))
            var acknowledged: Set<String> = []
            func publish(_ range: Range<Int>) async throws {
                for i in range {
                    for attempt in 0..<100 {
                        do {
                            try await broker.publish(BrokerMessage(topic: topic, payload: Array("\(i)".utf8)))
                            acknowledged.insert("\(i)")
                            break
                        } catch {
                            if attempt == 99 { throw error }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
            }
            try await publish(0..<50)
            let early = try await receive(stream, 20)
            try await restart()
            try await publish(50..<100)
            // At-least-once: redeliveries after the restart are allowed, so count distinct payloads.
            var got = Set(early.map { String(decoding: $0.payload, as: UTF8.self) })
            let timer = Task {
                try await Task.sleep(for: .seconds(30))
                await stream.stop()
            }
            var it = stream.makeAsyncIterator()
            while !acknowledged.isSubset(of: got), let d = try await it.next() {
                got.insert(String(decoding: d.payload, as: UTF8.self))
                try await d.ack()
            }
            timer.cancel()
            #expect(acknowledged.count == 100)
            #expect(acknowledged.isSubset(of: got), "missing after the restart: \(acknowledged.subtracting(got).sorted())")
            await stream.stop()
        } catch {
            await broker.close()
            try? await server.stop()
            throw error
        }
        await broker.close()
        try await server.stop()
    }
}

struct ConformanceFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    @discardableResult
    func add() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    var count: Int { value.load(ordering: .relaxed) }
}
