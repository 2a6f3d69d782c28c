import Foundation

/// Turns one bulk-publish entry's `event` into the bytes Dapr would publish (spec §2.2).
public enum BulkEntryPayload {
    /// Why an entry's `event` does not fit its `contentType`.
    public struct Mismatch: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The payload bytes for `event` under `contentType`.
    public static func bytes(event: JSONValue, contentType: String) throws(Mismatch) -> [UInt8] {
        if ContentType.mediaType(contentType) == "application/octet-stream" {
            guard case .string(let text) = event, let data = Data(base64Encoded: text) else {
                throw Mismatch(description: "event for content type application/octet-stream must be a base64 string")
            }
            return [UInt8](data)
        }
        if ContentType.isStringType(contentType) {
            guard case .string(let text) = event else {
                throw Mismatch(description: "event for content type \(contentType) must be a JSON string")
            }
            return Array(text.utf8)
        }
        if ContentType.isJSON(contentType) || ContentType.isCloudEvents(contentType) {
            return JSONWriter.serialize(event)
        }
        throw Mismatch(description: "unsupported content type '\(contentType)' for bulk publish entry")
    }
}
