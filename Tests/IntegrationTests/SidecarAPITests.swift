import Foundation
import Testing

/// Spec §0 (API token), §3.2 (declarative subscriptions and precedence), §12 (health, metadata, shutdown).
@Suite(.serialized) struct SidecarAPITests {
    @Test func healthEndpoints() async throws {
        try await withHarness(subscriptions: "[]") { h in
            #expect(try await h.request(.GET, "/v1.0/healthz").status == 204)
            #expect(try await h.request(.GET, "/v1.0/healthz/outbound").status == 204)
            let mismatch = try await h.request(.GET, "/v1.0/healthz?appid=other")
            #expect(mismatch.status == 500 && mismatch.errorCode == "ERR_HEALTH_APPID_NOT_MATCH")
            #expect(try await h.request(.GET, "/v1.0/healthz?appid=app1").status == 204)
        }
    }

    @Test func healthzIsNotReadyUntilTheAppAnswers() async throws {
        // An app port where nothing listens: outbound is ready, the app channel is not.
        let port = try PortAllocator.free()
        try await withHarness(withApp: false, configure: { $0.appPort = port }) { h in
            #expect(try await h.request(.GET, "/v1.0/healthz/outbound").status == 204)
            let r = try await h.request(.GET, "/v1.0/healthz")
            #expect(r.status == 500 && r.errorCode == "ERR_HEALTH_NOT_READY")
        }
    }

    @Test func apiTokenIsRequiredExceptForHealth() async throws {
        try await withHarness(apiToken: "s3cret", withApp: false) { h in
            let denied = try await h.publish("pubsub/t", "1")
            #expect(denied.status == 401 && denied.body == "invalid api token")
            #expect(try await h.request(.GET, "/v1.0/metadata").status == 401)
            #expect(try await h.publish("pubsub/t", "1", headers: [("dapr-api-token", "s3cret")]).status == 204)
            #expect(try await h.request(.GET, "/v1.0/healthz").status == 204)
            #expect(try await h.request(.GET, "/v1.0/healthz/outbound").status == 204)
        }
    }

    @Test func metadataReportsComponentsSubscriptionsAndExtended() async throws {
        let subs = #"[{"pubsubname":"pubsub","topic":"t","routes":{"default":"/d"},"deadLetterTopic":"dl","metadata":{"k":"v"}}]"#
        try await withHarness(subscriptions: subs) { h in
            #expect(try await h.request(.PUT, "/v1.0/metadata/owner", body: "team-a").status == 204)
            let r = try await h.request(.GET, "/v1.0/metadata")
            #expect(r.status == 200)
            let doc = try #require(r.json)
            #expect(doc["id"] as? String == "app1")
            #expect((doc["extended"] as? [String: String])?["owner"] == "team-a")
            let components = try #require(doc["components"] as? [[String: Any]])
            #expect(components.contains { $0["name"] as? String == "pubsub" && $0["type"] as? String == "pubsub.embedded" })
            let subscriptions = try #require(doc["subscriptions"] as? [[String: Any]])
            #expect(subscriptions.count == 1)
            #expect(subscriptions[0]["type"] as? String == "PROGRAMMATIC" && subscriptions[0]["deadLetterTopic"] as? String == "dl")
            #expect((subscriptions[0]["rules"] as? [[String: Any]])?.first?["path"] as? String == "/d")
            let app = try #require(doc["appConnectionProperties"] as? [String: Any])
            #expect(app["port"] as? Int == h.subscriber!.port && app["protocol"] as? String == "http")
        }
    }

