@testable import Delivery
import NIOCore
import Resources
import Testing

@Suite struct AppResponseTests {
    func single(_ status: Int, _ body: String) -> DeliveryOutcome { AppResponse.single(status: status, body: ByteBuffer(string: body)) }

    @Test func singleDeliveryTable() {
        #expect(single(200, "") == .success)
        #expect(single(200, "text") == .success)
        #expect(single(200, "[]") == .success)
        #expect(single(200, #"{"status":""}"#) == .success)
        #expect(single(200, #"{"Status":"SUCCESS"}"#) == .success)
        #expect(single(200, #"{"status":"DROP"}"#) == .drop)
        #expect(single(404, "") == .drop)
        #expect(single(200, #"{"status":"RETRY"}"#).isRetry)
        #expect(single(200, #"{"status":"success"}"#).isRetry)
        #expect(single(500, "").isRetry && single(400, "").isRetry && single(301, "").isRetry)
        #expect(single(503, "") == .retry(status: 503, reason: "app answered HTTP 503"))
    }

    @Test func bulkTable() {
        let ids = ["a", "b", "c"]
        let r = AppResponse.bulk(status: 200, body: ByteBuffer(string: #"{"statuses":[{"entryId":"a","status":"SUCCESS"},{"entryId":"b","status":"DROP"},{"entryId":"x","status":"SUCCESS"}]}"#), entryIDs: ids)
        #expect(r["a"] == .success && r["b"] == .drop && r["c"]?.isRetry == true && r["x"] == nil)
        #expect(AppResponse.bulk(status: 200, body: ByteBuffer(string: "nope"), entryIDs: ids).values.allSatisfy { $0.isRetry })
        #expect(AppResponse.bulk(status: 404, body: ByteBuffer(), entryIDs: ids).values.allSatisfy { $0 == .drop })
        #expect(AppResponse.bulk(status: 500, body: ByteBuffer(), entryIDs: ids).values.allSatisfy { $0.isRetry })
        let empty = AppResponse.bulk(status: 200, body: ByteBuffer(string: #"{"statuses":[{"entryId":"a","status":""}]}"#), entryIDs: ["a"])
        #expect(empty["a"]?.isRetry == true, "an empty status is RETRY in bulk")
    }

    @Test func circuitBreakerStateMachine() {
        let b = CircuitBreaker(policy: CircuitBreakerPolicy(maxRequests: 1, interval: 0, timeout: 10,
                                                             trip: TripCondition(variable: .consecutiveFailures, op: .greater, value: 1)))
        #expect(b.allow(now: 0)); b.record(success: false, now: 0)
        #expect(b.state == .closed)
        #expect(b.allow(now: 1)); b.record(success: false, now: 1)
        #expect(b.state == .open)
        #expect(!b.allow(now: 5))
        #expect(b.allow(now: 11) && b.state == .halfOpen)
        #expect(!b.allow(now: 11), "maxRequests 1 while half-open")
        b.record(success: true, now: 12)
        #expect(b.state == .closed)
        #expect(b.allow(now: 13)); b.record(success: false, now: 13)
        #expect(b.allow(now: 13)); b.record(success: false, now: 13)
        #expect(b.allow(now: 24)); b.record(success: false, now: 24)
        #expect(b.state == .open, "a failure while half-open opens it again")
    }

    @Test func redeliveryBackoff() {
        #expect(SubscriptionRunner.redeliveryDelay(attempt: 1) == 0.2)
        #expect(SubscriptionRunner.redeliveryDelay(attempt: 3) == 0.8)
        #expect(SubscriptionRunner.redeliveryDelay(attempt: 100) == 10)
    }

    @Test func headerRules() {
        #expect(HeaderRules.forwards("custom-key"))
        #expect(!HeaderRules.forwards("Content-Type") && !HeaderRules.forwards("connection") && !HeaderRules.forwards("x-bin"))
        #expect(!HeaderRules.forwards("has space") && !HeaderRules.forwards(""))
    }

    @Test func programmaticSubscriptionParsingAndMerge() throws {
        let body = ByteBuffer(string: #"[{"PubsubName":"ps","topic":"a","route":"r1"},{"pubsubname":"ps","topic":"b","routes":{"rules":[{"match":"","path":"/x"}],"default":"/d"},"deadLetterTopic":"","bulkSubscribe":{"enabled":true,"maxMessagesCount":7}}]"#)
        let subs = try SubscriptionDiscovery.parse(body)
        #expect(subs.count == 2)
        #expect(subs[0].rules == [RouteRule(match: "", path: "r1")])
        #expect(subs[1].rules.map(\.path) == ["/x", "/d"] && subs[1].deadLetterTopic == nil && subs[1].bulkSubscribe.maxMessagesCount == 7)
        #expect(throws: (any Error).self) { try SubscriptionDiscovery.parse(ByteBuffer(string: #"{"a":1}"#)) }
        #expect(throws: (any Error).self) { try SubscriptionDiscovery.parse(ByteBuffer(string: #"[{"topic":"a"}]"#)) }
        let decl = SubscriptionSpec(pubsubName: "ps", topic: "a", rules: [RouteRule(match: "", path: "/file")], origin: .declarative)
        let decl2 = SubscriptionSpec(pubsubName: "ps", topic: "a", rules: [RouteRule(match: "", path: "/file2")], origin: .declarative)
        let merged = SubscriptionDiscovery.merge(declarative: [decl, decl2], programmatic: subs, logger: .init(label: "t"))
        #expect(merged.count == 2 && merged[0].origin == .programmatic && merged[0].rules[0].path == "r1")
    }
}
