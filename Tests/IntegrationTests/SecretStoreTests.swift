import Foundation
import Testing

/// A broker's credentials read through `secretKeyRef` from Dapr's local secret stores, end to end:
/// the connection string of a real RabbitMQ comes from a JSON secrets file (the component file holds
/// none), and events go through it.
@Suite struct SecretStoreTests {
    @Test func aBrokerConnectionStringFromTheLocalFileStore() async throws {
        guard let amqp = ProcessInfo.processInfo.environment["AMQP_URL"] else {
            if ProcessInfo.processInfo.environment["COURIER_REQUIRE_BROKERS"] == "1" { Issue.record("rabbitmq is required but AMQP_URL is not set") }
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"rabbit":{"url":"\#(amqp)"}}"#.write(toFile: dir + "/secrets.json", atomically: true, encoding: .utf8)
        let store = """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: { name: local-secrets }
            spec:
              type: secretstores.local.file
              version: v1
              metadata:
              - { name: secretsFile, value: "\(dir)/secrets.json" }
            """
        let pubsub = """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: { name: pubsub }
            spec:
              type: pubsub.rabbitmq
              version: v1
              metadata:
              - name: connectionString
                secretKeyRef: { name: "rabbit:url", key: "rabbit:url" }
            auth:
              secretStore: local-secrets
            """
        let topic = "secret-\(UUID().uuidString.prefix(6))"
        try await withHarness(resources: ["pubsub.yaml": pubsub, "secrets.yaml": store], subscriptions: "[" + subscription(topic: topic) + "]",
                              appID: "secrets") { h in
            #expect(try await h.publish("pubsub/\(topic)", #"{"n":1}"#).status == 204)
            let got = try await h.subscriber!.wait(for: 1, path: "/events")
            #expect((got[0].json?["data"] as? [String: Any])?["n"] as? Int == 1)
        }
    }
}
