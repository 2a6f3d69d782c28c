import Foundation
import Synchronization
import Testing

/// App health checks: while an App fails its probes its subscriptions pause — nothing delivered,
/// nothing dead-lettered — and once it answers again it gets everything published meanwhile.
@Suite struct AppHealthCheckTests {
    final class Switch: Sendable {
        let up = Atomic<Bool>(true)
    }

    @Test(arguments: ["embedded", "redis"])
    func anUnhealthyAppGetsNothingAndCatchesUpAfterwards(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let topic = "hc-\(run)", id = "flaky-\(run)"
        let healthy = Switch()
        let app = try await TestSubscriber(subscriptions: "[\(subscription(topic: topic, route: "/e", deadLetter: "dead-\(run)"))]",
                                           respond: { request, _ in
            if request.path == "/healthz" { return (healthy.up.load(ordering: .relaxed) ? 200 : 503, "") }
            return (200, "")
        })
        let resources = ["pubsub.yaml": pubsub,
                         "app.yaml": GatewayTests.app(id, port: app.port, extra: "  healthCheck: {path: /healthz, intervalSeconds: 0.2, timeoutMilliseconds: 500, threshold: 2}\n")]
        func events() -> [Int] { app.requests.filter { $0.path == "/e" }.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int } }
        func isHealthy(_ h: Harness) async throws -> Bool? {
            let r = try await h.request(.GET, "/v1.0-alpha1/apps")
            let apps = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [[String: Any]] ?? []
            return apps.first { $0["id"] as? String == id }?["healthy"] as? Bool
        }
        func waitHealthy(_ h: Harness, _ wanted: Bool) async throws {
            let deadline = Date().addingTimeInterval(20)
            while try await isHealthy(h) != wanted && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(try await isHealthy(h) == wanted, "healthy → \(wanted)")
        }
        do {
            try await withHarness(resources: resources, withApp: false) { h in
                _ = try await GatewayTests.waitUntilLive(h, [id: 1])
                for n in 0..<10 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204) }
                _ = try await app.wait(for: 10, path: "/e", timeout: 20)

                healthy.up.store(false, ordering: .relaxed)
                try await waitHealthy(h, false)
                _ = try await GatewayTests.waitUntilLive(h, [id: 0])
                for n in 10..<30 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204) }
                try await Task.sleep(for: .seconds(2))
                #expect(Set(events()) == Set(0..<10), "nothing delivered while unhealthy: \(Set(events()).subtracting(0..<10).sorted())")

                healthy.up.store(true, ordering: .relaxed)
                try await waitHealthy(h, true)
                let deadline = Date().addingTimeInterval(30)
                while !Set(0..<30).isSubset(of: events()) && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
                // With a dead-letter topic set, an event dead-lettered meanwhile would be missing here.
                #expect(Set(events()) == Set(0..<30), "caught up after recovering: missing \(Set(0..<30).subtracting(events()).sorted())")
            }
        } catch {
            await app.stop()
            throw error
        }
        await app.stop()
    }

    /// The flag app with Dapr's `--enable-app-health-check` settings behaves the same way.
    @Test func theFlagAppsHealthCheckPausesItsSubscriptions() async throws {
        let topic = "hcflag-\(UUID().uuidString.prefix(6))"
        let healthy = Switch()
        try await withHarness(subscriptions: "[\(subscription(topic: topic, route: "/e"))]",
                              configure: { $0.enableAppHealthCheck(path: "/health", intervalSeconds: 0.2, timeoutMilliseconds: 500, threshold: 2) },
                              respond: { request, _ in
            request.path == "/health" ? (healthy.up.load(ordering: .relaxed) ? 204 : 500, "") : (200, "")
        }) { h in
            func events() -> Set<Int> {
                Set(h.subscriber!.requests.filter { $0.path == "/e" }.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int })
            }
            healthy.up.store(false, ordering: .relaxed)
            _ = try await GatewayTests.waitUntilLive(h, ["app1": 0])
            for n in 0..<10 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204) }
            try await Task.sleep(for: .seconds(1))
            #expect(events().isEmpty, "nothing delivered while unhealthy")
            healthy.up.store(true, ordering: .relaxed)
            _ = try await h.subscriber!.wait(for: 10, path: "/e", timeout: 20)
            #expect(events() == Set(0..<10))
        }
    }
}
