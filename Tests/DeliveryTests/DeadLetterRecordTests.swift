import CloudEvents
import Delivery
import NIOCore
import Testing

/// The attributes a dead-lettered event gains, and how a second failure counts on the first.
@Suite struct DeadLetterRecordTests {
    let event = Array(#"{"specversion":"1.0","id":"e1","source":"s","type":"t","data":{"n":1.50},"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#.utf8)

    func parse(_ bytes: [UInt8]) throws -> [String: JSONValue] {
        try #require(try JSONParser.parse(bytes).objectValue)
    }

    @Test func aCloudEventGainsEveryAttributeAndKeepsTheRest() throws {
        let record = DeadLetterRecord(reason: .maxretries, attempts: 3, status: "500", error: "boom", app: "orders", route: "/o",
                                      pubsub: "ps", topic: "orders", time: "2026-12-07T04:00:00Z")
        let out = try parse(try #require(record.annotate(event)))
        #expect(out["deadletterreason"] == .string("maxretries"))
        #expect(out["deadletterattempts"] == .number("3"))
        #expect(out["deadletterstatus"] == .string("500") && out["deadlettererror"] == .string("boom"))
        #expect(out["deadletterapp"] == .string("orders") && out["deadletterroute"] == .string("/o"))
        #expect(out["deadletterpubsub"] == .string("ps") && out["deadlettertopic"] == .string("orders"))
        #expect(out["deadlettertime"] == .string("2026-12-07T04:00:00Z"))
        let original = try parse(event)
        for key in ["id", "source", "type", "data", "traceparent", "specversion"] { #expect(out[key] == original[key], "\(key) unchanged") }
        #expect(out.count == original.count + 9)
    }

    @Test func aSecondFailureReplacesTheRecordAndCountsEarlierAttempts() throws {
        let first = DeadLetterRecord(reason: .timeout, attempts: 4, status: nil, error: "no answer", app: "a", route: "/r", pubsub: "p", topic: "t")
        let once = try #require(first.annotate(event))
        #expect(DeadLetterRecord.earlierAttempts(event: once, metadata: [:]) == 4)
        let second = DeadLetterRecord(reason: .drop, attempts: DeadLetterRecord.earlierAttempts(event: once, metadata: [:]) + 1,
                                      app: "a", route: "/r", pubsub: "p", topic: "t")
        let twice = try parse(try #require(second.annotate(once)))
        #expect(twice["deadletterreason"] == .string("drop") && twice["deadletterattempts"] == .number("5"))
        #expect(twice["deadletterstatus"] == nil && twice["deadlettererror"] == nil, "an earlier record's status and error do not linger")
        #expect(DeadLetterRecord.earlierAttempts(event: event, metadata: [:]) == 0)
        #expect(DeadLetterRecord.earlierAttempts(event: nil, metadata: ["deadletterattempts": "7"]) == 7, "a raw payload's metadata")
    }

    @Test func theErrorIsCutToOneKiBOnACharacterBoundary() {
        let long = String(repeating: "é", count: 600)  // 1,200 bytes
        let record = DeadLetterRecord(reason: .maxretries, attempts: 1, error: long, app: "a", route: nil, pubsub: "p", topic: "t")
        #expect(record.error!.utf8.count == 1024 && record.error!.allSatisfy { $0 == "é" })
        #expect(record.metadata["deadletterroute"] == nil)
    }

    @Test func notAnObjectIsNotAnnotated() {
        let record = DeadLetterRecord(reason: .unparseable, attempts: 0, app: "a", route: nil, pubsub: "p", topic: "t")
        #expect(record.annotate(Array("not json".utf8)) == nil)
        #expect(record.annotate(Array("[1,2]".utf8)) == nil)
    }

    @Test func anAnswerKeepsItsBodyStartAndStatus() {
        let answer = AppAnswer(httpStatus: 503, body: ByteBuffer(string: String(repeating: "x", count: 5000)))
        #expect(answer.status == "503" && answer.detail?.utf8.count == 1024)
        #expect(AppAnswer(grpcCode: "UNAVAILABLE", error: "down").status == "UNAVAILABLE")
        #expect(AppAnswer(error: "refused").detail == "refused")
    }
}
