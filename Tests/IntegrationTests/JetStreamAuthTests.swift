import Courier
import Foundation
import Logging
import Testing

/// NATS decentralized authentication (Dapr's `jwt` and `seedKey`) against a private nats-server in
/// operator mode: the user's JWT and seed connect and carry events both ways; no credentials, or a
/// seed that does not belong to the JWT, keep Courier from starting with the server's reason.
@Suite struct JetStreamAuthTests {
    @Test func jwtAndSeedKeyAuthenticate() async throws {
        guard ProcessInfo.processInfo.environment["NATS_URL"] != nil else {
            _ = DurabilityTests.requiredComponent("jetstream")
            return
        }
        let identity = try NatsOperatorSetup()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nats-auth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try identity.config.write(toFile: dir + "/operator.conf", atomically: true, encoding: .utf8)
        let port = 15_222 + Int.random(in: 0..<1000)
        let env = ["BROKERS_DIR": dir, "NATS_PORT": "\(port)", "NATS_MON_PORT": "\(port + 4000)", "NATS_CONFIG": dir + "/operator.conf"]
        try await BrokerKillTests.brokers(["start", "nats"], env: env)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let url = "nats://127.0.0.1:\(port)"
            func component(_ credentials: [(String, String)]) -> String {
                BindingTests.component("pubsub", "pubsub.jetstream", [("natsURL", url), ("ackWait", "5s")] + credentials)
            }
            let topic = "auth-\(UUID().uuidString.prefix(6))"
            try await withHarness(resources: ["pubsub.yaml": component([("jwt", identity.userJWT), ("seedKey", identity.userSeed)])],
                                  subscriptions: "[\(subscription(topic: topic))]", appID: "auth") { h in
                for n in 0..<3 {
                    #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204)
                }
                let got = try await h.subscriber!.wait(for: 3, path: "/events")
                #expect(Set(got.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int }) == [0, 1, 2])
            }
            for (case_, credentials) in [("no credentials", []), ("a seed the JWT does not name", [("jwt", identity.userJWT), ("seedKey", identity.strangerSeed)])] {
                let resources = dir + "/resources-\(UUID().uuidString.prefix(4))"
                try FileManager.default.createDirectory(atPath: resources, withIntermediateDirectories: true)
                try component(credentials).write(toFile: resources + "/pubsub.yaml", atomically: true, encoding: .utf8)
                if let problems = try await startupProblems(resources: resources, appID: "auth", dataDirectory: dir + "/data") {
                    #expect(problems.lowercased().contains("authorization"), "\(case_): \(problems)")
                }
            }
        } catch {
            try? await BrokerKillTests.brokers(["stop", "nats"], env: env)
            throw error
        }
        try await BrokerKillTests.brokers(["stop", "nats"], env: env)
    }
}
