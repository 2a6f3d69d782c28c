@testable import Delivery
import Testing

/// An ordering key read along a field path without decoding the event says what the full CEL
/// evaluation says.
@Suite struct OrderingKeyTests {
    @Test func plainFieldPathsAreRecognised() {
        #expect(OrderingKey.fieldPath("event.subject") == ["subject"])
        #expect(OrderingKey.fieldPath(" event.data.customer_id2 ") == ["data", "customer_id2"])
        for other in ["event", "event.data.x + 'a'", "event['data']", "size(event.data)", "event..a", "event.in", "event.data.2x", "other.a"] {
            #expect(OrderingKey.fieldPath(other) == nil, "\(other)")
        }
    }

    @Test(arguments: [
        #"{"subject":"s1","data":{"key":"k7","n":3,"nested":{"a":[1,2]},"flag":true}}"#,
        #"{"data":{"n":3,"key":12.5}, "subject":"x"}"#,
        #"{"data":{"key":null}}"#,
        #"{"data":{"key":{"b":1}}}"#,
    ])
    func theFastPathAgreesWithCEL(_ event: String) throws {
        let fast = try OrderingKey("event.data.key"), full = try OrderingKey("(event).data.key")
        #expect(fast.path != nil && full.path == nil)
        let bytes = Array(event.utf8)
        #expect(try fast.key(envelope: bytes).get() == (try full.key(envelope: bytes).get()))
    }

    @Test func aMissingKeyOrNotAnObjectFailsBothWays() throws {
        let fast = try OrderingKey("event.data.key"), full = try OrderingKey("(event).data.key")
        for event in [#"{"data":{"other":1}}"#, #"{"data":"text"}"#, #"{"subject":"s"}"#, "not json"] {
            let bytes = Array(event.utf8)
            #expect((try? fast.key(envelope: bytes).get()) == nil && (try? full.key(envelope: bytes).get()) == nil, "\(event)")
        }
    }
}