    @Test func shutdownEndpointStopsCourier() async throws {
        let h = try await Harness(withApp: false)
        #expect(try await h.request(.POST, "/v1.0/shutdown").status == 204)
        let deadline = Date().addingTimeInterval(10)
        while PortAllocator.isListening(h.httpPort) && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!PortAllocator.isListening(h.httpPort))
        await h.stop()
    }

    @Test func declarativeSubscriptionsAndProgrammaticPrecedence() async throws {
        let declarative = """
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: decl
            spec:
              pubsubname: pubsub
              topic: a
              routes:
                default: /from-file
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Subscription
            metadata:
              name: old-style
            spec:
              pubsubname: pubsub
              topic: b
              route: /from-v1
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: replaced
            spec:
              pubsubname: pubsub
              topic: c
              routes:
                default: /file-c
            ---
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: other-app
            spec:
              pubsubname: pubsub
              topic: d
              routes:
                default: /not-mine
            scopes: [someone-else]
            """
        try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "subs.yaml": declarative],
                              subscriptions: "[\(subscription(topic: "c", route: "/app-c"))]") { h in
            for topic in ["a", "b", "c", "d"] { #expect(try await h.publish("pubsub/\(topic)", "1").status == 204) }
            try await h.subscriber!.wait(for: 3)
            try await Task.sleep(for: .milliseconds(200))
            let paths = Set(h.subscriber!.requests.map(\.path))
            #expect(paths == ["/from-file", "/from-v1", "/app-c"], "programmatic replaces declarative; scoped-out files are ignored")
        }
    }

    @Test func subscriptionScopesPreventSubscribing() async throws {
        let component = Harness.defaultPubsub + """

              - name: subscriptionScopes
                value: "app1=allowed"
            """
        try await withHarness(resources: ["pubsub.yaml": component],
                              subscriptions: "[\(subscription(topic: "allowed", route: "/ok")),\(subscription(topic: "denied", route: "/no"))]") { h in
            #expect(try await h.publish("pubsub/denied", "1").status == 204)
            #expect(try await h.publish("pubsub/allowed", "1").status == 204)
            try await h.subscriber!.wait(for: 1, path: "/ok")
            try await Task.sleep(for: .milliseconds(200))
            #expect(h.subscriber!.requests.allSatisfy { $0.path == "/ok" })
        }
    }

    /// The routing example of Dapr's docs, end to end: widgets, gadgets, everything else to products.
    @Test func contentBasedRoutingWithCEL() async throws {
        let subs = #"[{"pubsubname":"pubsub","topic":"inventory","routes":{"rules":[{"match":"event.type == \"widget\"","path":"/widgets"},{"match":"event.type == \"gadget\"","path":"/gadgets"},{"match":"event.data.price > 100","path":"/expensive"}],"default":"/products"}}]"#
        try await withHarness(subscriptions: subs) { h in
            for (type, price) in [("widget", 1), ("gadget", 500), ("thing", 500), ("thing", 5)] {
                let ce = #"{"specversion":"1.0","id":"\#(type)-\#(price)","source":"s","type":"\#(type)","datacontenttype":"application/json","data":{"price":\#(price)}}"#
                #expect(try await h.publish("pubsub/inventory", ce, contentType: "application/cloudevents+json").status == 204)
            }
            let got = try await h.subscriber!.wait(for: 4)
            let routed = Dictionary(got.map { ($0.json?["id"] as? String ?? "", $0.path) }, uniquingKeysWith: { a, _ in a })
            #expect(routed == ["widget-1": "/widgets", "gadget-500": "/gadgets", "thing-500": "/expensive", "thing-5": "/products"])
        }
    }

    @Test func unmatchedEventsAreDroppedAndRuleErrorsDeadLettered() async throws {
        let subs = #"[{"pubsubname":"pubsub","topic":"t","deadLetterTopic":"dead","routes":{"rules":[{"match":"event.data.kind == 'a'","path":"/a"},{"match":"event.data.n / 0 > 1","path":"/never"}]}},{"pubsubname":"pubsub","topic":"dead","route":"/dead"}]"#
        try await withHarness(subscriptions: subs) { h in
            #expect(try await h.publish("pubsub/t", #"{"kind":"a","n":1}"#).status == 204)
            #expect(try await h.publish("pubsub/t", #"{"kind":"b"}"#).status == 204, "no such key n: a rule error")
            try await h.subscriber!.wait(for: 1, path: "/a")
            let dead = try await h.subscriber!.wait(for: 1, path: "/dead")
            #expect((dead[0].json?["data"] as? [String: Any])?["kind"] as? String == "b")
        }
    }

    @Test func invalidCELFailsProgrammaticDiscovery() async throws {
        let subs = #"[{"pubsubname":"pubsub","topic":"t","routes":{"rules":[{"match":"event.type ==","path":"/x"}],"default":"/d"}},{"pubsubname":"pubsub","topic":"u","route":"/u"}]"#
        try await withHarness(subscriptions: subs) { h in
            #expect(try await h.publish("pubsub/u", "1").status == 204)
            try await Task.sleep(for: .milliseconds(300))
            #expect(h.subscriber!.requests.isEmpty, "as in Dapr, a rule that does not compile fails the whole discovery")
            #expect(h.runtime.subscriptions.activeSubscriptions.isEmpty)
        }
    }
}
