import Foundation
import Testing

/// Spec §2 (bulk publish) and §3.7 (bulk subscribe).
@Suite(.serialized) struct BulkTests {
    @Test func bulkPublishDeliversEveryEntryOnBothRoutes() async throws {
        try await withHarness(subscriptions: "[\(subscription(topic: "t"))]") { h in
            let body = """
                [{"entryId":"1","event":{"n":1},"contentType":"application/json"},
                 {"entryId":"2","event":"hello","contentType":"text/plain","metadata":{"cloudevent.type":"custom"}},
                 {"entryId":"3","event":"\(Data([0, 1, 2]).base64EncodedString())","contentType":"application/octet-stream"},
                 {"entryId":"4","event":{"specversion":"1.0","id":"ce4","source":"s","type":"x"},"contentType":"application/cloudevents+json"}]
                """
            for prefix in ["/v1.0-alpha1/publish/bulk", "/v1.0/publish/bulk"] {
                let r = try await h.request(.POST, "\(prefix)/pubsub/t", body: body, headers: [("content-type", "application/json")])
                #expect(r.status == 204, "\(prefix): \(r.body)")
            }
            let got = try await h.subscriber!.wait(for: 8)
            let events = got.compactMap(\.json)
            #expect(events.filter { ($0["data"] as? [String: Any])?["n"] as? Int == 1 }.count == 2)
            #expect(events.filter { $0["type"] as? String == "custom" && $0["data"] as? String == "hello" }.count == 2)
            #expect(events.filter { $0["data_base64"] as? String == Data([0, 1, 2]).base64EncodedString() }.count == 2)
            #expect(events.filter { $0["id"] as? String == "ce4" && $0["topic"] as? String == "t" }.count == 2)
        }
    }

