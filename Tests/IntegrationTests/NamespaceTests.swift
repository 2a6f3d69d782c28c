import Foundation
import Testing

/// Namespace-scoped pub/sub (spec §6) through real brokers: `{namespace}` in a component's
/// metadata prefixes every topic at the broker with the namespace, so the same app id in two
/// namespaces neither competes nor sees the other's events, while apps keep using plain names.
@Suite struct NamespaceTests {
    @Test(arguments: ["redis", "rabbitmq"])
    func theSameAppIDInTwoNamespacesIsIsolated(_ kind: String) async throws {
        guard let plain = DurabilityTests.requiredComponent(kind) else { return }
        let scoped = plain + #"  - { name: consumerID, value: "{namespace}" }"# + "\n"
        let topic = "ns-\(UUID().uuidString.prefix(6))"
        let subs = "[" + subscription(topic: topic) + "]"
        func numbers(_ received: [TestSubscriber.Received]) -> Set<Int> {
            Set(received.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int })
        }
        try await withHarness(resources: ["pubsub.yaml": scoped], subscriptions: subs, appID: "orders",
                              configure: { $0.namespace = "nsa" }) { a in
            try await withHarness(resources: ["pubsub.yaml": scoped], subscriptions: subs, appID: "orders",
                                  configure: { $0.namespace = "nsb" }) { b in
                // An app outside any namespace, subscribed to the broker's own name of nsa's topic.
                try await withHarness(resources: ["pubsub.yaml": plain], subscriptions: "[" + subscription(topic: "nsa" + topic) + "]",
                                      appID: "observer") { observer in
                    for n in 0..<3 {
                        #expect(try await a.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204)
                    }
                    #expect(try await b.publish("pubsub/\(topic)", #"{"n":100}"#).status == 204)

                    let inA = try await a.subscriber!.wait(for: 3, path: "/events")
                    let inB = try await b.subscriber!.wait(for: 1, path: "/events")
                    let seen = try await observer.subscriber!.wait(for: 3, path: "/events")
                    #expect(numbers(inA) == [0, 1, 2], "nsa's app gets nsa's events only")
                    #expect(numbers(inB) == [100], "nsb's app (same app id) gets nsb's events only")
                    #expect(numbers(seen) == [0, 1, 2], "at the broker the topic is \"nsa\" + topic, no separator")
                    // The app sees the topic it published to, never the prefixed name.
                    #expect((inA + inB + seen).allSatisfy { $0.json?["topic"] as? String == topic })

                    // The backlog feed takes the app's topic name too (unprefixed, the broker has no such
                    // stream or queue) and drains to 0 once nsa's app acknowledged its events.
                    var backlog = try await a.request(.GET, "/v1.0-alpha1/backlog/pubsub/\(topic)")
                    for _ in 0..<50 where backlog.status != 200 || (backlog.json?["total"] as? Int) != 0 {
                        try await Task.sleep(for: .milliseconds(100))
                        backlog = try await a.request(.GET, "/v1.0-alpha1/backlog/pubsub/\(topic)")
                    }
                    #expect(backlog.status == 200 && backlog.json?["total"] as? Int == 0, "\(backlog.body)")
                    #expect(backlog.json?["consumerGroup"] as? String == "nsa.orders")

                    // Nothing crosses over later either.
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(numbers(a.subscriber!.requests) == [0, 1, 2])
                    #expect(numbers(b.subscriber!.requests) == [100])
                }
            }
        }
    }
}
