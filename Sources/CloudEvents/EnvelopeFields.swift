import Foundation

/// Reads selected top-level string attributes of a stored CloudEvent without building a tree:
/// the delivery path needs `expiration` and the trace fields of every event, and nothing else.
public struct EnvelopeFields: Sendable, Equatable {
    public var id: String?
    public var expiration: String?
    public var traceparent: String?
    public var traceid: String?
    public var tracestate: String?

    public init() {}

    /// Scans `bytes`; `nil` when they are not a JSON object.
    public static func scan<C: ContiguousBytes>(_ bytes: C) -> EnvelopeFields? {
        bytes.withUnsafeBytes { raw -> EnvelopeFields? in
            var parser = JSONParser(raw)
            var fields = EnvelopeFields()
            do throws(JSONError) {
                parser.skipWhitespace()
                try parser.expect(UInt8(ascii: "{"))
                parser.skipWhitespace()
                if !parser.atEnd, parser.peek == UInt8(ascii: "}") { return fields }
                while true {
                    parser.skipWhitespace()
                    guard !parser.atEnd, parser.peek == UInt8(ascii: "\"") else { return nil }
                    let key = try parser.parseString()
                    parser.skipWhitespace()
                    try parser.expect(UInt8(ascii: ":"))
                    parser.skipWhitespace()
                    let wanted: WritableKeyPath<EnvelopeFields, String?>?
                    switch key {
                    case "id": wanted = \.id
                    case "expiration": wanted = \.expiration
                    case "traceparent": wanted = \.traceparent
                    case "traceid": wanted = \.traceid
                    case "tracestate": wanted = \.tracestate
                    default: wanted = nil
                    }
                    if let wanted, !parser.atEnd, parser.peek == UInt8(ascii: "\"") {
                        fields[keyPath: wanted] = try parser.parseString()
                    } else {
                        try parser.skipValue(depth: 1)
                    }
                    parser.skipWhitespace()
                    guard !parser.atEnd else { return nil }
                    if parser.peek == UInt8(ascii: ",") { parser.index += 1; continue }
                    if parser.peek == UInt8(ascii: "}") { return fields }
                    return nil
                }
            } catch {
                return nil
            }
        }
    }

    /// True when `expiration` is a valid RFC 3339 time before `now` (unparseable never expires).
    public func isExpired(now: Double) -> Bool {
        guard let expiration, let at = RFC3339.parse(expiration) else { return false }
        return at < now
    }

    /// The trace context the event carries (`traceparent`, falling back to `traceid`).
    public var trace: TraceContext? {
        if let tp = traceparent, let ctx = TraceContext(traceparent: tp, traceState: tracestate ?? "") { return ctx }
        if let tid = traceid, let ctx = TraceContext(traceparent: tid, traceState: tracestate ?? "") { return ctx }
        return nil
    }
}