    @Test func bulkPublishValidation() async throws {
        try await withHarness(withApp: false) { h in
            func post(_ body: String, _ path: String = "pubsub/t") async throws -> Harness.HTTPResult {
                try await h.request(.POST, "/v1.0-alpha1/publish/bulk/\(path)", body: body, headers: [("content-type", "application/json")])
            }
            let notArray = try await post(#"{"entryId":"1"}"#)
            #expect(notArray.status == 400 && notArray.errorCode == "ERR_PUBSUB_EVENTS_SER")
            let noID = try await post(#"[{"event":1,"contentType":"application/json"}]"#)
            #expect(noID.status == 400 && noID.errorCode == "ERR_PUBSUB_EVENTS_SER")
            let dup = try await post(#"[{"entryId":"a","event":1,"contentType":"application/json"},{"entryId":"a","event":2,"contentType":"application/json"}]"#)
            #expect(dup.status == 400 && dup.errorCode == "ERR_PUBSUB_EVENTS_SER")
            let noType = try await post(#"[{"entryId":"a","event":1}]"#)
            #expect(noType.status == 400 && noType.errorCode == "ERR_PUBSUB_EVENTS_SER")
            let textNotString = try await post(#"[{"entryId":"a","event":1,"contentType":"text/plain"}]"#)
            #expect(textNotString.status == 400)
            let badBase64 = try await post(#"[{"entryId":"a","event":"***","contentType":"application/octet-stream"}]"#)
            #expect(badBase64.status == 400)
            let unknown = try await post("[]", "nope/t")
            #expect(unknown.status == 404 && unknown.errorCode == "ERR_PUBSUB_NOT_FOUND")
            let big = String(repeating: "z", count: 250_000)
            let partial = try await post(#"[{"entryId":"ok","event":"small","contentType":"text/plain"},{"entryId":"big","event":"\#(big)","contentType":"text/plain"}]"#)
            #expect(partial.status == 500)
            let failed = try #require(partial.json?["failedEntries"] as? [[String: Any]])
            #expect(failed.count == 1 && failed[0]["entryId"] as? String == "big" && failed[0]["error"] is String)
            #expect(partial.errorCode == "ERR_PUBSUB_PUBLISH_MESSAGE")
            #expect(partial.headers.first(name: "metadata.responseData")?.contains("failedEntries") == true)
        }
    }

    @Test func bulkSubscribeBatchesAndHonoursPerEntryStatuses() async throws {
        let subs = "[\(subscription(topic: "t", deadLetter: "dead", bulk: #"{"enabled":true,"maxMessagesCount":10,"maxAwaitDurationMs":200}"#)),\(subscription(topic: "dead", route: "/dead"))]"
        try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "r.yaml": DeliveryTests.fastRetries],
                              subscriptions: subs, respond: { r, n in
            guard r.path == "/events", let entries = r.json?["entries"] as? [[String: Any]] else { return (200, "") }
            if n == 1 {
                // First batch: entry 0 succeeds, entry 1 drops, entry 2 retries, the rest get no status (= retry).
                let ids = entries.map { $0["entryId"] as! String }
                let statuses = [#"{"entryId":"\#(ids[0])","status":"SUCCESS"}"#, #"{"entryId":"\#(ids[1])","status":"DROP"}"#,
                                #"{"entryId":"\#(ids[2])","status":"RETRY"}"#, #"{"entryId":"unknown","status":"SUCCESS"}"#]
                return (200, #"{"statuses":[\#(statuses.joined(separator: ","))]}"#)
            }
            let statuses = entries.map { #"{"entryId":"\#($0["entryId"] as! String)","status":"SUCCESS"}"# }
            return (200, #"{"statuses":[\#(statuses.joined(separator: ","))]}"#)
        }) { h in
            let body = "[" + (0..<5).map { #"{"entryId":"\#($0)","event":{"i":\#($0)},"contentType":"application/json"}"# }.joined(separator: ",") + "]"
            #expect(try await h.request(.POST, "/v1.0/publish/bulk/pubsub/t", body: body, headers: [("content-type", "application/json")]).status == 204)
            try await h.subscriber!.wait(for: 1, path: "/dead")
            let batches = try await h.subscriber!.wait(for: 2, path: "/events")
            let first = try #require(batches[0].json)
            #expect(first["type"] as? String == "com.dapr.event.sent.bulk")
            #expect(first["topic"] as? String == "t" && first["pubsubname"] as? String == "pubsub")
            let entries = try #require(first["entries"] as? [[String: Any]])
            #expect(entries.count == 5, "one batch of everything published together")
            #expect(entries.allSatisfy { $0["contentType"] as? String == "application/cloudevents+json" && ($0["event"] as? [String: Any])?["topic"] as? String == "t" })
            #expect(batches[0].headers["content-type"] == "application/json")
            let second = try #require(batches[1].json?["entries"] as? [[String: Any]])
            #expect(second.count == 3, "only the failed entries are re-sent")
            try await Task.sleep(for: .milliseconds(300))
            #expect(h.subscriber!.requests.filter { $0.path == "/dead" }.count == 1, "only the dropped entry is dead-lettered")
        }
    }

    @Test(arguments: [(404, "", 0), (200, "not json", 2), (500, "", 2)])
    func bulkSubscribeWholeResponseRules(status: Int, body: String, expectedRequests: Int) async throws {
        let resiliency = """
            apiVersion: dapr.io/v1alpha1
            kind: Resiliency
            metadata: { name: r }
            spec:
              policies:
                retries:
                  once: { policy: constant, duration: 10ms, maxRetries: 1 }
              targets:
                components:
                  pubsub:
                    inbound: { retry: once }
            """
        let subs = "[\(subscription(topic: "t", deadLetter: "dead", bulk: #"{"enabled":true,"maxMessagesCount":2,"maxAwaitDurationMs":100}"#)),\(subscription(topic: "dead", route: "/dead"))]"
        try await withHarness(resources: ["pubsub.yaml": Harness.defaultPubsub, "r.yaml": resiliency], subscriptions: subs,
                              respond: { r, _ in r.path == "/events" ? (status, body) : (200, "") }) { h in
            let entries = #"[{"entryId":"a","event":1,"contentType":"application/json"},{"entryId":"b","event":2,"contentType":"application/json"}]"#
            #expect(try await h.request(.POST, "/v1.0/publish/bulk/pubsub/t", body: entries, headers: [("content-type", "application/json")]).status == 204)
            try await h.subscriber!.wait(for: 2, path: "/dead")
            try await Task.sleep(for: .milliseconds(200))
            let attempts = h.subscriber!.requests.filter { $0.path == "/events" }.count
            #expect(attempts == max(expectedRequests, 1), "404 drops every entry at once; other failures retry every entry")
        }
    }

    @Test func bulkSubscribeSendsOneRequestPerMatchedPath() async throws {
        let subs = #"[{"pubsubname":"pubsub","topic":"t","routes":{"rules":[{"match":"int(event.data.n) % 2 == 0","path":"/even"}],"default":"/odd"},"bulkSubscribe":{"enabled":true,"maxMessagesCount":10,"maxAwaitDurationMs":200}}]"#
        try await withHarness(subscriptions: subs, respond: { r, _ in
            let entries = r.json?["entries"] as? [[String: Any]] ?? []
            let statuses = entries.map { #"{"entryId":"\#($0["entryId"] as! String)","status":"SUCCESS"}"# }
            return (200, #"{"statuses":[\#(statuses.joined(separator: ","))]}"#)
        }) { h in
            let body = "[" + (0..<6).map { #"{"entryId":"\#($0)","event":{"n":\#($0)},"contentType":"application/json"}"# }.joined(separator: ",") + "]"
            #expect(try await h.request(.POST, "/v1.0/publish/bulk/pubsub/t", body: body, headers: [("content-type", "application/json")]).status == 204)
            let even = try await h.subscriber!.wait(for: 1, path: "/even")
            let odd = try await h.subscriber!.wait(for: 1, path: "/odd")
            let evens = (even[0].json?["entries"] as? [[String: Any]] ?? []).compactMap { (($0["event"] as? [String: Any])?["data"] as? [String: Any])?["n"] as? Int }
            let odds = (odd[0].json?["entries"] as? [[String: Any]] ?? []).compactMap { (($0["event"] as? [String: Any])?["data"] as? [String: Any])?["n"] as? Int }
            #expect(evens.sorted() == [0, 2, 4] && odds.sorted() == [1, 3, 5])
        }
    }
}
