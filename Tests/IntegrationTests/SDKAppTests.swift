import Foundation
import Testing

/// Subscriber apps written with the official Dapr Python SDK (Tests/clients/sdk_app.py), as their
/// users write them: a `dapr.ext.grpc.App` behind `--app-protocol grpc` and a Flask `DaprApp` over
/// HTTP. Each handler answers SUCCESS, RETRY, DROP or raises, and every answer is checked.
@Suite(.serialized) struct SDKAppTests {
    /// A running sdk_app.py; its JSON lines go to a file read as they are written.
    final class App: @unchecked Sendable {
        let process = Process()
        let output: String
        let port: Int

        init(_ arguments: [String], port: Int, environment extra: [String: String] = [:]) throws {
            self.port = port
            output = FileManager.default.temporaryDirectory.appendingPathComponent("sdk-app-\(UUID().uuidString).jsonl").path
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            let script = URL(fileURLWithPath: BrokerCtl.script).deletingLastPathComponent().appendingPathComponent("sdk_app.py").path
            process.executableURL = URL(fileURLWithPath: BrokerCtl.python!)
            process.arguments = [script] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["SDK_APP_OUT"] = output
            for (k, v) in extra { environment[k] = v }
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.standardError
            try process.run()
        }

        var text: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

        var records: [[String: Any]] {
            text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }

        /// The records once `done` holds for them, or a failure after `timeout` seconds.
        @discardableResult
        func wait(timeout: Double = 30, _ what: String, until done: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let now = records
                if done(now) { return now }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestFailure("\(what) did not happen within \(timeout) s; the app printed: \(text)")
        }

        /// Runs `body`, then stops the app whatever happened.
        func running(_ body: () async throws -> Void) async throws {
            do {
                try await body()
            } catch {
                await stop()
                throw error
            }
            await stop()
        }

        /// SIGKILL: an in-process Courier's ServiceGroup ignores SIGTERM and SIGINT, and a child
        /// inherits ignored signals.
        func stop() async {
            kill(process.processIdentifier, SIGKILL)
            _ = try? await BrokerCtl.offPool { self.process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: output)
        }
    }

