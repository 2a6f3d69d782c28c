import Foundation
import KafkaBroker
import Testing

/// Many apps on one Courier: 50 `App`s with 4 subscriptions each on one component all go live,
/// each receives exactly its own events, and on Kafka each app is one group member for all four
/// of its topics (not one per subscription). The start-up time is printed here and measured in
/// `scripts/bench`.
@Suite(.serialized) struct GatewayScaleTests {
    static let apps = 50, topicsPerApp = 4

    @Test(arguments: ["embedded", "kafka", "kafka-noida"])
    func fiftyAppsWithFourSubscriptionsEach(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let sink = try await TestSubscriber(subscriptions: nil)
        let topics = (0..<Self.topicsPerApp).map { "sc\($0)-\(run)" }
        let ids = (0..<Self.apps).map { "app\($0)-\(run)" }
        // Every app subscribes to the same four topics, each at a route naming it, so the one
        // server behind all of them can tell who received what.
        var subscriptions: [String] = []
        for id in ids {
            for (j, topic) in topics.enumerated() {
                subscriptions.append(GatewayTests.declarative("\(id)-\(j)", topic: topic, route: "/\(id)/\(j)", scopes: [id]))
            }
        }
        var resources = ["pubsub.yaml": pubsub, "subscriptions.yaml": subscriptions.joined(separator: "\n---\n")]
        for id in ids { resources["\(id).yaml"] = GatewayTests.app(id, port: sink.port) }
        do {
            let started = Date()
            try await withHarness(resources: resources, withApp: false) { h in
                _ = try await GatewayTests.waitUntilLive(h, Dictionary(uniqueKeysWithValues: ids.map { ($0, Self.topicsPerApp) }))
                let live = Date().timeIntervalSince(started)
                if let kafka = h.runtime.brokers["pubsub"] as? KafkaBroker {
                    let members = kafka.groupMembers
                    #expect(ids.allSatisfy { members[$0] == 1 }, "one group member per app for its four topics: \(members.filter { $0.value != 1 })")
                }
                for (j, topic) in topics.enumerated() {
                    let r = try await h.publish("pubsub/\(topic)", #"{"j":\#(j)}"#)
                    #expect(r.status == 204)
                }
                let expected = Self.apps * Self.topicsPerApp
                _ = try await sink.wait(for: expected, timeout: 60)
                try await Task.sleep(for: .milliseconds(500))
                let paths = sink.requests.map(\.path)
                let want = Set(ids.flatMap { id in (0..<Self.topicsPerApp).map { "/\(id)/\($0)" } })
                #expect(Set(paths) == want, "each app got each of its topics' events: missing \(want.subtracting(paths).sorted().prefix(5))")
                #expect(paths.count == expected, "once each: \(paths.count) deliveries for \(expected)")
                print("gateway scale (\(kind)): \(Self.apps) apps × \(Self.topicsPerApp) subscriptions live \(String(format: "%.1f", live)) s after start-up began")
            }
        } catch {
            await sink.stop()
            throw error
        }
        await sink.stop()
    }
}
