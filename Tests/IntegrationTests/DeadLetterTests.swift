import Foundation
import Testing

/// Dead letters say why: every way an event reaches a dead-letter topic gives it the
/// `deadletter*` attributes (as CloudEvent attributes, or as metadata beside a payload that is
/// not a CloudEvent), and leaves the rest of the event as it was.
@Suite struct DeadLetterTests {
    static let kinds = ["embedded", "redis", "kafka", "jetstream", "rabbitmq"]

    static let resiliency = """
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata: { name: dl }
        spec:
          policies:
            timeouts: { short: 300ms }
            retries:
              twice: { policy: constant, duration: 10ms, maxRetries: 1 }
          targets:
            components:
              pubsub:
                inbound: { retry: twice }
              slowps:
                inbound: { timeout: short, retry: twice }
        """

    /// One dead-lettered event as the dead-letter subscriber saw it (read raw: the stored bytes).
    struct Dead {
        var event: [String: Any]?
        var raw: Data
        var headers: [String: String]
    }

    @Test(arguments: kinds)
    func everyReasonCarriesItsAttributes(_ kind: String) async throws {
        guard let pubsub = DurabilityTests.requiredComponent(kind) else { return }
        let r = "dl\(UUID().uuidString.prefix(6).lowercased())"
        let dead = "\(r)-dead"
        // The timeout case runs on a component of its own (same broker): on a loaded machine a
        // short timeout for every case once turned the app's slow 500s into timeouts.
        func sub(_ name: String, route: String, pubsub: String = "pubsub") -> String {
            subscription(topic: "\(r)-\(name)", route: route, deadLetter: dead, pubsub: pubsub)
        }
        func rules(_ name: String, match: String) -> String {
            #"{"pubsubname":"pubsub","topic":"\#(r)-\#(name)","deadLetterTopic":"\#(dead)","routes":{"rules":[{"match":"\#(match)","path":"/a"}]}}"#
        }
        let subs = [sub("fail", route: "/fail"), sub("drop", route: "/drop"), sub("gone", route: "/gone"), sub("slow", route: "/slow", pubsub: "slowps"),
                    sub("old", route: "/old"), sub("raw", route: "/raw"),
                    rules("rules", match: #"event.data.kind == 'a'"#), rules("err", match: #"event.data.missing.deeper == 1"#),
                    subscription(topic: dead, route: "/dead", metadata: ["rawPayload": "true"]),
                    subscription(topic: dead, route: "/dead", metadata: ["rawPayload": "true"], pubsub: "slowps")]
        let slowps = pubsub.replacingOccurrences(of: "name: pubsub", with: "name: slowps")
        // An app id of its own: on Kafka the app id is the consumer group, and tests running beside
        // each other in one group rebalance each other endlessly.
        try await withHarness(resources: ["pubsub.yaml": pubsub, "slowps.yaml": slowps, "r.yaml": Self.resiliency], subscriptions: "[\(subs.joined(separator: ","))]",
                              appID: r,
                              respond: { request, _ in
            switch request.path {
            case "/fail": return (500, "kaput")
            case "/drop": return (200, #"{"status":"DROP"}"#)
            case "/gone": return (404, "no such route")
            case "/slow":
                try? await Task.sleep(for: .seconds(2))
                return (200, "")
            default: return (200, "")
            }
        }) { h in
            func event(_ id: String, extra: String = "") -> String {
                #"{"specversion":"1.0","id":"\#(id)","source":"tests","type":"t","datacontenttype":"application/json","data":{"n":1.50,"kind":"b"}\#(extra)}"#
            }
            for name in ["fail", "drop", "gone", "slow", "rules", "err"] {
                let component = name == "slow" ? "slowps" : "pubsub"
                #expect(try await h.publish("\(component)/\(r)-\(name)", event(name), contentType: "application/cloudevents+json").status == 204)
            }
            #expect(try await h.publish("pubsub/\(r)-old", event("old", extra: #","expiration":"2000-01-01T00:00:00Z""#),
                                        contentType: "application/cloudevents+json").status == 204)
            #expect(try await h.publish("pubsub/\(r)-raw?metadata.rawPayload=true", "not a cloud event", contentType: "text/plain").status == 204)

            // At least once: a broker may hand a slow delivery out twice (Redis's processingTimeout).
            let cases: Set<String> = ["fail", "drop", "gone", "slow", "old", "rules", "err"]
            func received() -> [Dead] {
                h.subscriber!.requests.filter { $0.path == "/dead" }.map { request in
                    let raw = (request.json?["data_base64"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
                    return Dead(event: (try? JSONSerialization.jsonObject(with: raw)) as? [String: Any], raw: raw, headers: request.headers)
                }
            }
            let deadline = Date().addingTimeInterval(45)
            var got = received()
            while (!cases.isSubset(of: Set(got.compactMap { $0.event?["id"] as? String })) || !got.contains { $0.event == nil }) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
                got = received()
            }
            let ids = Set(got.compactMap { $0.event?["id"] as? String })
            #expect(ids == cases, "a dead letter per case: \(ids)")
            func find(_ id: String) -> [String: Any]? { got.first { $0.event?["id"] as? String == id }?.event }
            func check(_ id: String, reason: String, attempts: Int, status: String?, error: String? = nil, route: String?, pubsub: String = "pubsub") {
                guard let e = find(id) else {
                    Issue.record("no dead letter for \(id) on \(kind)")
                    return
                }
                #expect(e["deadletterreason"] as? String == reason, "\(id): \(e)")
                #expect(e["deadletterattempts"] as? Int == attempts, "\(id) attempts: \(String(describing: e["deadletterattempts"]))")
                #expect(e["deadletterstatus"] as? String == status, "\(id) status: \(String(describing: e["deadletterstatus"]))")
                if let error { #expect(e["deadlettererror"] as? String == error, "\(id) error: \(String(describing: e["deadlettererror"]))") }
                #expect(e["deadletterroute"] as? String == route, "\(id) route")
                #expect(e["deadletterapp"] as? String == r && e["deadletterpubsub"] as? String == pubsub)
                #expect(e["deadlettertopic"] as? String == "\(r)-\(id)")
                #expect((e["deadlettertime"] as? String).map { ISO8601DateFormatter().date(from: $0) != nil } == true, "RFC 3339 time")
                // The event itself is as it was published.
                #expect(e["source"] as? String == "tests" && e["type"] as? String == "t")
                #expect((e["data"] as? [String: Any])?["kind"] as? String == "b" && (e["data"] as? [String: Any])?["n"] as? Double == 1.5)
            }
            check("fail", reason: "maxretries", attempts: 2, status: "500", error: "kaput", route: "/fail")
            check("drop", reason: "drop", attempts: 1, status: "200", error: #"{"status":"DROP"}"#, route: "/drop")
            check("gone", reason: "notfound", attempts: 1, status: "404", error: "no such route", route: "/gone")
            check("slow", reason: "timeout", attempts: 2, status: nil, route: "/slow", pubsub: "slowps")
            check("old", reason: "expired", attempts: 0, status: nil, route: nil)
            check("rules", reason: "unroutable", attempts: 0, status: nil, route: nil)
            check("err", reason: "ruleerror", attempts: 0, status: nil, route: nil)
            #expect((find("err")?["deadlettererror"] as? String)?.isEmpty == false, "the rule's error is said")
            // Not a CloudEvent: the bytes as they were, the attributes as metadata.
            let raw = got.first { $0.raw == Data("not a cloud event".utf8) }
            #expect(raw?.headers["deadletterreason"] == "unparseable", "\(String(describing: raw?.headers))")
            #expect(raw?.headers["deadlettertopic"] == "\(r)-raw" && raw?.headers["deadletterattempts"] == "0")
        }
    }
}
