import BrokerKit
import CloudEvents
import Foundation
import JetStreamBroker
import Resources
import Testing

/// JetStream options beyond the shared conformance cases (spec §10.6), against the real server.
@Suite struct JetStreamOptionTests {
    func broker(_ url: String, _ extra: [String: String] = [:]) async throws -> JetStreamBroker {
        var md = ["natsURL": url]
        md.merge(extra) { $1 }
        return try await JetStreamBroker(component: Component(name: "pubsub", type: "pubsub.jetstream", metadata: ComponentMetadata(md)), logger: BrokerFixture.logger)
    }

    @Test func nakWithDelayWaitsAndMaxDeliverStopsRedelivery() async throws {
        guard let url = AdapterTest.server("NATS_URL") else { return }
        let b = try await broker(url, ["maxDeliver": "2"])
        let topic = AdapterTest.topic("nak")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("x".utf8)))
        let start = ContinuousClock.now
        let attempts = Counter()
        let got = try await AdapterTest.collect(s, max: 3, within: 4) { d in
            attempts.add()
            try await d.nack(redeliverAfter: 1)
        }
        #expect(got.count == 2, "maxDeliver 2: delivered twice, then no more")
        #expect(ContinuousClock.now - start >= .milliseconds(900), "the second delivery waited for the nak delay")
        await b.close()
    }

    @Test func ackWaitRedeliversWhatIsHeldTooLong() async throws {
        guard let url = AdapterTest.server("NATS_URL") else { return }
        let b = try await broker(url, ["ackWait": "1s"])
        let topic = AdapterTest.topic("ackwait")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("x".utf8)))
        var held: [Delivery] = []  // kept unsettled, as by a stuck subscriber
        var it = s.makeAsyncIterator()
        if let first = try await it.next() { held.append(first) }
        let again = try await AdapterTest.collect(s, max: 1, within: 4)
        #expect(again == ["x"])
        #expect(held.first?.attempt == 1)
        for d in held { try await d.ack() }
        await b.close()
    }

    @Test func deliverPolicyNewSkipsWhatWasStoredBefore() async throws {
        guard let url = AdapterTest.server("NATS_URL") else { return }
        let b = try await broker(url, ["deliverPolicy": "new"])
        let topic = AdapterTest.topic("new")
        try await b.publish(BrokerMessage(topic: topic, payload: Array("old".utf8)))
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        try await b.publish(BrokerMessage(topic: topic, payload: Array("fresh".utf8)))
        #expect(try await AdapterTest.collect(s, max: 2, within: 2) == ["fresh"])
        await b.close()
    }

    @Test func theSameCloudEventIdIsStoredOnce() async throws {
        guard let url = AdapterTest.server("NATS_URL") else { return }
        let b = try await broker(url)
        let topic = AdapterTest.topic("dedupe")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        let event = Array(#"{"specversion":"1.0","id":"same-id","source":"s","type":"t","data":1}"#.utf8)
        for _ in 0..<3 {
            try await b.publish(BrokerMessage(topic: topic, payload: event, contentType: "application/cloudevents+json"))
        }
        #expect(try await AdapterTest.collect(s, max: 3, within: 2).count == 1, "Nats-Msg-Id deduplication")
        await b.close()
    }

    @Test func replicasOfOneGroupCompeteOnTheDurableConsumer() async throws {
        guard let url = AdapterTest.server("NATS_URL") else { return }
        let one = try await broker(url), two = try await broker(url)
        let topic = AdapterTest.topic("compete")
        let a = try await one.subscribe(SubscribeRequest(topic: topic, group: "app", window: 5))
        let b = try await two.subscribe(SubscribeRequest(topic: topic, group: "app", window: 5))
        for i in 0..<60 { try await one.publish(BrokerMessage(topic: topic, payload: Array("\(i)".utf8))) }
        // Each replica waits out the whole window (it never gets all 60): 8 s leaves room for a
        // loaded machine (the full suite runs in parallel on two cores; 3 s once fell short there).
        async let ga = AdapterTest.collect(a, max: 60, within: 8) { d in try await Task.sleep(for: .milliseconds(5)); try await d.ack() }
        async let gb = AdapterTest.collect(b, max: 60, within: 8) { d in try await Task.sleep(for: .milliseconds(5)); try await d.ack() }
        let (x, y) = try await (ga, gb)
        #expect(Set(x + y).count == 60 && x.count + y.count == 60, "each message once across both replicas")
        #expect(!x.isEmpty && !y.isEmpty, "both replicas got work: \(x.count) / \(y.count)")
        await one.close()
        await two.close()
    }

    /// A stream provisioned beforehand that holds other subjects too: before any consumer exists the
    /// backlog counts only the topic's messages, and the durable consumer reads only them.
    @Test func backlogOnAProvisionedStreamCountsOnlyTheTopic() async throws {
        guard let url = AdapterTest.server("NATS_URL"), ProcessInfo.processInfo.environment["COURIER_PYTHON"] != nil else { return }
        let topic = AdapterTest.topic("shared")
        try await BrokerFixture.provisionStream(url: url, topic: topic)
        let b = try await broker(url, ["disableEntityManagement": "true"])
        for i in 0..<3 { try await b.publish(BrokerMessage(topic: topic, payload: Array("t\(i)".utf8))) }
        for i in 0..<5 { try await b.publish(BrokerMessage(topic: "\(topic).audit", payload: Array("a\(i)".utf8))) }
        let before = try await b.backlog(topic: topic, group: "g")
        #expect(before.undelivered == 3 && before.inFlight == 0, "\(before)")
        let s = try await b.subscribe(SubscribeRequest(topic: topic, group: "g"))
        #expect(Set(try await AdapterTest.collect(s, max: 8, within: 2)) == ["t0", "t1", "t2"])
        var after = try await b.backlog(topic: topic, group: "g")
        for _ in 0..<20 where after.undelivered + after.inFlight > 0 {  // acks are sent without waiting for the server
            try await Task.sleep(for: .milliseconds(100))
            after = try await b.backlog(topic: topic, group: "g")
        }
        #expect(after.undelivered == 0 && after.inFlight == 0, "\(after)")
        await b.close()
    }

    @Test func missingStreamNameStreamStopsTheStartWithoutEntityManagement() async throws {
        guard let url = AdapterTest.server("NATS_URL") else { return }
        await #expect(throws: BrokerError.self) {
            _ = try await broker(url, ["streamName": "NOT_THERE_\(UUID().uuidString.prefix(6))", "disableEntityManagement": "true"])
        }
    }

    @Test func badOptionsAreConfigurationErrors() async {
        for md in [[:], ["natsURL": "nats://x", "deliverPolicy": "sometimes"], ["natsURL": "nats://x", "deliverPolicy": "sequence"],
                   ["natsURL": "nats://x", "ackPolicy": "none"], ["natsURL": "nats://x", "ackWait": "soon"], ["natsURL": "nats://x", "jwt": "j"],
                   ["natsURL": "nats://x", "jwt": "a.b.c", "seedKey": "SAxyz"], ["natsURL": "nats://x", "jwt": "not-a-jwt", "seedKey": "SUxyz"],
                   ["natsURL": "nats://x", "disableEntityManagement": "sometimes"]] {
            await #expect(throws: BrokerError.self, "\(md)") { _ = try await broker(md["natsURL"] ?? "", md) }
        }
    }
}
