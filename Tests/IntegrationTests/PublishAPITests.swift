import Foundation
import Testing

/// Spec §1: single publish, every row of the §1.2 table, the envelope rules of §1.4 and §1.5.
@Suite(.serialized) struct PublishAPITests {
    @Test func publishedEventArrivesAsACloudEvent() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "orders"))]") { h in
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            let r = try await h.publish("pubsub/orders?metadata.custom=v1", #"{"orderId": 42}"#,
                                        headers: [("traceparent", traceparent), ("tracestate", "k=v")])
            #expect(r.status == 204)
            #expect(r.body.isEmpty)
            let got = try await h.subscriber!.wait(for: 1)[0]
            #expect(got.path == "/events")
            #expect(got.headers["content-type"] == "application/cloudevents+json")
            #expect(got.headers["pubsubname"] == "pubsub")
            #expect(got.headers["custom"] == "v1", "publish metadata reaches the app as headers")
            let event = try #require(got.json)
            #expect((event["data"] as? [String: Any])?["orderId"] as? Int == 42)
            #expect(event["datacontenttype"] as? String == "application/json")
            #expect(event["source"] as? String == "app1")
            #expect(event["type"] as? String == "com.dapr.event.sent")
            #expect(event["specversion"] as? String == "1.0")
            #expect(event["topic"] as? String == "orders")
            #expect(event["pubsubname"] as? String == "pubsub")
            #expect((event["id"] as? String)?.count == 36)
            let tp = try #require(event["traceparent"] as? String)
            #expect(tp.hasPrefix("00-0af7651916cd43dd8448eb211c80319c-"), "same trace as the request")
            #expect(event["traceid"] as? String == tp)
            #expect(event["tracestate"] as? String == "k=v")
            let delivered = try #require(got.headers["traceparent"])
            #expect(delivered.hasPrefix("00-0af7651916cd43dd8448eb211c80319c-") && delivered != tp, "a child span toward the app")
            #expect(event["time"] is String)
        }
    }

    @Test func contentTypesDecideHowTheBodyIsWrapped() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "t"))]") { h in
            #expect(try await h.publish("pubsub/t", "plain words", contentType: nil).status == 204)
            #expect(try await h.publish("pubsub/t", "AAEC", contentType: "application/octet-stream").status == 204)
            #expect(try await h.publish("pubsub/t", "{not json", contentType: "application/json").status == 204)
            #expect(try await h.publish("pubsub/t", "<a/>", contentType: "application/xml").status == 204)
            let got = try await h.subscriber!.wait(for: 4)
            let byType = Dictionary(got.compactMap { r in r.json.map { ($0["datacontenttype"] as? String ?? "", $0) } }, uniquingKeysWith: { a, _ in a })
            #expect(byType["text/plain"]?["data"] as? String == "plain words")
            #expect(byType["application/octet-stream"]?["data_base64"] as? String == Data("AAEC".utf8).base64EncodedString())
            #expect(byType["application/octet-stream"]?["data"] == nil)
            #expect(byType["application/json"]?["data"] as? String == "{not json", "invalid JSON travels as a string")
            #expect(byType["application/xml"]?["data"] as? String == "<a/>")
        }
    }

    @Test func cloudEventOverridesAndClientCloudEvents() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "t"))]") { h in
            let r1 = try await h.publish("pubsub/t?metadata.cloudevent.id=my-id&metadata.cloudevent.type=my.type&metadata.cloudevent.source=src&metadata.cloudevent.subject=subj",
                                         "x", contentType: "text/plain")
            #expect(r1.status == 204)
            let client = #"{"specversion":"1.0","id":"ce-1","source":"client","type":"client.type","topic":"wrong","ext":"kept","data":{"n":1.50}}"#
            let r2 = try await h.publish("pubsub/t?metadata.cloudevent.id=ignored", client, contentType: "application/cloudevents+json")
            #expect(r2.status == 204)
            let got = try await h.subscriber!.wait(for: 2)
            let first = try #require(got.first { $0.json?["id"] as? String == "my-id" }?.json)
            #expect(first["type"] as? String == "my.type" && first["source"] as? String == "src" && first["subject"] as? String == "subj")
            let second = try #require(got.first { $0.json?["id"] as? String == "ce-1" })
            let ce = try #require(second.json)
            #expect(ce["topic"] as? String == "t", "topic is overwritten")
            #expect(ce["pubsubname"] as? String == "pubsub")
            #expect(ce["ext"] as? String == "kept")
            #expect(ce["source"] as? String == "client")
            #expect(second.text.contains(#""n":1.50"#), "numbers keep their precision")
        }
    }

    @Test func clientCloudEventWithoutIDGetsOne() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "t"))]") { h in
            #expect(try await h.publish("pubsub/t", #"{"data":"x"}"#, contentType: "application/cloudevents+json; charset=utf-8").status == 204)
            let ce = try #require(try await h.subscriber!.wait(for: 1)[0].json)
            #expect((ce["id"] as? String)?.isEmpty == false)
            #expect(ce["specversion"] as? String == "1.0" && ce["type"] as? String == "com.dapr.event.sent" && ce["source"] as? String == "Dapr")
        }
    }

    @Test func topicsMayContainSlashesAndPutWorks() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "a/b"))]") { h in
            let r = try await h.request(.PUT, "/v1.0/publish/pubsub/a/b", body: "1", headers: [("content-type", "application/json")])
            #expect(r.status == 204)
            let ce = try #require(try await h.subscriber!.wait(for: 1)[0].json)
            #expect(ce["topic"] as? String == "a/b")
        }
    }

    @Test func rawPayloadIsStoredAsSentAndWrappedForRawSubscribers() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "raw", metadata: ["rawPayload": "true"]))]") { h in
            #expect(try await h.publish("pubsub/raw?metadata.rawPayload=true", "\u{01}raw bytes", contentType: "application/octet-stream").status == 204)
            let ce = try #require(try await h.subscriber!.wait(for: 1)[0].json)
            #expect(ce["data_base64"] as? String == Data("\u{01}raw bytes".utf8).base64EncodedString())
            #expect(ce["datacontenttype"] as? String == "application/octet-stream")
            #expect(ce["source"] as? String == "Dapr")
        }
    }

    // MARK: The §1.2 table

    @Test func notConfigured() async throws {
        try await withHarness(resources: [:], withApp: false) { h in
            let r = try await h.publish("pubsub/t", "1")
            #expect(r.status == 400 && r.errorCode == "ERR_PUBSUB_NOT_CONFIGURED")
        }
    }

    @Test func emptyUnknownAndTopicErrors() async throws {
        try await withHarness(withApp: false) { h in
            let empty = try await h.request(.POST, "/v1.0/publish", body: "1")
            #expect(empty.status == 404 && empty.errorCode == "ERR_PUBSUB_EMPTY")
            let unknown = try await h.publish("nope/t", "1")
            #expect(unknown.status == 404 && unknown.errorCode == "ERR_PUBSUB_NOT_FOUND")
            let details = try #require(unknown.json?["details"] as? [[String: Any]])
            #expect(details.contains { $0["reason"] as? String == "DAPR_PUBSUB_NOT_FOUND" })
            #expect(!details.contains { ($0["@type"] as? String)?.hasSuffix("ResourceInfo") == true }, "no ResourceInfo for not-found")
            let noTopic = try await h.request(.POST, "/v1.0/publish/pubsub", body: "1")
            #expect(noTopic.status == 404 && noTopic.errorCode == "ERR_TOPIC_NAME_EMPTY")
            let badRaw = try await h.publish("pubsub/t?metadata.rawPayload=maybe", "1")
            #expect(badRaw.status == 400 && badRaw.errorCode == "ERR_PUBSUB_REQUEST_METADATA")
            let badCE = try await h.publish("pubsub/t", "{nope", contentType: "application/cloudevents+json")
            #expect(badCE.status == 500 && badCE.errorCode == "ERR_PUBSUB_CLOUD_EVENTS_SER")
            let notObject = try await h.publish("pubsub/t", "[1]", contentType: "application/cloudevents+json")
            #expect(notObject.status == 500 && notObject.errorCode == "ERR_PUBSUB_CLOUD_EVENTS_SER")
        }
    }

    @Test func scopingForbidsPublishing() async throws {
        let component = Harness.defaultPubsub + """

              - name: publishingScopes
                value: "app1=allowed;other="
              - name: protectedTopics
                value: "secret"
            """
        try await withHarness(resources: ["pubsub.yaml": component], withApp: false) { h in
            #expect(try await h.publish("pubsub/allowed", "1").status == 204)
            let denied = try await h.publish("pubsub/elsewhere", "1")
            #expect(denied.status == 403 && denied.errorCode == "ERR_PUBSUB_FORBIDDEN")
            #expect(denied.json?["message"] as? String == "topic elsewhere is not allowed for app id app1")
        }
        try await withHarness(resources: ["pubsub.yaml": component], appID: "free", withApp: false) { h in
            let free = try await h.publish("pubsub/anything", "1").status
            let protected = try await h.publish("pubsub/secret", "1").status
            #expect(free == 204, "apps without a scope entry are not restricted")
            #expect(protected == 403, "protected topics need a grant")
        }
    }

    @Test func brokerFailureIs500() async throws {
        try await withHarness(withApp: false) { h in
            let big = String(repeating: "x", count: 300_000)
            let r = try await h.publish("pubsub/t", big, contentType: "text/plain")
            #expect(r.status == 500 && r.errorCode == "ERR_PUBSUB_PUBLISH_MESSAGE")
            #expect((r.json?["message"] as? String)?.hasPrefix("error when publishing to topic t in pubsub pubsub:") == true)
        }
    }

    @Test func oversizeBodyIsRejected() async throws {
        try await withHarness(withApp: false, configure: { $0.maxBodyBytes = 1000 }) { h in
            let r = try await h.publish("pubsub/t", String(repeating: "y", count: 5000), contentType: "text/plain")
            #expect(r.status == 413 && r.errorCode == "ERR_MALFORMED_REQUEST")
        }
    }

    /// Plain publishes are answered in the channel pipeline, everything else by the router: on one
    /// keep-alive connection with pipelined requests the answers still come back in order, and the
    /// events published that way arrive.
    @Test func pipelinedRequestsAreAnsweredInOrderAcrossBothPaths() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "piped"))]", apiToken: "tok") { h in
            func publish(_ n: Int, token: String = "tok") -> String {
                let body = #"{"n":\#(n)}"#
                return "POST /v1.0/publish/pubsub/piped HTTP/1.1\r\nHost: x\r\ndapr-api-token: \(token)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            let metadata = "GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\ndapr-api-token: tok\r\n\r\n"
            let unknown = "POST /v1.0/publish/nope/piped HTTP/1.1\r\nHost: x\r\ndapr-api-token: tok\r\nContent-Length: 2\r\n\r\n{}"
            let health = "GET /v1.0/healthz?appid=other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let all = publish(1) + metadata + publish(2) + unknown + publish(3, token: "wrong") + publish(4) + health
            let (answer, _) = try await BrokerCtl.offPool { try RawHTTP.untilClosed(port: h.httpPort, all, timeout: 10) }
            // A body is followed directly by the next status line, so look for status lines anywhere.
            let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
            #expect(statuses == ["204", "200", "204", "404", "401", "204", "500"], "\(answer)")
            let got = try await h.subscriber!.wait(for: 3)
            #expect(Set(got.compactMap { ($0.json?["data"] as? [String: Any])?["n"] as? Int }) == [1, 2, 4])
        }
    }

}
