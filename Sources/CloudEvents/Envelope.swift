import Foundation

/// Builds the CloudEvents 1.0 JSON envelope exactly as Dapr's publish path does (spec §1.4).
/// The result is the byte string the broker stores and every subscriber receives.
public enum Envelope {
    /// Everything that goes into one envelope besides the body.
    public struct Context: Sendable {
        public var topic: String
        public var pubsubName: String
        /// The publishing app's id; the default `source`.
        public var appID: String
        /// The request's `Content-Type` header, if any.
        public var contentType: String?
        /// The request's span (from `traceparent` / `tracestate`), if it had a valid one.
        public var trace: TraceContext?
        public var overrides: CloudEventOverrides
        /// Seconds to live; adds `expiration` when set.
        public var ttlSeconds: Double?
        /// Unix time used for `time` and `expiration` (injectable for tests).
        public var now: Double

        public init(topic: String, pubsubName: String, appID: String, contentType: String?, trace: TraceContext? = nil,
                    overrides: CloudEventOverrides = CloudEventOverrides(), ttlSeconds: Double? = nil,
                    now: Double = RFC3339.currentUnixSeconds()) {
            self.topic = topic
            self.pubsubName = pubsubName
            self.appID = appID
            self.contentType = contentType
            self.trace = trace
            self.overrides = overrides
            self.ttlSeconds = ttlSeconds
            self.now = now
        }
    }

    /// Wraps `body` (case A when it is a client CloudEvent, case B otherwise).
    public static func build(body: [UInt8], context: Context) throws(EnvelopeError) -> [UInt8] {
        let contentType = (context.contentType?.isEmpty ?? true) ? "text/plain" : context.contentType!
        let media = ContentType.mediaType(contentType)
        if media == ContentType.cloudEventsJSON {
            return try wrapClientEvent(body: body, context: context)
        }
        return wrapPayload(body: body, contentType: contentType, mediaType: media, context: context)
    }

    // MARK: Case A: the client sent a CloudEvent

    static func wrapClientEvent(body: [UInt8], context: Context) throws(EnvelopeError) -> [UInt8] {
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(body)
        } catch {
            throw .invalidCloudEvent(error.description)
        }
        guard case .object(var event) = parsed else {
            throw .invalidCloudEvent("the body is not a JSON object")
        }
        event["topic"] = .string(context.topic)
        event["pubsubname"] = .string(context.pubsubName)
        if event["time"] == nil { event["time"] = .string(RFC3339.format(clampedUnixSeconds: context.now.rounded(.down))) }
        if event["traceid"] == nil {
            let traceparent = context.trace?.traceparent ?? ""
            event["traceid"] = .string(traceparent)
            event["traceparent"] = .string(traceparent)
        }
        if event["tracestate"] == nil { event["tracestate"] = .string(context.trace?.traceState ?? "") }
        if event["source"] == nil { event["source"] = .string("Dapr") }
        if event["type"] == nil { event["type"] = .string(defaultType) }
        if event["specversion"] == nil { event["specversion"] = .string("1.0") }
        // Dapr does not add an id; Courier does, so every event can be told apart downstream.
        if event["id"] == nil { event["id"] = .string(EventID.uuid()) }
        if let ttl = context.ttlSeconds {
            event["expiration"] = .string(RFC3339.format(clampedUnixSeconds: context.now + ttl))
        }
        return JSONWriter.serialize(.object(event))
    }

    /// The `type` Dapr gives events it wraps.
    public static let defaultType = "com.dapr.event.sent"

    // MARK: Case B: any other payload, written field by field in sorted key order

    static func wrapPayload(body: [UInt8], contentType: String, mediaType: String, context: Context) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 420)
        out.append(UInt8(ascii: "{"))
        if ContentType.isBinaryMediaType(mediaType) {
            out.append(contentsOf: #""data_base64":""#.utf8)
            out.append(contentsOf: Data(body).base64EncodedString().utf8)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: #""data":"#.utf8)
            if mediaType == "application/json", let trimmed = trimmedJSON(body) {
                out.append(contentsOf: trimmed)
            } else {
                JSONWriter.writeString(String(decoding: body, as: UTF8.self), into: &out)
            }
        }
        field("datacontenttype", contentType, &out)
        if let ttl = context.ttlSeconds {
            field("expiration", RFC3339.format(clampedUnixSeconds: context.now + ttl), &out)
        }
        field("id", context.overrides.id ?? EventID.uuid(), &out)
        field("pubsubname", context.pubsubName, &out)
        field("source", context.overrides.source ?? (context.appID.isEmpty ? "Dapr" : context.appID), &out)
        field("specversion", "1.0", &out)
        if let subject = context.overrides.subject { field("subject", subject, &out) }
        field("time", RFC3339.format(clampedUnixSeconds: context.now.rounded(.down)), &out)
        field("topic", context.topic, &out)
        let traceparent = context.overrides.traceparent ?? context.overrides.traceID ?? context.trace?.traceparent ?? ""
        field("traceid", traceparent, &out)
        field("traceparent", traceparent, &out)
        field("tracestate", context.overrides.tracestate ?? context.trace?.traceState ?? "", &out)
        field("type", context.overrides.type ?? defaultType, &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    @inline(__always)
    static func field(_ key: StaticString, _ value: String, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        out.append(contentsOf: "\":".utf8)
        JSONWriter.writeString(value, into: &out)
    }

    /// The body without surrounding whitespace when it is one valid JSON document.
    static func trimmedJSON(_ body: [UInt8]) -> ArraySlice<UInt8>? {
        guard JSONParser.isValid(body) else { return nil }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard let first = body.firstIndex(where: { !isSpace($0) }), let last = body.lastIndex(where: { !isSpace($0) }) else { return nil }
        return body[first...last]
    }
}
