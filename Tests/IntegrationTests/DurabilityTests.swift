import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// The no-loss promise under `kill -9`: every publish Courier acknowledged with 204 reaches the
/// subscriber at least once, although Courier is killed repeatedly while publishing and delivering
/// and the subscriber is slow and sometimes fails.
@Suite(.serialized) struct DurabilityTests {
    final class Ledger: Sendable {
        let acknowledged = Mutex<Set<Int>>([])
        let received = Mutex<[Int: Int]>([:])

        /// Publishes `{"n": 0…total-1}` to `topic` one after another, each until Courier answered
        /// 204 (while Courier is down, the same event again), recording what was acknowledged.
        func publish(_ total: Int, topic: String, port: Int) -> Task<Void, Never> {
            Task {
                var n = 0
                while n < total {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1.0/publish/pubsub/\(topic)")
                    request.method = .POST
                    request.headers.add(name: "content-type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: #"{"n":\#(n)}"#))
                    if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)), response.status.code == 204 {
                        acknowledged.withLock { _ = $0.insert(n) }
                        n += 1
                    } else {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                }
            }
        }

        /// Counts a delivery of `{"n": …}` (a CloudEvent's data).
        func record(_ request: TestSubscriber.Received) {
            if let n = (request.json?["data"] as? [String: Any])?["n"] as? Int { received.withLock { $0[n, default: 0] += 1 } }
        }

        /// Acknowledged events not received yet, after waiting up to `seconds` for them.
        func missing(within seconds: Double) async throws -> Set<Int> {
            let acknowledged = acknowledged.withLock { $0 }
            let deadline = Date().addingTimeInterval(seconds)
            var missing: Set<Int> = []
            repeat {
                let received = received.withLock { $0 }
                missing = acknowledged.filter { received[$0] == nil }
                if missing.isEmpty { break }
                try await Task.sleep(for: .milliseconds(200))
            } while Date() < deadline
            return missing
        }
    }

    /// A temporary directory with the embedded pubsub and a declarative subscription to `topic` at `/events`.
    /// `courier run` arguments for app `appID` at `appPort`, with the resources and data of `directory`.
    static func arguments(appID: String, appPort: Int, httpPort: Int, directory dir: String) throws -> [String] {
        ["--app-id", appID, "--app-port", "\(appPort)", "--dapr-http-port", "\(httpPort)",
         "--metrics-port", "\(try PortAllocator.free())", "--resources-path", dir + "/resources", "--data-dir", dir + "/data"]
    }

