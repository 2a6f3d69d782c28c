import Foundation
import Synchronization
import Testing

/// Configuration that changes while Courier delivers: files in the resources path are added,
/// changed and removed under a steady publish load; each change applies per resource, unchanged
/// subscriptions lose nothing, and a change with a problem is refused whole.
@Suite(.serialized) struct LiveReloadTests {
    /// A number shared with the publishing task.
    final class Shared: Sendable {
        let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .relaxed) }
        func set(_ v: Int) { value.store(v, ordering: .relaxed) }
        var current: Int { value.load(ordering: .relaxed) }
    }

    static func declarative(_ name: String, topic: String, route: String) -> String {
        GatewayTests.declarative(name, topic: topic, route: route, scopes: ["app1"])
    }

    /// `GET /v1.0/metadata`'s record of the last reload.
    static func lastReload(_ h: Harness) async throws -> [String: Any]? {
        try await h.request(.GET, "/v1.0/metadata").json?["courierConfigReload"] as? [String: Any]
    }

    /// Waits until the last reload's record satisfies `condition`.
    static func waitForReload(_ h: Harness, _ what: String, _ condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let r = try await lastReload(h), condition(r) { return r }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("no reload \(what) within 15 s: \(String(describing: try await lastReload(h)))")
    }

    static func changes(_ r: [String: Any]) -> [String] { r["changes"] as? [String] ?? [] }

    /// Waits until `count` more events were published, so every change happens under load (on a
    /// busy machine publishing slows down; a fixed sleep once let a whole run pass with 29 events).
    static func waitForProgress(_ published: Shared, _ count: Int) async throws {
        let target = published.current + count, deadline = Date().addingTimeInterval(60)
        while published.current < target && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard published.current >= target else { throw TestFailure("publishing stalled at \(published.current)") }
    }

    /// The whole load: every change happens while it is published, 20,000 events across three topics.
    static let total = 20_000
    /// Events published between two changes.
    static let step = 2_500

    /// The same component with one metadata value changed (a new client, same broker).
    static func changedComponent(_ kind: String, _ yaml: String) -> String {
        kind == "embedded" ? yaml.replacingOccurrences(of: "200000", with: "300000") : yaml.replacingOccurrences(of: "\"1s\"", with: "\"2s\"")
    }

    @Test(arguments: ["embedded", "redis"])
    func changesApplyPerResourceUnderLoad(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let (t1, t2, t3) = ("l1-\(run)", "l2-\(run)", "l3-\(run)")
        let late = try await TestSubscriber(subscriptions: "[\(subscription(topic: t3, route: "/late"))]")
        let resources = [
            "pubsub.yaml": pubsub,
            "t2.yaml": Self.declarative("t2", topic: t2, route: "/t2-old"),
            "t3.yaml": Self.declarative("t3", topic: t3, route: "/t3"),
        ]
        let published = Shared(), failed = Shared(), next = Shared()
        do {
            try await withHarness(resources: resources, subscriptions: "[\(subscription(topic: t1, route: "/t1"))]") { h in
                let dir = h.directory + "/resources"
                // Eight publishers; event i goes to topic i % 3, so each topic's expected set is known.
                let load = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                while true {
                                    let i = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                                    guard i < Self.total else { return }
                                    let topic = [t1, t2, t3][i % 3]
                                    var status = 0
                                    for _ in 0..<50 where status != 204 {
                                        status = (try? await h.publish("pubsub/\(topic)", #"{"n":\#(i)}"#).status) ?? 0
                                        if status != 204 { failed.add() }
                                    }
                                    published.add()
                                }
                            }
                        }
                    }
                }
                try await Self.waitForProgress(published, Self.step)

                try await Self.waitForProgress(published, Self.step)

                // 1. A new App starts; it gets every event published once it is listed live.
                try GatewayTests.app("late-\(run)", port: late.port).write(toFile: dir + "/late.yaml", atomically: true, encoding: .utf8)
                _ = try await GatewayTests.waitUntilLive(h, ["late-\(run)": 1])
                let liveFrom = next.current  // every event numbered from here on was published after it was live

                try await Self.waitForProgress(published, Self.step)

                // 2. A changed route restarts only that subscription.
                try Self.declarative("t2", topic: t2, route: "/t2-new").write(toFile: dir + "/t2.yaml", atomically: true, encoding: .utf8)
                var r = try await Self.waitForReload(h, "changing t2") { Self.changes($0).contains("app1: changed pubsub/\(t2)") }
                #expect(r["result"] as? String == "applied")
                #expect(!Self.changes(r).contains { $0.contains(t1) }, "t1 untouched: \(Self.changes(r))")

                try await Self.waitForProgress(published, Self.step)

                // 3. A removed subscription drains and stops.
                try FileManager.default.removeItem(atPath: dir + "/t3.yaml")
                r = try await Self.waitForReload(h, "removing t3") { Self.changes($0).contains("app1: removed pubsub/\(t3)") }
                let t3Before = h.subscriber!.requests.filter { $0.path == "/t3" }.count

                try await Self.waitForProgress(published, Self.step)

                // 4. An invalid file is refused whole (file:line), and nothing changes.
                try "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: { name: bad }\nspec: { pubsubname: pubsub, topic: x }\n"
                    .write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
                r = try await Self.waitForReload(h, "refusing bad.yaml") { $0["result"] as? String == "refused" }
                let problems = (r["problems"] as? [String] ?? []).joined(separator: "\n")
                #expect(problems.contains("bad.yaml:4") && problems.contains("no route"), "\(problems)")
                #expect(h.runtime.subscriptions.activeSubscriptions.map(\.topic).sorted() == [t1, t2].sorted(), "the running set stays")
                try FileManager.default.removeItem(atPath: dir + "/bad.yaml")

                try await Self.waitForProgress(published, Self.step)

                // 5. A changed component: its subscriptions drain and start again on the new client,
                // publishes keep answering (the embedded store admits one client: they wait for it).
                try Self.changedComponent(kind, pubsub).write(toFile: dir + "/pubsub.yaml", atomically: true, encoding: .utf8)
                r = try await Self.waitForReload(h, "changing the component") { Self.changes($0).contains("changed component pubsub") }
                #expect(Self.changes(r).contains("app1: restarted pubsub/\(t1)"), "\(Self.changes(r))")
                await load.value

                #expect(published.current == Self.total, "every change happened under load: \(published.current) published")
                // Every event of the unchanged subscription arrived; the changed one lost nothing
                // across its restart; the new App got everything after it was live.
                let total = published.current
                func numbers(_ s: TestSubscriber, _ paths: Set<String>) -> [Int] {
                    s.requests.filter { paths.contains($0.path) }.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int }
                }
                let expected1 = Set(stride(from: 0, to: total, by: 3)), expected2 = Set(stride(from: 1, to: total, by: 3))
                let expectedLate = Set(stride(from: 2, to: total, by: 3).filter { $0 >= liveFrom })
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline && (!expected1.isSubset(of: numbers(h.subscriber!, ["/t1"]))
                                            || !expected2.isSubset(of: numbers(h.subscriber!, ["/t2-old", "/t2-new"]))
                                            || !expectedLate.isSubset(of: numbers(late, ["/late"]))) {
                    try await Task.sleep(for: .milliseconds(200))
                }
                let got1 = numbers(h.subscriber!, ["/t1"]), got2 = numbers(h.subscriber!, ["/t2-old", "/t2-new"]), gotLate = numbers(late, ["/late"])
                print("live reload (\(kind)): \(total) published (\(failed.current) answered other than 204, then retried); t1 \(Set(got1).count)/\(expected1.count) "
                      + "(\(got1.count - Set(got1).count) duplicates), t2 \(Set(got2).count)/\(expected2.count) (\(got2.count - Set(got2).count) duplicates), "
                      + "late \(Set(gotLate).intersection(expectedLate).count)/\(expectedLate.count)")
                #expect(failed.current == 0, "every publish answered 204 through the reloads: \(failed.current) did not")
                #expect(expected1.subtracting(got1).isEmpty, "unchanged subscription: missing \(expected1.subtracting(got1).sorted().prefix(10))")
                #expect(expected2.subtracting(got2).isEmpty, "changed subscription: missing \(expected2.subtracting(got2).sorted().prefix(10))")
                #expect(expectedLate.subtracting(gotLate).isEmpty, "added App: missing \(expectedLate.subtracting(gotLate).sorted().prefix(10))")
                #expect(numbers(h.subscriber!, ["/t2-new"]).count > 0, "the new route is used")
                #expect(h.subscriber!.requests.filter { $0.path == "/t3" }.count == t3Before, "nothing delivered to a removed subscription")
            }
        } catch {
            await late.stop()
            throw error
        }
        await late.stop()
    }

    /// kill -9 while a reload applies (a subscription added, the component changed, a route
    /// changed): every acknowledged event of the subscription that was there from the start
    /// arrives after Courier starts again.
    @Test func killNineMidReloadLosesNothingAcknowledged() async throws {
        let topic = "kr-\(UUID().uuidString.prefix(6).lowercased())"
        let dir = try DurabilityTests.resources(topic: topic)
        let ledger = DurabilityTests.Ledger()
        let subscriber = try await TestSubscriber(subscriptions: nil) { request, _ in
            if request.path == "/events" { ledger.record(request) }
            return (200, "")
        }
        let httpPort = try PortAllocator.free()
        let args = try DurabilityTests.arguments(appID: "reload-kill", appPort: subscriber.port, httpPort: httpPort, directory: dir)
        var courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
        try await PortAllocator.waitUntilListening(httpPort)
        try await DurabilityTests.waitForSubscription(topic, port: httpPort)
        let total = 3_000
        let publisher = ledger.publish(total, topic: topic, port: httpPort)
        let changes: [(String, String)] = [
            ("extra.yaml", Self.declarative("extra", topic: topic + "-b", route: "/b").replacingOccurrences(of: "scopes: [app1]", with: "")),
            ("pubsub.yaml", Harness.defaultPubsub.replacingOccurrences(of: "200000", with: "300000")),
            ("extra.yaml", Self.declarative("extra", topic: topic + "-b", route: "/b2").replacingOccurrences(of: "scopes: [app1]", with: "")),
        ]
        for (file, text) in changes {
            try await Task.sleep(for: .milliseconds(Int.random(in: 600...1000)))
            try text.write(toFile: dir + "/resources/" + file, atomically: true, encoding: .utf8)
            // The watcher sees a change within about a second (two agreeing polls 0.5 s apart).
            try await Task.sleep(for: .milliseconds(Int.random(in: 700...1300)))
            await courier.kill9()
            courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
            try await PortAllocator.waitUntilListening(httpPort)
        }
        _ = await publisher.result
        let acknowledged = ledger.acknowledged.withLock { $0 }
        let missing = try await ledger.missing(within: 60)
        await courier.terminate()
        await subscriber.stop()
        let received = ledger.received.withLock { $0 }
        print("kill -9 mid-reload: \(acknowledged.count) acknowledged, \(received.count) distinct delivered, "
              + "\(received.values.reduce(0) { $0 + max($1 - 1, 0) }) duplicates, \(missing.count) missing")
        #expect(acknowledged.count == total)
        #expect(missing.isEmpty, "acknowledged but never delivered: \(missing.sorted().prefix(20))")
        if missing.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }
}
