import Foundation
import Synchronization
import Testing

/// Input bindings in gateway mode: each `App` that may see a binding component (its `scopes`) and
/// says it reads it (its `OPTIONS` probe) reads it on a reader of its own, in its own consumer
/// group; an unhealthy app's messages wait at the source and arrive once it answers again.
@Suite struct GatewayBindingTests {
    /// Brokers with consumer groups or client ids give each app every message; RabbitMQ's binding
    /// reads one named queue, which the apps share (each message reaches one of them).
    @Test(arguments: ["kafka", "redis", "jetstream", "mqtt", "rabbitmq"])
    func eachAppReadsItsOwnInputBindings(_ kind: String) async throws {
        guard BrokerCtl.available() else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let target = "gin-\(kind)-\(run)".replacingOccurrences(of: "-", with: kind == "jetstream" ? "." : "-")
        // The component's own group names the flag app's; Apps read in their own.
        guard let md = BindingTests.brokerMetadata(kind, target: target, group: "shared-\(run)") else { return }
        let reads: @Sendable (String) -> Int = { $0 == "/source" ? 200 : 404 }
        let orders = try await TestSubscriber(subscriptions: nil, probe: reads)
        let billing = try await TestSubscriber(subscriptions: nil, probe: reads)
        let audit = try await TestSubscriber(subscriptions: nil, probe: { _ in 404 })  // does not read it
        let stopAll = { for s in [orders, billing, audit] { await s.stop() } }
        let resources = [
            "in.yaml": BindingTests.component("source", "bindings.\(kind == "mqtt" ? "mqtt3" : kind)", md),
            "orders.yaml": GatewayTests.app("orders-\(run)", port: orders.port),
            "billing.yaml": GatewayTests.app("billing-\(run)", port: billing.port),
            "audit.yaml": GatewayTests.app("audit-\(run)", port: audit.port),
        ]
        let total = 20
        do {
            try await withHarness(resources: resources, withApp: false) { h in
                let apps = try await Self.waitUntilReading(h, ["orders-\(run)", "billing-\(run)"])
                let auditStatus = apps.first { $0["id"] as? String == "audit-\(run)" }
                #expect((auditStatus?["inputBindings"] as? [String]) == [], "audit answered 404 to the probe: \(String(describing: auditStatus))")
                #expect(h.runtime.inputBindings.reading.isEmpty, "no flag app to read for in a pure gateway")
                try await BrokerCtl.produce(kind, target, count: total)
                func numbers(_ s: TestSubscriber) -> [Int] {
                    s.requests.filter { $0.path == "/source" }.compactMap { $0.json?["n"] as? Int }
                }
                let all = Set(0..<total)
                let deadline = Date().addingTimeInterval(60)
                if kind == "rabbitmq" {
                    while Set(numbers(orders) + numbers(billing)) != all && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
                    #expect(Set(numbers(orders) + numbers(billing)) == all, "the shared queue's messages reach the readers between them")
                } else {
                    while (Set(numbers(orders)) != all || Set(numbers(billing)) != all) && Date() < deadline {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(Set(numbers(orders)) == all, "orders reads every message in its own group: \(Set(numbers(orders)).count)")
                    #expect(Set(numbers(billing)) == all, "billing too: \(Set(numbers(billing)).count)")
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(audit.requests.filter { $0.method != "OPTIONS" }.isEmpty, "audit gets nothing")
            }
        } catch {
            await stopAll()
            throw error
        }
        await stopAll()
    }

    /// An App whose health checks fail gets no input binding message (they wait at the source,
    /// counted by the backlog gauge under its id) and loses none: every one arrives once it
    /// answers again.
    @Test func anUnhealthyAppsInputBindingWaits() async throws {
        guard BrokerCtl.available() else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let target = "gih-\(run)"
        guard let md = BindingTests.brokerMetadata("redis", target: target, group: "g-\(run)") else { return }
        let healthy = Atomic<Bool>(true)
        let app = try await TestSubscriber(subscriptions: nil, respond: { request, _ in
            if request.path == "/healthz" { return (healthy.load(ordering: .relaxed) ? 200 : 503, "") }
            return (200, "")
        }, probe: { $0 == "/source" ? 200 : 404 })
        let id = "h-\(run)"
        let resources = [
            "in.yaml": BindingTests.component("source", "bindings.redis", md),
            "app.yaml": GatewayTests.app(id, port: app.port, extra: "  healthCheck: {path: /healthz, intervalSeconds: 0.2, timeoutMilliseconds: 500, threshold: 2}\n"),
        ]
        let total = 10
        do {
            try await withHarness(resources: resources, withApp: false, configure: { $0.backlogReportInterval = .milliseconds(200) }) { h in
                _ = try await Self.waitUntilReading(h, [id])
                healthy.store(false, ordering: .relaxed)
                try await Self.waitForHealth(h, id, false)
                try await BrokerCtl.produce("redis", target, count: total)
                // Waiting messages are the App's backlog at its source (in flight to it, not delivered).
                let line = #"courier_binding_backlog{binding="source",app="\#(id)"} \#(total)"#
                var gauge = ""
                let deadline = Date().addingTimeInterval(10)
                while !gauge.contains(line) && Date() < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    gauge = try await h.request(.GET, "/metrics", port: h.metricsPort).body
                }
                #expect(gauge.contains(line), "\(gauge.split(separator: "\n").filter { $0.hasPrefix("courier_binding_backlog") })")
                try await Task.sleep(for: .seconds(1))
                #expect(app.requests.filter { $0.path == "/source" }.isEmpty, "nothing delivered while unhealthy")
                healthy.store(true, ordering: .relaxed)
                let got = try await app.wait(for: total, path: "/source", timeout: 30)
                #expect(Set(got.compactMap { $0.json?["n"] as? Int }) == Set(0..<total), "every message once it is healthy again")
            }
        } catch {
            await app.stop()
            throw error
        }
        await app.stop()
    }

    /// Polls `GET /v1.0-alpha1/apps` until each app in `ids` lists the input binding `source`.
    static func waitUntilReading(_ h: Harness, _ ids: [String]) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(30)
        var apps: [[String: Any]] = []
        while Date() < deadline {
            let r = try await h.request(.GET, "/v1.0-alpha1/apps")
            apps = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [[String: Any]] ?? []
            let reading = Set(apps.filter { ($0["inputBindings"] as? [String])?.contains("source") == true }.compactMap { $0["id"] as? String })
            if Set(ids).isSubset(of: reading) { return apps }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("apps \(ids) not reading within 30 s: \(apps)")
    }

    static func waitForHealth(_ h: Harness, _ id: String, _ healthy: Bool) async throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let r = try await h.request(.GET, "/v1.0-alpha1/apps")
            let apps = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [[String: Any]] ?? []
            if apps.first(where: { $0["id"] as? String == id })?["healthy"] as? Bool == healthy { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("app \(id) not \(healthy ? "healthy" : "unhealthy") within 15 s")
    }
}
