import Foundation

extension Envelope {
    /// The envelope Dapr builds at delivery for a subscription with `rawPayload: "true"`
    /// (spec §3.4): the raw broker bytes base64-encoded in `data_base64`.
    public static func wrapRaw(payload: [UInt8], topic: String, pubsubName: String, trace: TraceContext?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count * 4 / 3 + 300)
        out.append(contentsOf: #"{"data_base64":"#.utf8)
        JSONWriter.writeString(Data(payload).base64EncodedString(), into: &out)
        field("datacontenttype", "application/octet-stream", &out)
        field("id", EventID.uuid(), &out)
        field("pubsubname", pubsubName, &out)
        field("source", "Dapr", &out)
        field("specversion", "1.0", &out)
        field("topic", topic, &out)
        if let trace {
            field("traceid", trace.traceparent, &out)
            field("traceparent", trace.traceparent, &out)
            field("tracestate", trace.traceState, &out)
        }
        field("type", defaultType, &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
