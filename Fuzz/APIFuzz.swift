import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Well-formed HTTP requests with hostile content, on every API route but shutdown.
enum APIFuzz {
    /// 5xx answers Dapr itself gives for these requests (spec §1.2, §9.1, §12.1): a health check
    /// naming another app id, an output binding that does not exist, a `cloudevents+json` body
    /// that is not JSON. Any other 5xx is a failure.
    static let daprServerErrors = [#""errorCode":"ERR_HEALTH_APPID_NOT_MATCH""#, #"couldn't find output binding"#,
                                   #""errorCode":"ERR_PUBSUB_CLOUD_EVENTS_SER""#]

    static let methods: [HTTPMethod] = [.GET, .POST, .PUT, .DELETE, .PATCH, .OPTIONS, .HEAD]

    static func send(client: HTTPClient, port: Int, rng r: inout SplitMix) async -> String? {
        let (method, path) = target(&r)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        for (name, value) in headers(&r) { request.headers.add(name: name, value: value) }
        if method != .GET && method != .HEAD, r.chance(90) {
            request.body = .bytes(ByteBuffer(bytes: body(for: path, &r)))
        }
        let described = "\(method) \(path.prefix(200))"
        do {
            let response = try await client.execute(request, timeout: .seconds(15))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            let status = Int(response.status.code)
            if status >= 500 && !daprServerErrors.contains(where: { String(buffer: bytes).contains($0) }) {
                return "\(described) → \(status) \(String(buffer: bytes).prefix(300))"
            }
            if status >= 400 && method != .HEAD {
                let json = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
                if json?["errorCode"] as? String == nil || json?["message"] == nil {
                    return "\(described) → \(status) without Dapr's error body: \(String(buffer: bytes).prefix(200).debugDescription)"
                }
            }
            return nil
        } catch {
            return "\(described) → no answer: \(error)"
        }
    }

    static func target(_ r: inout SplitMix) -> (HTTPMethod, String) {
        let pubsub = r.chance(75) ? "pubsub" : segment(&r)
        let topic = r.chance(70) ? r.pick(["fuzz", "fuzz-rules", "fuzz-bulk", "nosub"]) : segment(&r)
        let name = r.chance(50) ? "nobinding" : segment(&r)
        let (method, path): (HTTPMethod, String)
        switch r.int(12) {
        case 0, 1, 2, 3: (method, path) = (.POST, "/v1.0/publish/\(pubsub)/\(topic)")
        case 4, 5: (method, path) = (.POST, r.pick(["/v1.0/publish/bulk", "/v1.0-alpha1/publish/bulk"]) + "/\(pubsub)/\(topic)")
        case 6: (method, path) = (.POST, "/v1.0/bindings/\(name)")
        case 7: (method, path) = (.GET, "/v1.0-alpha1/backlog/\(pubsub)/\(topic)")
        case 8: (method, path) = (.GET, "/v1.0-alpha1/bindings/\(name)/backlog")
        case 9: (method, path) = (.PUT, "/v1.0/metadata/\(segment(&r))")
        case 10: (method, path) = (.GET, r.pick(["/v1.0/healthz", "/v1.0/healthz/outbound", "/v1.0/metadata", "/v1.0/healthz?appid=\(segment(&r))"]))
        default: (method, path) = (.GET, "/" + (0..<r.int(5)).map { _ in segment(&r) }.joined(separator: "/"))
        }
        let chosen = r.chance(85) ? method : r.pick(methods)
        return (chosen, path + query(&r))
    }

    /// A path segment: ordinary, percent-encoded oddities, traversal, very long.
    static func segment(_ r: inout SplitMix) -> String {
        switch r.int(8) {
        case 0: return ""
        case 1: return "..%2F..%2Fetc%2Fpasswd"
        case 2: return String(repeating: "t", count: 1 + r.int(3000))
        case 3: return "%00%ff%fe%C0%AF"
        case 4: return "a%20b%2Fc"
        case 5: return "%E2%98%83-\(r.int(1000))"
        case 6: return "x.\(r.int(100)).y"
        default: return "t\(r.int(50))"
        }
    }

    static func query(_ r: inout SplitMix) -> String {
        guard r.chance(40) else { return "" }
        let keys = ["metadata.ttlInSeconds", "metadata.rawPayload", "metadata.cloudevent.id", "metadata.cloudevent.type",
                    "metadata.cloudevent.traceparent", "metadata.partitionKey", "metadata.\(segment(&r))", "consumerGroup", segment(&r)]
        let values = ["9223372036854775807", "-9223372036854775808", "1e308", "-1", "0", "NaN", "true", "TRUE", "yes", "",
                      "%FF%FE", String(repeating: "9", count: 400), "00-\(String(repeating: "f", count: 32))-\(String(repeating: "0", count: 16))-01", "18446744073709551616"]
        return "?" + (0..<(1 + r.int(4))).map { _ in "\(r.pick(keys))=\(r.pick(values))" }.joined(separator: "&")
    }

    static func headers(_ r: inout SplitMix) -> [(String, String)] {
        var out: [(String, String)] = []
        if r.chance(85) {
            out.append(("content-type", r.pick(["application/json", "application/cloudevents+json", "text/plain", "application/octet-stream",
                                                "application/cloudevents-batch+json", "application/json; charset=utf-16", "garbage/../x", ";;;", ""])))
        }
        if r.chance(30) {
            out.append(("traceparent", r.pick(["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "zz", "00-00000000000000000000000000000000-0000000000000000-00",
                                               String(repeating: "f", count: 2000), "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])))
        }
        if r.chance(10) { out.append(("tracestate", String(repeating: "k=v,", count: r.int(200)))) }
        if r.chance(10) { out.append(("metadata.ttlInSeconds", r.pick(["99999999999999999999", "-5", "1.5"]))) }
        if r.chance(5) { out.append(("dapr-api-token", "guess")) }
        return out
    }

    static func body(for path: String, _ r: inout SplitMix) -> [UInt8] {
        if path.contains("/bulk/") && r.chance(80) { return Array(bulk(&r).utf8) }
        if path.contains("/bindings/") && r.chance(80) {
            return Array(#"{"operation":"\#(r.pick(["create", "get", "delete", "", "\u{0}", "x"]))","data":\#(json(&r, depth: 0)),"metadata":{"key":\#(json(&r, depth: 3))}}"#.utf8)
        }
        switch r.int(10) {
        case 0: return (0..<r.int(2048)).map { _ in UInt8(truncatingIfNeeded: r.next()) }
        case 1: return Array(cloudEvent(&r).utf8)
        case 2: return Array(String(repeating: "[", count: 1 + r.int(20000)).utf8)
        case 3: return mutate(Array(cloudEvent(&r).utf8), &r)
        case 4: return [0xC3, 0x28, 0xA0, 0xA1, 0xF0, 0x28, 0x8C, 0xBC, 0x22, 0x7B]
        case 5: return Array(#"{"n":\#(r.pick(["1e999", "-1e999", "123456789012345678901234567890", "0.1e-400", "NaN", "-0"]))}"#.utf8)
        default: return Array(json(&r, depth: 0).utf8)
        }
    }

    static func json(_ r: inout SplitMix, depth: Int) -> String {
        switch depth > 4 ? r.int(5) : r.int(8) {
        case 0: return "null"
        case 1: return r.chance(50) ? "true" : "false"
        case 2: return r.pick(["0", "-1", "3.14", "1e308", "-9223372036854775809", "\(r.next())"])
        case 3: return "\"" + r.pick(["", "x", "\\u0000", "\\ud800", "é", "\\\"", String(repeating: "s", count: r.int(5000))]) + "\""
        case 4: return "\"n\(r.int(10))\""
        case 5, 6: return "{" + (0..<r.int(5)).map { i in "\"\(r.pick(["n", "id", "data", "type", "k\(i)", ""]))\":\(json(&r, depth: depth + 1))" }.joined(separator: ",") + "}"
        default: return "[" + (0..<r.int(5)).map { _ in json(&r, depth: depth + 1) }.joined(separator: ",") + "]"
        }
    }

    static func cloudEvent(_ r: inout SplitMix) -> String {
        var fields: [String] = []
        if r.chance(90) { fields.append(#""specversion":\#(r.pick([#""1.0""#, #""0.3""#, "1", "null"]))"#) }
        if r.chance(90) { fields.append(#""id":\#(r.pick([#""e1""#, "7", #""""#, "{}"]))"#) }
        if r.chance(80) { fields.append(#""type":\#(r.pick([#""com.dapr.event.sent""#, #""x""#, "[]"]))"#) }
        if r.chance(80) { fields.append(#""source":"fuzz""#) }
        if r.chance(60) { fields.append(#""datacontenttype":\#(r.pick([#""application/json""#, #""text/plain""#, #""application/xml""#, "5"]))"#) }
        if r.chance(30) { fields.append(#""data_base64":\#(r.pick([#""aGVsbG8=""#, #""!!!""#, "1"]))"#) }
        if r.chance(20) { fields.append(#""expiration":\#(r.pick([#""2000-01-01T00:00:00Z""#, #""9999-99-99""#, #""now""#, "0"]))"#) }
        if r.chance(20) { fields.append(#""traceparent":"zz""#) }
        fields.append(#""data":{"n":\#(r.int(12)),"v":\#(json(&r, depth: 2))}"#)
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func bulk(_ r: inout SplitMix) -> String {
        let entries = (0..<r.int(40)).map { i -> String in
            var fields: [String] = []
            if r.chance(90) { fields.append(#""entryId":\#(r.pick([#""\#(i)""#, #""dup""#, #""""#, "\(i)"]))"#) }
            if r.chance(90) { fields.append(#""event":\#(r.chance(30) ? cloudEvent(&r) : json(&r, depth: 1))"#) }
            if r.chance(80) { fields.append(#""contentType":\#(r.pick([#""application/json""#, #""application/cloudevents+json""#, #""text/plain""#, "7"]))"#) }
            if r.chance(20) { fields.append(#""metadata":{"ttlInSeconds":\#(r.pick([#""9223372036854775807""#, #""-1""#, "5", #""x""#]))}"#) }
            return "{" + fields.joined(separator: ",") + "}"
        }
        return r.chance(90) ? "[" + entries.joined(separator: ",") + "]" : "{\"entries\":[" + entries.joined(separator: ",") + "]}"
    }

    /// Flips, deletes or duplicates a few bytes.
    static func mutate(_ bytes: [UInt8], _ r: inout SplitMix) -> [UInt8] {
        var out = bytes
        for _ in 0..<(1 + r.int(6)) where !out.isEmpty {
            let at = r.int(out.count)
            switch r.int(3) {
            case 0: out[at] = UInt8(truncatingIfNeeded: r.next())
            case 1: out.remove(at: at)
            default: out.insert(out[at], at: at)
            }
        }
        return out
    }
}
