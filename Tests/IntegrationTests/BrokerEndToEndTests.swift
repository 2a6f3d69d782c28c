import BrokerKit
import Foundation
import Testing

/// Courier end to end over each real broker: HTTP publish → broker → HTTP push, with routing,
/// dead letters and TTL, so every adapter is exercised through the whole gateway.
@Suite(.serialized) struct BrokerEndToEndTests {
    @Test(arguments: ["embedded", "redis", "kafka", "kafka-noida", "jetstream", "rabbitmq", "mqtt"])
    func publishRouteDeadLetterAndExpireThroughTheBroker(_ kind: String) async throws {
        guard let component = DurabilityTests.requiredComponent(kind) else { return }
        let topic = "e2e-\(UUID().uuidString.prefix(6))"
        let subs = #"[{"pubsubname":"pubsub","topic":"\#(topic)","deadLetterTopic":"\#(topic)-dead","routes":{"rules":[{"match":"event.data.kind == 'vip'","path":"/vip"}],"default":"/events"}},{"pubsubname":"pubsub","topic":"\#(topic)-dead","route":"/dead","metadata":{"rawPayload":"true"}}]"#
        try await withHarness(resources: ["pubsub.yaml": component], subscriptions: subs, appID: "e2e-\(kind)", respond: { r, _ in
            r.path == "/events" && (r.json?["data"] as? [String: Any])?["kind"] as? String == "poison" ? (404, "") : (200, "")
        }) { h in
            #expect(try await h.publish("pubsub/\(topic)?metadata.custom=1", #"{"kind":"vip"}"#).status == 204)
            #expect(try await h.publish("pubsub/\(topic)", #"{"kind":"plain"}"#).status == 204)
            #expect(try await h.publish("pubsub/\(topic)", #"{"kind":"poison"}"#).status == 204)
            let client = #"{"specversion":"1.0","id":"old","source":"s","type":"t","expiration":"2000-01-01T00:00:00Z","data":{"kind":"late"}}"#
            #expect(try await h.publish("pubsub/\(topic)", client, contentType: "application/cloudevents+json").status == 204)
            let vip = try await h.subscriber!.wait(for: 1, path: "/vip")
            if kind != "mqtt" {  // MQTT 3.1.1 has no message headers
                #expect(vip[0].headers["custom"] == "1", "publish metadata travels through \(kind)")
            }
            _ = try await h.subscriber!.wait(for: 2, path: "/events")
            let dead = try await h.subscriber!.wait(for: 2, path: "/dead")
            let originals = dead.compactMap { ($0.json?["data_base64"] as? String).flatMap { Data(base64Encoded: $0) } }
                .compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            let kinds = Set(originals.compactMap { ($0["data"] as? [String: Any])?["kind"] as? String })
            #expect(kinds == ["poison", "late"], "404 and expiry both dead-letter through \(kind)")
            // Acks follow the app's answers; give the last ones a moment to settle.
            var backlog = try await h.runtime.brokers["pubsub"]!.backlog(topic: topic, group: "e2e-\(kind)")
            for _ in 0..<30 where backlog.total != 0 {
                try await Task.sleep(for: .milliseconds(100))
                backlog = try await h.runtime.brokers["pubsub"]!.backlog(topic: topic, group: "e2e-\(kind)")
            }
            #expect(backlog.total == 0, "\(backlog)")
        }
    }

    /// A dead-letter publish that the broker refuses must leave the original unacknowledged.
    /// RabbitMQ refuses it naturally: nothing is bound to the dead-letter topic's exchange, so the
    /// mandatory publish comes back unroutable. The app keeps answering 404 (drop → dead-letter);
    /// the event must come back to it, and once a queue exists for the dead-letter topic it lands there.
    @Test func aRefusedDeadLetterPublishKeepsTheOriginal() async throws {
        guard let component = DurabilityTests.requiredComponent("rabbitmq") else { return }
        let topic = "dlfail-\(UUID().uuidString.prefix(6))"
        let subs = #"[{"pubsubname":"pubsub","topic":"\#(topic)","deadLetterTopic":"\#(topic)-dead","route":"/events"}]"#
        try await withHarness(resources: ["pubsub.yaml": component], subscriptions: subs, appID: "dlfail",
                              respond: { _, _ in (404, "") }) { h in
            #expect(try await h.publish("pubsub/\(topic)", #"{"kind":"poison"}"#).status == 204)
            let again = try await h.subscriber!.wait(for: 2, path: "/events", timeout: 15)
            #expect(again.count >= 2, "the original was not acknowledged while its dead letter could not be stored")
            // Give the dead-letter topic a queue: the next attempt stores it there and acks the original.
            let broker = h.runtime.brokers["pubsub"]!
            let dead = try await broker.subscribe(SubscribeRequest(topic: "\(topic)-dead", group: "inspector"))
            var it = dead.makeAsyncIterator()
            let letter = try await it.next()
            #expect(letter.map { String(decoding: $0.payload, as: UTF8.self).contains("poison") } == true)
            try await letter?.ack()
            await dead.stop()
        }
    }
}
