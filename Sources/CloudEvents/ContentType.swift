/// How Dapr classifies a `Content-Type` when it wraps a payload (contrib `contenttype/utils.go`).
public enum ContentType {
    /// The CloudEvents structured-mode JSON media type.
    public static let cloudEventsJSON = "application/cloudevents+json"

    /// The media type without parameters, trimmed and lower-cased.
    public static func mediaType(_ value: String) -> String {
        // The usual value (lower case, no parameters, no spaces) is its own media type: no copy.
        if !value.utf8.contains(where: { $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: " ") || $0 == 0x09 || (0x41...0x5A).contains($0) }) {
            return value
        }
        let base = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return base.trimmingSpaces.lowercased()
    }

    /// `application/cloudevents+json`, any parameters.
    public static func isCloudEvents(_ value: String) -> Bool { mediaType(value) == cloudEventsJSON }

    /// Exactly `application/json`, any parameters (`+json` suffixes do not count, as in Dapr).
    public static func isJSON(_ value: String) -> Bool { mediaType(value) == "application/json" }

    /// Types whose payload travels base64-encoded in `data_base64`.
    public static func isBinary(_ value: String) -> Bool {
        isBinaryMediaType(mediaType(value))
    }

    /// `isBinary` for a value already reduced by `mediaType`.
    static func isBinaryMediaType(_ media: String) -> Bool {
        switch media {
        case "application/octet-stream", "application/cloudevents+protobuf", "application/x-protobuf": return true
        default: return false
        }
    }

    /// `text/*` or `application/xml`: the bulk-publish types whose `event` must be a JSON string.
    public static func isStringType(_ value: String) -> Bool {
        let m = mediaType(value)
        return m.hasPrefix("text/") || m == "application/xml"
    }
}
