import Foundation
import Testing

/// Spec §3.5 (every row of the single-delivery response table), §3.6 and §5 (dead letters), §11 (inbound retries).
@Suite(.serialized) struct DeliveryTests {
    static let fastRetries = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: fast
        spec:
          policies:
            retries:
              quick:
                policy: constant
                duration: 10ms
                maxRetries: 2
          targets:
            components:
              pubsub:
                inbound:
                  retry: quick
        """

    /// Publishes one event; the app answers the first request with `first`, later ones with 200.
    /// Returns (requests to /events, requests to /dead).
    func deliver(first: (Int, String), deadLetter: Bool = true, resiliency: Bool = false,
                 wait: Int, waitDead: Int) async throws -> (Int, Int) {
        var resources = ["pubsub.yaml": Harness.defaultPubsub]
        if resiliency { resources["resiliency.yaml"] = Self.fastRetries }
        let subs = "[\(subscription(topic: "t", deadLetter: deadLetter ? "dead" : nil)),\(subscription(topic: "dead", route: "/dead"))]"
        var result = (0, 0)
        try await withHarness(resources: resources, subscriptions: subs, respond: { r, _ in
            r.path == "/events" && r.json?["topic"] as? String == "t" && r.headers["x-seen"] == nil ? first : (200, "")
        }) { h in
            #expect(try await h.publish("pubsub/t", #"{"a":1}"#).status == 204)
            if wait > 0 { try await h.subscriber!.wait(for: wait, path: "/events") }
            if waitDead > 0 { try await h.subscriber!.wait(for: waitDead, path: "/dead") }
            try await Task.sleep(for: .milliseconds(300))
            result = (h.subscriber!.requests.filter { $0.path == "/events" }.count, h.subscriber!.requests.filter { $0.path == "/dead" }.count)
        }
        return result
    }

    @Test(arguments: [
        (200, ""), (200, "plain text"), (200, "[1,2]"), (200, "{bad json"), (200, "{}"),
        (200, #"{"status":""}"#), (200, #"{"status":"SUCCESS"}"#), (204, ""), (201, #"{"other":1}"#),
    ])
    func successAnswersAckOnce(status: Int, body: String) async throws {
        let (events, dead) = try await deliver(first: (status, body), wait: 1, waitDead: 0)
        #expect(events == 1 && dead == 0)
    }

    @Test(arguments: [(200, #"{"status":"DROP"}"#), (404, "")])
    func dropAndNotFoundGoToTheDeadLetterTopicOnce(status: Int, body: String) async throws {
        let (events, dead) = try await deliver(first: (status, body), wait: 1, waitDead: 1)
        #expect(events == 1 && dead == 1, "no retry for DROP/404")
    }

    @Test(arguments: [(200, #"{"status":"RETRY"}"#), (200, #"{"status":"success"}"#), (500, ""), (503, ""), (400, ""), (302, "")])
    func retryAnswersAreRetriedByThePolicyThenDeadLettered(status: Int, body: String) async throws {
        // The app fails every attempt: the initial one plus 2 retries, then the dead-letter topic.
        let subs = "[\(subscription(topic: "t", deadLetter: "dead")),\(subscription(topic: "dead", route: "/dead"))]"
        try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "r.yaml": Self.fastRetries], subscriptions: subs,
                              respond: { r, _ in r.path == "/events" ? (status, body) : (200, "") }) { h in
            #expect(try await h.publish("pubsub/t", "1").status == 204)
            try await h.subscriber!.wait(for: 1, path: "/dead")
            try await Task.sleep(for: .milliseconds(200))
            let attempts = h.subscriber!.requests.filter { $0.path == "/events" }.count
            #expect(attempts == 3, "1 attempt + maxRetries 2")
            let dead = try #require(h.subscriber!.requests.first { $0.path == "/dead" }?.json)
            #expect(dead["topic"] as? String == "t", "the original envelope is dead-lettered unchanged")
        }
    }

    @Test func withoutDeadLetterAFailingMessageIsRedeliveredByTheBroker() async throws {
        let (events, dead) = try await deliver(first: (500, ""), deadLetter: false, wait: 2, waitDead: 0)
        #expect(events >= 2 && dead == 0)
    }

    @Test func withoutRetryPolicyTheFirstFailureDeadLetters() async throws {
        let (events, dead) = try await deliver(first: (500, ""), wait: 1, waitDead: 1)
        #expect(events == 1 && dead == 1)
    }

    @Test func attemptTimeoutIsRetried() async throws {
        let resiliency = """
            apiVersion: dapr.io/v1alpha1
            kind: Resiliency
            metadata:
              name: timeouts
            spec:
              policies:
                timeouts: { short: 200ms }
                retries:
                  quick: { policy: constant, duration: 10ms, maxRetries: 3 }
              targets:
                components:
                  pubsub:
                    inbound: { timeout: short, retry: quick }
            """
        try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "r.yaml": resiliency],
                              subscriptions: "[\(subscription(topic: "t"))]",
                              respond: { _, n in
                                  if n == 1 { try? await Task.sleep(for: .seconds(2)) }
                                  return (200, "")
                              }) { h in
            #expect(try await h.publish("pubsub/t", "1").status == 204)
            let got = try await h.subscriber!.wait(for: 2, path: "/events")
            #expect(got.count == 2, "the slow first attempt timed out and was retried")
        }
    }

    @Test func expiredMessagesAreDeadLetteredNotDelivered() async throws {
        // The dead-letter topic carries the original (still expired) envelope, so read it raw.
        let subs = "[\(subscription(topic: "t", deadLetter: "dead")),\(subscription(topic: "dead", route: "/dead", metadata: ["rawPayload": "true"]))]"
        try await withHarness(subscriptions: subs) { h in
            let client = #"{"specversion":"1.0","id":"old","source":"s","type":"t","expiration":"2000-01-01T00:00:00Z"}"#
            #expect(try await h.publish("pubsub/t", client, contentType: "application/cloudevents+json").status == 204)
            #expect(try await h.publish("pubsub/t?metadata.ttlInSeconds=60", "fresh", contentType: "text/plain").status == 204)
            try await h.subscriber!.wait(for: 1, path: "/dead")
            let events = try await h.subscriber!.wait(for: 1, path: "/events")
            #expect(events.count == 1 && events[0].json?["data"] as? String == "fresh")
            #expect(events[0].json?["expiration"] is String, "a TTL adds expiration to the envelope")
            let wrapped = try #require(h.subscriber!.requests.first { $0.path == "/dead" }?.json?["data_base64"] as? String)
            let original = try #require(Data(base64Encoded: wrapped).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] })
            #expect(original["id"] as? String == "old")
        }
    }

    @Test func unparseableMessagesAreDeadLettered() async throws {
        let subs = "[\(subscription(topic: "t", deadLetter: "dead")),\(subscription(topic: "dead", route: "/dead", metadata: ["rawPayload": "true"]))]"
        try await withHarness(subscriptions: subs) { h in
            #expect(try await h.publish("pubsub/t?metadata.rawPayload=true", "not a cloudevent", contentType: "text/plain").status == 204)
            let dead = try await h.subscriber!.wait(for: 1, path: "/dead")
            #expect(dead[0].json?["data_base64"] as? String == Data("not a cloudevent".utf8).base64EncodedString())
            #expect(h.subscriber!.requests.filter { $0.path == "/events" }.isEmpty)
        }
    }

    @Test func appAPITokenIsSentOnEveryCall() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "t"))]", appAPIToken: "app-secret") { h in
            #expect(try await h.publish("pubsub/t", "1").status == 204)
            let got = try await h.subscriber!.wait(for: 1)
            #expect(got[0].headers["dapr-api-token"] == "app-secret")
        }
    }

    /// Dapr's ingress metrics count each delivery under its outcome (spec §12.4).
    @Test func ingressMetricsCountEachOutcome() async throws {
        let topic = "metrics-\(UUID().uuidString.prefix(6))"
        try await withHarness(subscriptions: "[\(subscription(topic: topic))]", respond: { request, _ in
            (request.json?["data"] as? [String: Any])?["drop"] != nil ? (404, "") : (200, "")
        }) { h in
            #expect(try await h.publish("pubsub/\(topic)", #"{"ok":1}"#).status == 204)
            #expect(try await h.publish("pubsub/\(topic)", #"{"ok":2}"#).status == 204)
            #expect(try await h.publish("pubsub/\(topic)", #"{"drop":1}"#).status == 204)
            try await h.subscriber!.wait(for: 3)
            try await Task.sleep(for: .milliseconds(200))
            let metrics = try await h.request(.GET, "/metrics", port: h.metricsPort).body
            let lines = metrics.split(separator: "\n").filter { $0.hasPrefix("dapr_component_pubsub_ingress_count{") && $0.contains(#"topic="\#(topic)""#) }
            #expect(lines.contains { $0.contains(#"process_status="success""#) && $0.hasSuffix(" 2") }, "\(lines)")
            #expect(lines.contains { $0.contains(#"process_status="drop""#) && $0.hasSuffix(" 1") }, "\(lines)")
        }
    }

    @Test func circuitBreakerOpensAfterConsecutiveFailures() async throws {
        let resiliency = """
            apiVersion: dapr.io/v1alpha1
            kind: Resiliency
            metadata:
              name: cb
            spec:
              policies:
                retries:
                  quick: { policy: constant, duration: 5ms, maxRetries: 10 }
                circuitBreakers:
                  cb: { maxRequests: 1, timeout: 30s, trip: "consecutiveFailures > 2" }
              targets:
                components:
                  pubsub:
                    inbound: { retry: quick, circuitBreaker: cb }
            """
        let subs = "[\(subscription(topic: "cb", deadLetter: "dead")),\(subscription(topic: "dead", route: "/dead"))]"
        try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "r.yaml": resiliency], subscriptions: subs,
                              respond: { r, _ in r.path == "/events" ? (500, "") : (200, "") }) { h in
            #expect(try await h.publish("pubsub/cb", "1").status == 204)
            try await h.subscriber!.wait(for: 3, path: "/events")
            try await Task.sleep(for: .milliseconds(500))
            let attempts = h.subscriber!.requests.filter { $0.path == "/events" }.count
            #expect(attempts == 3, "the breaker opened after 3 failures; the remaining retries never reached the app")
            // The retries ran out against the open breaker and the message went to the dead-letter topic.
            let metrics = try await h.request(.GET, "/metrics", port: h.metricsPort)
            #expect(metrics.body.contains(#"courier_pubsub_dead_letter_total{app_id="app1",component="pubsub",topic="cb",reason="maxretries"} 1"#))
        }
    }
}
