import DaprProto
import Delivery
import Foundation
@testable import GRPCAPI
import Resources
import SwiftProtobuf
import Testing

/// How a gRPC app's declarations and Courier's events map onto Dapr's AppCallback messages.
struct AppCallbackMappingTests {
    func topic(_ rules: [(String, String)], default path: String) -> Dapr_Proto_Runtime_V1_TopicSubscription {
        var t = Dapr_Proto_Runtime_V1_TopicSubscription()
        t.pubsubName = "pubsub"
        t.topic = "orders"
        t.routes.rules = rules.map { var r = Dapr_Proto_Runtime_V1_TopicRule(); r.match = $0.0; r.path = $0.1; return r }
        t.routes.default = path
        return t
    }

    @Test func anEmptyDefaultPathStaysEmpty() throws {
        let s = try AppCallbackClient.subscription(topic([], default: ""))
        #expect(s.rules == [RouteRule(match: "", path: "")], "the Python SDK looks handlers up by pubsub:topic:path with an empty path")
        let table = try RouteTable(rules: s.rules)
        #expect(table.route(envelope: Array(#"{"id":"1"}"#.utf8)) == .path(""))
    }

    @Test func rulesWithoutDefaultHaveNoCatchAll() throws {
        let s = try AppCallbackClient.subscription(topic([(#"event.type == "a""#, "special")], default: ""))
        #expect(s.rules == [RouteRule(match: #"event.type == "a""#, path: "special")])
        let table = try RouteTable(rules: s.rules)
        #expect(table.route(envelope: Array(#"{"type":"a"}"#.utf8)) == .path("special"), "a bare path is kept as declared")
        #expect(table.route(envelope: Array(#"{"type":"b"}"#.utf8)) == .noMatch)
    }

    @Test func aDefaultPathFollowsTheRules() throws {
        let s = try AppCallbackClient.subscription(topic([(#"event.type == "a""#, "special")], default: "other"))
        #expect(s.rules.last == RouteRule(match: "", path: "other"))
    }

    @Test func invalidDeclarationsAreRefused() {
        var missing = topic([], default: "")
        missing.topic = ""
        #expect(throws: (any Error).self) { try AppCallbackClient.subscription(missing) }
        #expect(throws: (any Error).self) { try AppCallbackClient.subscription(topic([("event.type ==", "x")], default: "")) }
    }

    @Test func bulkSettingsAreBounded() throws {
        var t = topic([], default: "")
        t.bulkSubscribe.enabled = true
        t.bulkSubscribe.maxMessagesCount = Int32.max
        t.bulkSubscribe.maxAwaitDurationMs = 50
        let s = try AppCallbackClient.subscription(t)
        #expect(s.bulkSubscribe == BulkSubscribeOptions(enabled: true, maxMessagesCount: 100_000, maxAwaitDurationMs: 50))
    }

    @Test func eventFieldsFollowDapr() {
        let envelope = #"{"id":"e1","source":"app","type":"com.dapr.event.sent","specversion":"1.0","datacontenttype":"text/plain","data":"hi","topic":"orders","traceparent":"00-x"}"#
        let request = TopicEventConversion.request(payload: Array(envelope.utf8), topic: "orders", pubsub: "pubsub")
        #expect(request.id == "e1" && request.dataContentType == "text/plain" && request.data == Data("hi".utf8))
        #expect(request.extensions.fields["traceparent"] == Google_Protobuf_Value(stringValue: "00-x") && request.extensions.fields["id"] == nil)
    }

    @Test func statusesMapToOutcomes() {
        #expect(AppCallbackClient.outcome(.success) == .success)
        #expect(AppCallbackClient.outcome(.drop) == .drop)
        #expect(AppCallbackClient.outcome(.retry).isRetry)
        #expect(AppCallbackClient.outcome(.UNRECOGNIZED(7)).isRetry)
    }
}
