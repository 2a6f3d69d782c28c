import CloudEvents
import DaprProto
import Foundation
import SwiftProtobuf

/// A stored CloudEvent as Dapr hands it to a gRPC app (spec §3.8): the core attributes as fields,
/// `data` as bytes (decoded `data_base64`, a string's bytes, or re-marshalled JSON), every other
/// attribute in `extensions`.
enum TopicEventConversion {
    static func request(payload: [UInt8], topic: String, pubsub: String) -> Dapr_Proto_Runtime_V1_TopicEventRequest {
        var event = Dapr_Proto_Runtime_V1_TopicEventRequest()
        event.topic = topic
        event.pubsubName = pubsub
        guard case .object(let fields)? = try? JSONParser.parse(payload) else {
            // Not a CloudEvent (a raw payload): the bytes as they are.
            event.data = Data(payload)
            event.dataContentType = "application/octet-stream"
            return event
        }
        event.id = fields["id"]?.stringValue ?? ""
        event.source = fields["source"]?.stringValue ?? ""
        event.type = fields["type"]?.stringValue ?? ""
        event.specVersion = fields["specversion"]?.stringValue ?? ""
        let contentType = fields["datacontenttype"]?.stringValue ?? "application/json"
        event.dataContentType = contentType
        if let base64 = fields["data_base64"]?.stringValue, let bytes = Data(base64Encoded: base64) {
            event.data = bytes
        } else if let data = fields["data"] {
            if case .string(let s) = data, !isJSON(contentType) {
                event.data = Data(s.utf8)  // text: the string's bytes
            } else {
                event.data = Data(JSONWriter.serialize(data))  // JSON: re-marshalled (a JSON string keeps its quotes)
            }
        }
        var extensions = Google_Protobuf_Struct()
        for (key, value) in fields where !["id", "source", "datacontenttype", "type", "specversion", "data", "data_base64"].contains(key) {
            extensions.fields[key] = protobufValue(value)
        }
        event.extensions = extensions
        return event
    }

    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return media == "application/json" || media.hasSuffix("+json")
    }

    static func protobufValue(_ value: JSONValue) -> Google_Protobuf_Value {
        switch value {
        case .null: return Google_Protobuf_Value(nilLiteral: ())
        case .bool(let b): return Google_Protobuf_Value(booleanLiteral: b)
        case .number(let n): return Google_Protobuf_Value(floatLiteral: Double(n) ?? 0)
        case .string(let s): return Google_Protobuf_Value(stringLiteral: s)
        case .array(let items): return Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: items.map(protobufValue)))
        case .object(let fields):
            var s = Google_Protobuf_Struct()
            for (k, v) in fields { s.fields[k] = protobufValue(v) }
            return Google_Protobuf_Value(structValue: s)
        }
    }
}
