import Foundation
import Testing

/// The official Dapr Python SDK (`pip install dapr`) talks to Courier's gRPC API unchanged: SDK
/// code as its users write it (Tests/clients/sdk_client.py), nothing patched.
@Suite(.serialized) struct SDKTests {
    static func sdk(_ arguments: [String], grpcPort: Int, httpPort: Int, token: String? = nil) async throws -> [[String: Any]] {
        parse(try await sdkOutput(arguments, grpcPort: grpcPort, httpPort: httpPort, token: token))
    }

    static func parse(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// The script's output (JSON lines), once it exited 0.
    static func sdkOutput(_ arguments: [String], grpcPort: Int, httpPort: Int, token: String? = nil) async throws -> String {
        guard let python = BrokerCtl.python else { throw TestFailure("COURIER_PYTHON is not set") }
        let script = URL(fileURLWithPath: BrokerCtl.script).deletingLastPathComponent().appendingPathComponent("sdk_client.py").path
        var env = ProcessInfo.processInfo.environment
        env["DAPR_GRPC_PORT"] = "\(grpcPort)"
        env["DAPR_HTTP_PORT"] = "\(httpPort)"
        env["DAPR_API_TOKEN"] = token
        let environment = env
        let (status, output) = try await BrokerCtl.offPool { try BrokerCtl.run([script] + arguments, python: python, environment: environment) }
        guard status == 0 else { throw TestFailure("sdk_client \(arguments) exited \(status): \(output)") }
        return output
    }

    @Test func pythonSDKPublishesInvokesBindingsAndSeesDaprErrors() async throws {
        guard BrokerCtl.available() else { return }
        let redis = DurabilityTests.component("redis").map { _ in
            BindingTests.component("kv", "bindings.redis", BindingTests.brokerMetadata("redis", target: "x", group: "g")!.filter { $0.0 != "stream" })
        }
        var resources = ["pubsub.yaml": Harness.defaultPubsub]
        if let redis { resources["kv.yaml"] = redis } else { _ = DurabilityTests.requiredComponent("redis") }
        try await withHarness(resources: resources, subscriptions: "[\(subscription(topic: "sdk"))]", configure: { $0.apiToken = "sdk-secret" }) { h in
            let grpc = h.runtime.options.grpcPort
            let published = try await Self.sdk(["publish", "pubsub", "sdk"], grpcPort: grpc, httpPort: h.httpPort, token: "sdk-secret")
            #expect(published.first?["published"] as? Int == 3)
            let got = try await h.subscriber!.wait(for: 3)
            let events = got.compactMap(\.json)
            let json = events.first { ($0["data"] as? [String: Any])?["kind"] as? String == "json" }
            #expect(json?["datacontenttype"] as? String == "application/json" && json?["specversion"] as? String == "1.0")
            let text = events.first { $0["data"] as? String == "plain words" }
            #expect(text?["datacontenttype"] as? String == "text/plain", "an empty data_content_type is text/plain")
            let raw = events.first { $0["kind"] as? String == "raw" }
            #expect(raw != nil && raw?["specversion"] == nil, "a rawPayload event is stored and delivered as its bytes: \(events)")

            let bulk = try await Self.sdk(["publish_events", "pubsub", "sdk"], grpcPort: grpc, httpPort: h.httpPort, token: "sdk-secret")
            #expect((bulk.first?["failed"] as? [String])?.isEmpty == true)
            let all = try await h.subscriber!.wait(for: 6)
            #expect(Set(all.compactMap { ($0.json?["data"] as? [String: Any])?["bulk"] as? Int }) == [0, 1, 2])

            if redis != nil {
                let binding = try await Self.sdk(["binding", "kv"], grpcPort: grpc, httpPort: h.httpPort, token: "sdk-secret")
                #expect(binding.first?["got"] as? String == #"{"sdk":true}"#, "InvokeBinding passes data through unchanged: \(binding)")
            }
            let unknown = try await Self.sdk(["error", "nope", "sdk"], grpcPort: grpc, httpPort: h.httpPort, token: "sdk-secret")
            #expect(unknown.first?["code"] as? String == "INVALID_ARGUMENT", "\(unknown)")
            let unauthenticated = try await Self.sdk(["error", "pubsub", "sdk"], grpcPort: grpc, httpPort: h.httpPort, token: "wrong")
            #expect(unauthenticated.first?["code"] as? String == "UNAUTHENTICATED", "\(unauthenticated)")
        }
    }

    /// `subscribe()` of the Python SDK: a streaming subscription that is live before its first
    /// event, RETRY redelivers, DROP dead-letters, and an event left unanswered by a client that
    /// disconnects comes again on its next stream.
    @Test(arguments: ["embedded", "redis"])
    func pythonSDKStreamingSubscription(_ kind: String) async throws {
        guard BrokerCtl.available(), let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let topic = "stream-\(kind)-\(UUID().uuidString.prefix(6))"
        try await withHarness(resources: ["pubsub.yaml": pubsub], subscriptions: "[\(subscription(topic: topic + "-dead", route: "/dead"))]",
                              appID: "streamer-\(topic)") { h in
            let grpc = h.runtime.options.grpcPort
            // A consumer that reads one event and leaves without answering it.
            let abandon = Task { try await Self.sdkOutput(["stream_abandon", "pubsub", topic], grpcPort: grpc, httpPort: h.httpPort) }
            for _ in 0..<100 where !(try await h.request(.GET, "/v1.0/metadata").body.contains("STREAMING")) { try await Task.sleep(for: .milliseconds(50)) }
            #expect(try await h.request(.GET, "/v1.0/metadata").body.contains(#""type":"STREAMING""#), "listed while open")
            #expect(try await h.publish("pubsub/\(topic)", #"{"n":0}"#).status == 204)
            let abandoned = Self.parse(try await abandon.value)
            #expect((abandoned.first?["data"] as? [String: Any])?["n"] as? Int == 0)
            // The next stream gets it again, then n = 1 (retried once), 2 (dropped), 3.
            let consumer = Task { try await Self.sdkOutput(["stream", "pubsub", topic, "4"], grpcPort: grpc, httpPort: h.httpPort) }
            try await Task.sleep(for: .seconds(1))
            for n in 1...3 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204) }
            let answers = Self.parse(try await consumer.value).filter { $0["answer"] != nil }
            let final = Dictionary(answers.filter { $0["answer"] as? String != "RETRY" }.map { ($0["n"] as? Int ?? -1, $0["answer"] as? String ?? "") },
                                   uniquingKeysWith: { a, _ in a })
            #expect(final == [0: "SUCCESS", 1: "SUCCESS", 2: "DROP", 3: "SUCCESS"], "\(answers)")
            #expect(answers.filter { $0["n"] as? Int == 1 }.map { $0["answer"] as? String } == ["RETRY", "SUCCESS"])
            let json = answers.first { $0["n"] as? Int == 3 }
            #expect(json?["type"] as? String == "application/json" && json?["topic"] as? String == topic)
            let dead = try await h.subscriber!.wait(for: 1, path: "/dead")
            #expect((dead[0].json?["data"] as? [String: Any])?["n"] as? Int == 2, "DROP went to the dead-letter topic")
            #expect(dead[0].json?["deadletterreason"] as? String == "drop" && dead[0].json?["deadletterapp"] as? String == "streamer-\(topic)"
                    && dead[0].json?["deadlettertopic"] as? String == topic, "saying why: \(dead[0].json ?? [:])")
            for _ in 0..<100 where try await h.request(.GET, "/v1.0/metadata").body.contains("STREAMING") { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!(try await h.request(.GET, "/v1.0/metadata").body.contains("STREAMING")), "gone once closed")
        }
    }

    /// `subscribe()` with `orderingKey` in its metadata: each key's events reach the client in
    /// publish order although it answers RETRY to a third of them the first time.
    @Test(arguments: ["embedded", "redis"])
    func pythonSDKStreamingSubscriptionKeepsEachKeysOrder(_ kind: String) async throws {
        guard BrokerCtl.available(), let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let topic = "ostream-\(kind)-\(UUID().uuidString.prefix(6))"
        let keys = 5, perKey = 12
        try await withHarness(resources: ["pubsub.yaml": pubsub], withApp: false) { h in
            let grpc = h.runtime.options.grpcPort
            let consumer = Task { try await Self.sdkOutput(["stream_ordered", "pubsub", topic, "\(keys * perKey)"], grpcPort: grpc, httpPort: h.httpPort) }
            for _ in 0..<100 where !(try await h.request(.GET, "/v1.0/metadata").body.contains("STREAMING")) { try await Task.sleep(for: .milliseconds(50)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for k in 0..<keys {
                    group.addTask {
                        for seq in 0..<perKey {
                            let status = try await h.publish("pubsub/\(topic)", #"{"key":"k\#(k)","seq":\#(seq)}"#).status
                            #expect(status == 204)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let accepted = Self.parse(try await consumer.value).filter { $0["key"] != nil }
            #expect(accepted.count == keys * perKey)
            for k in 0..<keys {
                let seqs = accepted.filter { $0["key"] as? String == "k\(k)" }.compactMap { $0["seq"] as? Int }
                #expect(seqs == Array(0..<perKey), "k\(k) in publish order: \(seqs)")
            }
        }
    }
}
