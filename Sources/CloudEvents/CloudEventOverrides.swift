/// The `metadata.cloudevent.*` publish overrides (keys matched case-insensitively).
public struct CloudEventOverrides: Sendable, Equatable {
    public var id: String?
    public var source: String?
    public var type: String?
    public var subject: String?
    public var traceID: String?
    public var traceparent: String?
    public var tracestate: String?

    public init() {}

    /// Picks the overrides out of a publish metadata map.
    public init(metadata: [String: String]) {
        for (key, value) in metadata {
            let lower = key.lowercased()
            guard lower.hasPrefix("cloudevent.") else { continue }
            switch lower.dropFirst("cloudevent.".count) {
            case "id": id = value
            case "source": source = value
            case "type": type = value
            case "subject": subject = value
            case "traceid": traceID = value
            case "traceparent": traceparent = value
            case "tracestate": tracestate = value
            default: break
            }
        }
    }
}
