@testable import CloudEvents
import Foundation
import Testing

@Suite struct EnvelopeTests {
    func object(_ bytes: [UInt8]) throws -> [String: JSONValue] {
        try #require(try JSONParser.parse(bytes).objectValue)
    }

    @Test func wrapsJSONInSortedKeyOrder() throws {
        let trace = TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", traceState: "a=b")
        let ctx = Envelope.Context(topic: "t", pubsubName: "ps", appID: "app", contentType: "application/json", trace: trace,
                                   ttlSeconds: 60, now: 1_700_000_000)
        let bytes = try Envelope.build(body: Array(#" {"a": [1, 2.50]} "#.utf8), context: ctx)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"data":{"a": [1, 2.50]},"datacontenttype":"application/json","expiration":"2023-11-14T22:14:20Z","id":""#))
        #expect(text.hasSuffix(#","pubsubname":"ps","source":"app","specversion":"1.0","time":"2023-11-14T22:13:20Z","topic":"t","traceid":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"a=b","type":"com.dapr.event.sent"}"#))
        let keys = try object(bytes).keys.sorted()
        #expect(keys == ["data", "datacontenttype", "expiration", "id", "pubsubname", "source", "specversion", "time", "topic", "traceid", "traceparent", "tracestate", "type"])
    }

    @Test func emptyContentTypeIsTextAndEmptyAppIsDapr() throws {
        let ctx = Envelope.Context(topic: "t", pubsubName: "ps", appID: "", contentType: nil)
        let o = try object(try Envelope.build(body: Array("he said \"hi\"\n".utf8), context: ctx))
        #expect(o["datacontenttype"] == .string("text/plain"))
        #expect(o["data"] == .string("he said \"hi\"\n"))
        #expect(o["source"] == .string("Dapr"))
        #expect(o["traceparent"] == .string("") && o["tracestate"] == .string(""))
    }

    @Test func plusJSONTypesAreStrings() throws {
        let ctx = Envelope.Context(topic: "t", pubsubName: "ps", appID: "a", contentType: "application/vnd.x+json")
        let o = try object(try Envelope.build(body: Array(#"{"a":1}"#.utf8), context: ctx))
        #expect(o["data"] == .string(#"{"a":1}"#))
    }

    @Test func clientCloudEventRules() throws {
        let ctx = Envelope.Context(topic: "real", pubsubName: "ps", appID: "a", contentType: "Application/CloudEvents+JSON; charset=utf-8",
                                   overrides: CloudEventOverrides(metadata: ["cloudevent.id": "ignored"]))
        let o = try object(try Envelope.build(body: Array(#"{"id":"x","topic":"fake","traceid":"keep","big":12345678901234567890}"#.utf8), context: ctx))
        #expect(o["id"] == .string("x") && o["topic"] == .string("real") && o["pubsubname"] == .string("ps"))
        #expect(o["traceid"] == .string("keep") && o["traceparent"] == nil)
        #expect(o["big"] == .number("12345678901234567890"))
        #expect(throws: EnvelopeError.self) { try Envelope.build(body: Array("[]".utf8), context: ctx) }
        #expect(throws: EnvelopeError.self) { try Envelope.build(body: Array("{".utf8), context: ctx) }
    }

    @Test func overridesAreCaseInsensitive() {
        let o = CloudEventOverrides(metadata: ["CloudEvent.ID": "1", "cloudevent.TraceParent": "tp", "other": "x"])
        #expect(o.id == "1" && o.traceparent == "tp" && o.source == nil)
    }

    @Test func fieldsScannerReadsOnlyWhatDeliveryNeeds() {
        let bytes = Array(#"{"data":{"expiration":"nested"},"expiration":"2000-01-01T00:00:00Z","id":"e\"1","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#.utf8)
        let f = EnvelopeFields.scan(bytes)
        #expect(f?.id == "e\"1")
        #expect(f?.expiration == "2000-01-01T00:00:00Z")
        #expect(f?.isExpired(now: 1_700_000_000) == true)
        #expect(f?.trace?.traceID == "0af7651916cd43dd8448eb211c80319c")
        #expect(EnvelopeFields.scan(Array("not json".utf8)) == nil)
        #expect(EnvelopeFields.scan(Array("[1]".utf8)) == nil)
        var notExpired = EnvelopeFields()
        notExpired.expiration = "garbage"
        #expect(!notExpired.isExpired(now: 1e12), "unparseable expiration never expires")
    }
}

@Suite struct JSONTests {
    @Test(arguments: ["{}", "[]", "0", "-1.5e+10", "\"\\u00e9\\ud83d\\ude00\"", "[null,true,false]", #"{"a":{"b":[1,{"c":"d"}]}}"#, " 1 "])
    func valid(_ text: String) {
        #expect(JSONParser.isValid(Array(text.utf8)))
        #expect((try? JSONParser.parse(text)) != nil)
    }

    @Test(arguments: ["", "{", "[1,]", "01", "1.", "tru", "\"\\x\"", "\"a\nb\"", "{\"a\" 1}", "[1] 2", "nul", "-", "1e"])
    func invalid(_ text: String) {
        #expect(!JSONParser.isValid(Array(text.utf8)))
        #expect((try? JSONParser.parse(text)) == nil)
    }

    @Test func roundTripEscapes() throws {
        let v = try JSONParser.parse(#"{"s":"a\"b\\c\u0001\n😀","n":1.0e3}"#)
        #expect(v["s"] == .string("a\"b\\c\u{01}\n😀"))
        let text = String(decoding: JSONWriter.serialize(v), as: UTF8.self)
        #expect(text == #"{"n":1.0e3,"s":"a\"b\\c\u0001\n😀"}"#)
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(!JSONParser.isValid(Array(deep.utf8)))
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]",:0123456789.eE+-tfnulrsa\ "#.utf8)
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            _ = JSONParser.isValid(bytes)
            _ = try? JSONParser.parse(bytes)
            _ = EnvelopeFields.scan(bytes)
        }
    }
}

@Suite struct TimeAndTraceTests {
    @Test func rfc3339() {
        #expect(RFC3339.format(unixSeconds: 0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.parse("2024-02-29T12:30:15.5+02:00") == 1_709_202_615.5)
        #expect(RFC3339.parse("2024-13-01T00:00:00Z") == nil)
        #expect(RFC3339.parse("yesterday") == nil)
    }

    @Test func goDurations() {
        #expect(GoDuration.parseSeconds("1h30m") == 5400)
        #expect(GoDuration.parseSeconds("500ms") == 0.5)
        #expect(GoDuration.parseSeconds("1.5s") == 1.5)
        #expect(GoDuration.parseSeconds("0") == 0)
        #expect(GoDuration.parseSeconds("5") == nil)
        #expect(GoDuration.parseSeconds("5x") == nil)
    }

    @Test func traceparent() {
        #expect(TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") != nil)
        #expect(TraceContext(traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01") == nil)
        #expect(TraceContext(traceparent: "zz") == nil)
        let parent = TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")!
        let child = parent.child()
        #expect(child.traceID == parent.traceID && child.spanID != parent.spanID && child.spanID.count == 16)
        #expect(EventID.uuid().count == 36 && EventID.uuid() != EventID.uuid())
    }
}

/// Out-of-range numbers from requests are answered, never trapped on (hardening issue, item 1).
@Suite struct OutOfRangeTests {
    func object(_ bytes: [UInt8]) throws -> [String: JSONValue] {
        try #require(try JSONParser.parse(bytes).objectValue)
    }

    @Test func outOfRangeTTLsAreCappedNotTrappedOn() throws {
        for ttl in [9.223372036854775807e18, .infinity, 1e300] {
            let ctx = Envelope.Context(topic: "t", pubsubName: "ps", appID: "app", contentType: "application/json", ttlSeconds: ttl, now: 1_700_000_000)
            let wrapped = try object(Envelope.build(body: Array("{}".utf8), context: ctx))
            #expect(wrapped["expiration"]?.stringValue == "9999-12-31T23:59:59Z")
            let client = Envelope.Context(topic: "t", pubsubName: "ps", appID: "app", contentType: "application/cloudevents+json", ttlSeconds: ttl, now: 1_700_000_000)
            let event = try object(Envelope.build(body: Array(#"{"id":"1","source":"s","type":"t","specversion":"1.0"}"#.utf8), context: client))
            #expect(event["expiration"]?.stringValue == "9999-12-31T23:59:59Z")
        }
        #expect(RFC3339.format(clampedUnixSeconds: -.infinity) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(clampedUnixSeconds: .nan) == "1970-01-01T00:00:00Z")
    }

    @Test func goDurationsBeyondGoRangeAreRefused() {
        #expect(GoDuration.parseSeconds("2562047h") != nil)
        #expect(GoDuration.parseSeconds("2562048h") == nil)
        #expect(GoDuration.parseSeconds("99999999999999999999999999999999h") == nil)
        #expect(GoDuration.format(seconds: .infinity) == "2562047h47m16.854775807s")
        #expect(GoDuration.format(seconds: -90) == "-1m30s")
    }
}