    static func resources(topic: String, extra: String = "", pubsub: String = Harness.defaultPubsub) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-\(topic)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/resources", withIntermediateDirectories: true)
        try pubsub.write(toFile: dir + "/resources/pubsub.yaml", atomically: true, encoding: .utf8)
        try """
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata: { name: \(topic) }
            spec:
              pubsubname: pubsub
              topic: \(topic)
              routes: { default: /events }
              \(extra)
            """.write(toFile: dir + "/resources/subscription.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    /// The pub/sub component for a broker kind, or `nil` when its server is not configured.
    static func component(_ kind: String) -> String? {
        let env = ProcessInfo.processInfo.environment
        switch kind {
        case "embedded": return Harness.defaultPubsub
        case "redis":
            guard let url = env["REDIS_URL"], let u = URL(string: url), let host = u.host else { return nil }
            return yaml("pubsub.redis", [("redisHost", "\(host):\(u.port ?? 6379)"), ("processingTimeout", "2s"), ("redeliverInterval", "1s")])
        case "kafka", "kafka-noida":
            guard let brokers = env[kind == "kafka" ? "KAFKA_BROKERS" : "NOIDA_KAFKA_BROKERS"] else { return nil }
            return yaml("pubsub.kafka", [("brokers", brokers), ("authType", "none"), ("initialOffset", "oldest"),
                                         ("sessionTimeout", "6s"), ("heartbeatInterval", "500ms")])
        case "jetstream":
            guard let url = env["NATS_URL"] else { return nil }
            return yaml("pubsub.jetstream", [("natsURL", url), ("ackWait", "5s")])
        case "rabbitmq":
            guard let url = env["AMQP_URL"] else { return nil }
            return yaml("pubsub.rabbitmq", [("connectionString", url), ("deliveryMode", "2"), ("deletedWhenUnused", "false"),
                                            ("reconnectWaitSeconds", "1")])
        case "mqtt":
            guard let url = env["MQTT_URL"] else { return nil }
            return yaml("pubsub.mqtt3", [("url", url)])
        default: return nil
        }
    }

    /// A `Component` file named `pubsub` of `type` with `metadata`.
    static func yaml(_ type: String, _ metadata: [(String, String)]) -> String {
        let items = metadata.map { #"  - { name: \#($0.0), value: "\#($0.1)" }"# }.joined(separator: "\n")
        return "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: { name: pubsub }\nspec:\n  type: \(type)\n  version: v1\n  metadata:\n\(items)\n"
    }

    /// The component for `kind`, or `nil` after recording why it cannot run: a skip with its reason,
    /// or a failure when scripts/test requires every broker.
    static func requiredComponent(_ kind: String) -> String? {
        if let component = component(kind) { return component }
        if ProcessInfo.processInfo.environment["COURIER_REQUIRE_BROKERS"] == "1" {
            Issue.record("\(kind) is required but its server is not configured")
        } else {
            print("skipping \(kind): its server is not configured (scripts/brokers start; eval \"$(scripts/brokers env)\")")
        }
        return nil
    }

    /// Kafka runs it on tansu only: noida-db never evicts a SIGKILLed group member (its partitions
    /// stay assigned to the dead member; a new member waits in "rebalance" forever, checked with
    /// kcat for 45 s), so a restarted Courier could not get them back. The conformance suite and the
    /// end-to-end test still run on noida.
    @Test(arguments: ["embedded", "redis", "kafka", "jetstream", "rabbitmq", "mqtt"])
    func killNineMidStreamLosesNothingAcknowledged(_ kind: String) async throws {
        guard let pubsub = Self.requiredComponent(kind) else { return }
        let total = 1500
        let kills = 3
        let topic = "orders-\(UUID().uuidString.prefix(6))"
        let dir = try Self.resources(topic: topic, pubsub: pubsub)
        let ledger = Ledger()
        let subscriber = try await TestSubscriber(subscriptions: nil) { request, count in
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
            if count % 10 == 3 { return (500, "") }  // the app fails now and then: redelivered
            ledger.record(request)
            return (200, "")
        }
        let httpPort = try PortAllocator.free()
        let args = try Self.arguments(appID: "durable-\(kind)", appPort: subscriber.port, httpPort: httpPort, directory: dir)
        var courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
        try await PortAllocator.waitUntilListening(httpPort)
        // Publish once Courier reports the subscription: a broker such as MQTT keeps nothing for a
        // topic nobody has subscribed to yet.
        try await Self.waitForSubscription(topic, port: httpPort)

        let publisher = ledger.publish(total, topic: topic, port: httpPort)
        for _ in 0..<kills {
            try await Task.sleep(for: .milliseconds(Int.random(in: 700...1400)))
            await courier.kill9()
            courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
            try await PortAllocator.waitUntilListening(httpPort)
        }
        _ = await publisher.result
        let acknowledged = ledger.acknowledged.withLock { $0 }
        #expect(acknowledged.count == total)
        // A killed Kafka member holds its partitions for a session timeout.
        let missing = try await ledger.missing(within: kind.hasPrefix("kafka") ? 120 : 60)
        await courier.terminate()
        await subscriber.stop()
        let received = ledger.received.withLock { $0 }
        let duplicates = received.values.reduce(0) { $0 + max($1 - 1, 0) }
        print("durability (\(kind)): \(total) acknowledged, \(kills) kill -9, \(received.count) distinct delivered, \(duplicates) duplicate deliveries, \(missing.count) missing")
        if kind == "mqtt" {
            // Known window (README, MQTT): libmosquitto PUBACKs a QoS 1 message before Courier's
            // callback spools it, so a kill inside those milliseconds loses what is in it — at most
            // a message or so per kill here (seen: 1 in 2 of 7 runs on 2026-12-02). More than one
            // per kill is a real loss.
            #expect(missing.count <= kills, "acknowledged but never delivered: \(missing.sorted().prefix(20))")
        } else {
            #expect(missing.isEmpty, "acknowledged but never delivered: \(missing.sorted().prefix(20))")
        }
        if missing.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Waits until `GET /v1.0/metadata` lists a subscription to `topic`.
    static func waitForSubscription(_ topic: String, port: Int) async throws {
        for _ in 0..<300 {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1.0/metadata"), timeout: .seconds(2)),
               let body = try? await response.body.collect(upTo: 1 << 20), String(buffer: body).contains("\"\(topic)\"") {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the subscription to \(topic) never appeared in /v1.0/metadata")
    }

    @Test func sigtermDrainsInFlightAndLeavesTheRestForRedelivery() async throws {
        let dir = try Self.resources(topic: "slow", extra: #"metadata: { maxConcurrency: "2" }"#)
        let ledger = Ledger()
        let subscriber = try await TestSubscriber(subscriptions: nil) { request, _ in
            try? await Task.sleep(for: .milliseconds(400))
            if let n = (request.json?["data"] as? [String: Any])?["n"] as? Int {
                ledger.received.withLock { $0[n, default: 0] += 1 }
            }
            return (200, "")
        }
        let httpPort = try PortAllocator.free()
        let args = ["--app-id", "drain", "--app-port", "\(subscriber.port)", "--dapr-http-port", "\(httpPort)",
                    "--metrics-port", "\(try PortAllocator.free())", "--resources-path", dir + "/resources", "--data-dir", dir + "/data",
                    "--dapr-graceful-shutdown-seconds", "3"]
        var courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
        try await PortAllocator.waitUntilListening(httpPort)
        // A new group starts at the newest message (initialOffset newest): publish once it exists.
        try await Self.waitForSubscription("slow", port: httpPort)
        for n in 0..<10 {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/v1.0/publish/pubsub/slow")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"n":\#(n)}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            #expect(response.status.code == 204)
        }
        try await subscriber.wait(for: 1)
        let stopping = Date()
        await courier.terminate()
        let took = Date().timeIntervalSince(stopping)
        let beforeRestart = ledger.received.withLock { $0 }
        #expect(took < 4.5, "SIGTERM finishes within the grace period (took \(took) s)")
        #expect(beforeRestart.count >= 2 && beforeRestart.count < 10, "in-flight deliveries finished, the rest waited: \(beforeRestart.keys.sorted())")
        courier = try CourierProcess(arguments: args, log: dir + "/courier.log")
        let deadline = Date().addingTimeInterval(30)
        while ledger.received.withLock({ $0.count }) < 10 && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        await courier.terminate()
        await subscriber.stop()
        let received = ledger.received.withLock { $0 }
        #expect(received.count == 10, "every event arrives after the restart: \(received.keys.sorted())")
        if received.count == 10 { try? FileManager.default.removeItem(atPath: dir) }
    }
}
