import DaprProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

/// KEDA's external scaler on Courier's gRPC port, driven as KEDA drives it (GetMetricSpec once,
/// then IsActive / GetMetrics polls, or StreamIsActive pushes), over every broker's backlog; the
/// figures agree with `GET /v1.0-alpha1/backlog/...`.
@Suite(.serialized) struct ExternalScalerTests {
    @Test(arguments: ["embedded", "redis", "kafka", "jetstream", "rabbitmq", "mqtt"])
    func kedaReadsTheSameBacklogAsTheHTTPFeed(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let open = Atomic<Bool>(false)
        let topic = "scale-\(kind)-\(UUID().uuidString.prefix(6))"
        try await withHarness(resources: ["pubsub.yaml": pubsub], subscriptions: "[\(subscription(topic: topic))]", appID: "scaled-\(topic)",
                              configure: { $0.scalerStreamInterval = .milliseconds(200); $0.apiToken = "secret" },
                              respond: { _, _ in open.load(ordering: .relaxed) ? (200, "") : (500, "") }) { h in
            for i in 0..<5 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(i)}"#, headers: [("dapr-api-token", "secret")]).status == 204) }
            // The app fails every event, so they cycle between the broker and Courier; a reading
            // may miss one that is on the wire at that instant (RabbitMQ cannot count those), so
            // the feed must read 5 within a few tries, and never more.
            var feed = try await h.request(.GET, "/v1.0-alpha1/backlog/pubsub/\(topic)", headers: [("dapr-api-token", "secret")])
            for _ in 0..<50 where feed.json?["total"] as? Int != 5 {
                #expect((feed.json?["total"] as? Int ?? 0) < 5, "never more than there is: \(feed.body)")
                try await Task.sleep(for: .milliseconds(100))
                feed = try await h.request(.GET, "/v1.0-alpha1/backlog/pubsub/\(topic)", headers: [("dapr-api-token", "secret")])
            }
            #expect(feed.json?["total"] as? Int == 5, "\(feed.body)")
            var ref = Externalscaler_ScaledObjectRef()
            ref.name = "workers"
            ref.namespace = "default"
            ref.scalerMetadata = ["pubsubName": "pubsub", "topic": topic, "targetBacklog": "2", "activationBacklog": "0"]
            try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: h.runtime.options.grpcPort),
                                                               transportSecurity: .plaintext)) { client in
                let scaler = Externalscaler_ExternalScaler.Client(wrapping: client)
                // No dapr-api-token: the scaler is exempt, as KEDA cannot send it.
                let spec = try await scaler.getMetricSpec(ref)
                #expect(spec.metricSpecs.count == 1 && spec.metricSpecs[0].targetSizeFloat == 2 && spec.metricSpecs[0].targetSize == 2)
                var metrics = Externalscaler_GetMetricsRequest()
                metrics.scaledObjectRef = ref
                metrics.metricName = spec.metricSpecs[0].metricName
                var value = try await scaler.getMetrics(metrics)
                for _ in 0..<50 where value.metricValues.first?.metricValue != 5 {
                    try await Task.sleep(for: .milliseconds(100))
                    value = try await scaler.getMetrics(metrics)
                }
                #expect(value.metricValues.first?.metricValueFloat == 5 && value.metricValues.first?.metricValue == 5, "\(value)")
                #expect(try await scaler.isActive(ref).result)
                // StreamIsActive pushes true now and false once the app recovers and the backlog drains.
                let pushed = try await scaler.streamIsActive(ref) { response in
                    var seen: [Bool] = []
                    for try await message in response.messages {
                        seen.append(message.result)
                        if seen.count == 1 { open.store(true, ordering: .relaxed) }
                        if !message.result { break }
                    }
                    return seen
                }
                #expect(pushed == [true, false], "\(pushed)")
                #expect(try await scaler.isActive(ref).result == false)
                // A ref without a topic is refused, as KEDA shows the error on the ScaledObject.
                var bad = ref
                bad.scalerMetadata["topic"] = nil
                await #expect(throws: RPCError.self) { _ = try await scaler.isActive(bad) }
                var unknown = ref
                unknown.scalerMetadata["pubsubName"] = "nope"
                do {
                    _ = try await scaler.isActive(unknown)
                    Issue.record("an unknown pubsub was accepted")
                } catch let error as RPCError {
                    #expect(error.code == .invalidArgument)
                }
            }
            let after = try await h.request(.GET, "/v1.0-alpha1/backlog/pubsub/\(topic)", headers: [("dapr-api-token", "secret")])
            #expect(after.json?["total"] as? Int == 0)
        }
    }
}