    /// Inbound retries for the pubsub, as a Dapr user sets them: without a policy, Dapr sends a
    /// failed event (RETRY, an error) straight to the dead-letter topic.
    static let resiliency = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: { name: sdkapp }
        spec:
          policies:
            retries:
              fast: { policy: constant, duration: 100ms, maxRetries: 3 }
          targets:
            components:
              pubsub:
                inbound: { retry: fast }
        """

    static func answers(_ records: [[String: Any]], route: String, n: Int) -> [String] {
        records.filter { $0["route"] as? String == route && ($0["data"] as? [String: Any])?["n"] as? Int == n }.compactMap { $0["answer"] as? String }
    }

    /// Publishes the four cases (n 0–3: ok, retry, drop, raise) and checks what the app saw:
    /// RETRY and a raising handler get the event again (the inbound policy), DROP sends it to
    /// the dead-letter topic.
    static func publishAndCheckAnswers(_ h: Harness, _ app: App, topic: String) async throws {
        for (n, mode) in ["ok", "retry", "drop", "raise"].enumerated() {
            #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n),"mode":"\#(mode)"}"#).status == 204)
        }
        let seen = try await app.wait("every answer") { r in
            answers(r, route: "default", n: 0) == ["SUCCESS"] && answers(r, route: "default", n: 1) == ["RETRY", "SUCCESS"]
                && answers(r, route: "default", n: 2) == ["DROP"] && answers(r, route: "dead", n: 2) == ["DROP"]
                && answers(r, route: "default", n: 3) == ["RAISE", "SUCCESS"]
        }
        let first = seen.first { $0["route"] as? String == "default" }
        #expect(first?["type"] as? String == "com.dapr.event.sent" && first?["topic"] as? String == topic, "\(String(describing: first))")
        #expect((first?["contentType"] as? String)?.contains("json") == true)
    }

    @Test(arguments: ["embedded", "redis"])
    func grpcApp(_ kind: String) async throws {
        guard BrokerCtl.available(), let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let topic = "grpcapp-\(kind)-\(UUID().uuidString.prefix(6))"
        let port = try PortAllocator.free()
        let app = try App(["grpc", "\(port)", "pubsub", topic, "tick"], port: port)
        let cron = BindingTests.component("tick", "bindings.cron", [("schedule", "@every 1s")])
        let bulk = """
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata: { name: bulk }
            spec:
              pubsubname: pubsub
              topic: \(topic)-bulk
              routes: { default: \(topic)-bulkhandler }
              bulkSubscribe: { enabled: true, maxMessagesCount: 10, maxAwaitDurationMs: 200 }
            """
        try await app.running { try await withHarness(resources: ["pubsub.yaml": pubsub, "tick.yaml": cron, "bulk.yaml": bulk, "resiliency.yaml": Self.resiliency], appID: "grpcapp-\(topic)", withApp: false,
                              configure: { $0.appPort = port; $0.appProtocol = "grpc" }) { h in
            for _ in 0..<600 where !h.runtime.subscriptions.isReady { try await Task.sleep(for: .milliseconds(50)) }
            let active = h.runtime.subscriptions.activeSubscriptions
            #expect(Set(active.map(\.topic)) == [topic, topic + "-dead", topic + "-rules", topic + "-bulkhandler", topic + "-bulk"], "ListTopicSubscriptions: \(active)")
            try await Self.publishAndCheckAnswers(h, app, topic: topic)

            // Plain text arrives as text; a CEL rule routes to the handler registered for it, by path.
            #expect(try await h.publish("pubsub/\(topic)", "plain words", contentType: "text/plain").status == 204)
            #expect(try await h.publish("pubsub/\(topic)-rules", #"{"kind":"other","n":11}"#).status == 204)
            #expect(try await h.publish("pubsub/\(topic)-rules", #"{"kind":"special","n":10,"mode":"ok"}"#).status == 204)
            let records = try await app.wait("text and rule-routed events") { r in
                r.contains { $0["data"] as? String == "plain words" } && Self.answers(r, route: "special", n: 10) == ["SUCCESS"]
            }
            let text = records.first { $0["data"] as? String == "plain words" }
            #expect(text?["contentType"] as? String == "text/plain")
            #expect(!records.contains { ($0["data"] as? [String: Any])?["n"] as? Int == 11 }, "no rule matched n 11 and there is no default route")

            // A bulk subscription goes through OnBulkTopicEvent: per-entry statuses, RETRY entries again.
            let entries = (20..<24).map { n in #"{"entryId":"e\#(n)","event":{"n":\#(n),"mode":"\#(n == 21 ? "retry" : "ok")"},"contentType":"application/json"}"# }
            let published = try await h.request(.POST, "/v1.0-alpha1/publish/bulk/pubsub/\(topic)-bulk", body: "[" + entries.joined(separator: ",") + "]",
                                                 headers: [("content-type", "application/json")])
            #expect(published.status == 204)
            try await app.wait("the bulk entries") { r in
                (20..<24).allSatisfy { Self.answers(r, route: "bulk", n: $0).last == "SUCCESS" } && Self.answers(r, route: "bulk", n: 21) == ["RETRY", "SUCCESS"]
            }

            // The cron input binding is delivered through OnBindingEvent (the app listed it in ListInputBindings).
            let ticks = try await app.wait("a cron tick through OnBindingEvent") { r in r.contains { $0["binding"] as? String == "tick" } }
            let tick = ticks.first { $0["binding"] as? String == "tick" }
            #expect((tick?["metadata"] as? [String: Any])?["readTimeUTC"] != nil, "\(String(describing: tick))")
        } }
    }

    @Test func flaskApp() async throws {
        guard BrokerCtl.available() else { return }
        let topic = "flaskapp-\(UUID().uuidString.prefix(6))"
        let port = try PortAllocator.free()
        let app = try App(["flask", "\(port)", "pubsub", topic], port: port)
        try await app.running { try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "resiliency.yaml": Self.resiliency], appID: "flaskapp-\(topic)", withApp: false, configure: { $0.appPort = port }) { h in
            for _ in 0..<600 where !h.runtime.subscriptions.isReady { try await Task.sleep(for: .milliseconds(50)) }
            #expect(Set(h.runtime.subscriptions.activeSubscriptions.map(\.topic)) == [topic, topic + "-dead"])
            try await Self.publishAndCheckAnswers(h, app, topic: topic)
        } }
    }

    /// Gateway mode with apps written against the SDK: one Courier without `--app-port` serves a
    /// `dapr.ext.grpc.App` (an `App` with protocol grpc), a Flask `DaprApp` and a plain HTTP app,
    /// each in its own consumer group. Each SDK app gets exactly its events with every answer
    /// honoured, the plain app also gets every event of the gRPC app's topic, and the cron
    /// binding reaches the gRPC app (the only one that lists it) through OnBindingEvent.
    @Test(arguments: ["embedded", "redis", "kafka", "rabbitmq"])
    func gatewayServesSDKApps(_ kind: String) async throws {
        guard BrokerCtl.available(), let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let (grpcTopic, flaskTopic) = ("gsdk-g-\(run)", "gsdk-f-\(run)")
        let (grpcPort, flaskPort) = (try PortAllocator.free(), try PortAllocator.free())
        let grpcApp = try App(["grpc", "\(grpcPort)", "pubsub", grpcTopic, "tick"], port: grpcPort)
        let flaskApp = try App(["flask", "\(flaskPort)", "pubsub", flaskTopic], port: flaskPort)
        let plain = try await TestSubscriber(subscriptions: "[\(subscription(topic: grpcTopic, route: "/g"))]", probe: { _ in 404 })
        let resources = [
            "pubsub.yaml": pubsub, "resiliency.yaml": Self.resiliency,
            "tick.yaml": BindingTests.component("tick", "bindings.cron", [("schedule", "@every 1s")]),
            "grpc.yaml": GatewayTests.app("grpc-\(run)", port: grpcPort, extra: "  protocol: grpc\n"),
            "flask.yaml": GatewayTests.app("flask-\(run)", port: flaskPort),
            "plain.yaml": GatewayTests.app("plain-\(run)", port: plain.port),
        ]
        do {
            try await grpcApp.running { try await flaskApp.running { try await withHarness(resources: resources, withApp: false) { h in
                let apps = try await GatewayTests.waitUntilLive(h, ["grpc-\(run)": 4, "flask-\(run)": 2, "plain-\(run)": 1])
                let listed = apps.first { $0["id"] as? String == "grpc-\(run)" }
                #expect(listed?["protocol"] as? String == "grpc")
                try await Self.publishAndCheckAnswers(h, grpcApp, topic: grpcTopic)
                try await Self.publishAndCheckAnswers(h, flaskApp, topic: flaskTopic)
                // The plain app shares the gRPC app's topic in a group of its own: every event, once.
                let got = try await plain.wait(for: 4, path: "/g", timeout: 30)
                #expect(Set(got.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int }) == [0, 1, 2, 3])
                // Each SDK app saw only its own topic.
                #expect(!grpcApp.records.contains { ($0["topic"] as? String) == flaskTopic })
                #expect(!flaskApp.records.contains { ($0["topic"] as? String) == grpcTopic })
                let ticks = try await grpcApp.wait("a cron tick through OnBindingEvent") { r in r.contains { $0["binding"] as? String == "tick" } }
                #expect(ticks.contains { $0["binding"] as? String == "tick" })
                #expect(!plain.requests.contains { $0.path == "/tick" && $0.method == "POST" }, "the plain app declined the binding")
            } } }
        } catch {
            await plain.stop()
            throw error
        }
        await plain.stop()
    }

    /// Dapr's gRPC app health check on an `App` with protocol grpc: while the SDK app's health
    /// callback fails, it is listed unhealthy and gets nothing; once it passes, every event
    /// published meanwhile arrives.
    @Test func grpcAppHealthCheckPausesAndResumes() async throws {
        guard BrokerCtl.available() else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let topic = "ghc-\(run)"
        let port = try PortAllocator.free()
        let flag = FileManager.default.temporaryDirectory.appendingPathComponent("unhealthy-\(run)").path
        let app = try App(["grpc", "\(port)", "pubsub", topic, "none"], port: port, environment: ["SDK_APP_UNHEALTHY": flag])
        let id = "grpchealth-\(run)"
        let resources = [
            "pubsub.yaml": Harness.defaultPubsub,
            "app.yaml": GatewayTests.app(id, port: port, extra: "  protocol: grpc\n  healthCheck: {intervalSeconds: 0.2, timeoutMilliseconds: 500, threshold: 2}\n"),
        ]
        try await app.running { try await withHarness(resources: resources, withApp: false) { h in
            _ = try await GatewayTests.waitUntilLive(h, [id: 4])
            _ = FileManager.default.createFile(atPath: flag, contents: nil)
            try await GatewayBindingTests.waitForHealth(h, id, false)
            for n in 0..<5 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n),"mode":"ok"}"#).status == 204) }
            try await Task.sleep(for: .seconds(1.5))
            #expect(!app.records.contains { $0["topic"] as? String == topic }, "nothing delivered while unhealthy")
            try FileManager.default.removeItem(atPath: flag)
            try await GatewayBindingTests.waitForHealth(h, id, true)
            let seen = try await app.wait("every event after it recovered") { r in
                Set(r.filter { $0["route"] as? String == "default" }.compactMap { ($0["data"] as? [String: Any])?["n"] as? Int }) == Set(0..<5)
            }
            #expect(seen.filter { $0["route"] as? String == "dead" }.isEmpty, "nothing dead-lettered")
        } }
    }
}
