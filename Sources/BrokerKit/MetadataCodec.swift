import CloudEvents
import Foundation

/// Message metadata as a compact JSON object of strings: how adapters without native headers
/// (the embedded store, Redis Streams' `metadata` field, which Dapr uses too) carry it.
public enum MetadataCodec {
    public static func encode(_ metadata: [String: String]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (i, key) in metadata.keys.sorted().enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.writeString(metadata[key]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Decodes; non-string values and malformed input give an empty map.
    public static func decode<C: ContiguousBytes>(_ bytes: C) -> [String: String] {
        guard let value = try? JSONParser.parse(bytes), case .object(let fields) = value else { return [:] }
        return fields.compactMapValues { $0.stringValue }
    }
}
