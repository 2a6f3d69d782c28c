import Courier
import Foundation
import Logging
import Testing

/// JetStream streams provisioned by an operator before Courier starts (made here with nats-py, as
/// `nats stream add` would): pub/sub and both binding directions find the stream that captures
/// their subject instead of creating one, through real HTTP and a real nats-server.
@Suite(.serialized) struct JetStreamProvisionedTests {
    static var natsURL: String? {
        guard let url = ProcessInfo.processInfo.environment["NATS_URL"], !url.isEmpty else {
            _ = DurabilityTests.requiredComponent("jetstream")
            return nil
        }
        return url
    }

    static func unique() -> String { "p\(UUID().uuidString.prefix(8).lowercased())" }

    /// Two provisioned layouts: `S` capturing `<prefix>.>`, and a stream of two explicit subjects.
    static func layout(_ name: String, prefix: String) -> (subjects: [String], topics: [String]) {
        name == "wildcard" ? (["\(prefix).>"], ["\(prefix).orders.created", "\(prefix).orders.paid"])
            : (["\(prefix).a", "\(prefix).b"], ["\(prefix).a", "\(prefix).b"])
    }

    @Test(arguments: ["wildcard", "explicit"])
    func pubsubPublishesAndDeliversThroughTheOperatorsStream(_ layout: String) async throws {
        guard let url = Self.natsURL, BrokerCtl.available() else { return }
        let prefix = Self.unique(), stream = "S_\(prefix)"
        let (subjects, topics) = Self.layout(layout, prefix: prefix)
        try await BrokerCtl.addJetStreamStream(stream, subjects: subjects)
        let component = BindingTests.component("pubsub", "pubsub.jetstream", [("natsURL", url)])
        let subscriptions = "[" + topics.enumerated().map { subscription(topic: $1, route: "/t\($0)") }.joined(separator: ",") + "]"
        try await withHarness(resources: ["pubsub.yaml": component], subscriptions: subscriptions, appID: "prov") { h in
            for (i, topic) in topics.enumerated() {
                for n in 0..<3 {
                    let r = try await h.publish("pubsub/\(topic)", #"{"t":\#(i),"n":\#(n)}"#)
                    #expect(r.status == 204, "\(layout) \(topic): \(r.status) \(r.body)")
                }
            }
            for i in topics.indices {
                let got = try await h.subscriber!.wait(for: 3, path: "/t\(i)", timeout: 20)
                #expect(Set(got.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int }) == [0, 1, 2], "route /t\(i)")
            }
            let streams = try await BrokerCtl.jetStreamStreams()
            #expect(streams[stream]?.messages == 3 * topics.count, "every event stored in the operator's stream: \(streams[stream] as Any)")
            #expect(streams[stream]?.subjects == subjects, "its subjects left as provisioned")
            #expect(!streams.keys.contains { $0.contains(prefix) && $0 != stream }, "no stream of Courier's: \(streams.keys.filter { $0.contains(prefix) })")
        }
    }

    @Test func bindingsReadAndWriteTheOperatorsStream() async throws {
        guard let url = Self.natsURL, BrokerCtl.available() else { return }
        let prefix = Self.unique(), stream = "S_\(prefix)"
        try await BrokerCtl.addJetStreamStream(stream, subjects: ["\(prefix).>"])
        let input = BindingTests.component("source", "bindings.jetstream", [("natsURL", url), ("subject", "\(prefix).in"), ("direction", "input")])
        let output = BindingTests.component("sink", "bindings.jetstream", [("natsURL", url), ("subject", "\(prefix).out"), ("direction", "output"),
                                                                           ("disableEntityManagement", "true")])
        try await withHarness(resources: ["in.yaml": input, "out.yaml": output]) { h in
            let deadline = Date().addingTimeInterval(30)
            while !h.runtime.inputBindings.reading.contains("source") && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(h.runtime.inputBindings.reading.contains("source"), "the input binding reads the operator's stream")
            try await BrokerCtl.produce("jetstream", "\(prefix).in", count: 4)
            let got = try await h.subscriber!.wait(for: 4, path: "/source", timeout: 20)
            #expect(Set(got.map(\.text)) == Set((0..<4).map { #"{"n":\#($0)}"# }))

            let consumer = try await BrokerCtl.consumer("jetstream", "\(prefix).out", count: 2, timeout: 20)
            for n in 0..<2 {
                let r = try await h.request(.POST, "/v1.0/bindings/sink", body: #"{"operation":"create","data":{"n":\#(n)}}"#,
                                            headers: [("content-type", "application/json")])
                #expect(r.status == 204, "\(r.status) \(r.body)")
            }
            #expect(Set(await consumer.messages().compactMap { $0["data"] as? String }) == [#"{"n":0}"#, #"{"n":1}"#])
            let streams = try await BrokerCtl.jetStreamStreams()
            #expect(streams[stream]?.messages == 6)
            #expect(!streams.keys.contains { $0.contains(prefix) && $0 != stream }, "no stream of Courier's")
        }
    }

    /// With stream creation off, a subject no stream captures stops Courier at start-up (a binding
    /// with its subject) or fails the subscription and the publish with a clear reason.
    @Test func uncapturedSubjectsWithoutStreamCreationAreClearErrors() async throws {
        guard let url = Self.natsURL, BrokerCtl.available() else { return }
        let prefix = Self.unique()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nats-prov-\(prefix)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try BindingTests.component("sink", "bindings.jetstream", [("natsURL", url), ("subject", "\(prefix).nowhere"), ("disableEntityManagement", "true")])
            .write(toFile: dir + "/sink.yaml", atomically: true, encoding: .utf8)
        if let problems = try await startupProblems(resources: dir, appID: "prov", dataDirectory: dir + "/data") {
            #expect(problems.contains("no stream captures subject \(prefix).nowhere"), "\(problems)")
        }

        let component = BindingTests.component("pubsub", "pubsub.jetstream", [("natsURL", url), ("disableEntityManagement", "true")])
        try await withHarness(resources: ["pubsub.yaml": component], subscriptions: "[\(subscription(topic: "\(prefix).sub"))]", appID: "prov") { h in
            #expect(h.runtime.subscriptions.activeSubscriptions.isEmpty, "the subscription did not start")
            let r = try await h.publish("pubsub/\(prefix).pub", #"{"n":1}"#)
            #expect(r.status == 500 && (r.json?["message"] as? String)?.contains("no stream captures subject \(prefix).pub") == true, "\(r.status) \(r.body)")
            #expect(!(try await BrokerCtl.jetStreamStreams()).keys.contains { $0.contains(prefix) }, "nothing created")
        }
    }
}
