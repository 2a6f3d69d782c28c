import AsyncHTTPClient
import Courier
import Foundation
import NIOCore
import Synchronization
import Testing

/// The binding hub through real HTTP and real brokers (spec §9): output bindings written to by
/// `POST /v1.0/bindings/{name}` and read back with the broker's own client; input bindings fed by
/// the broker's own client and pushed to a real app; the probe, `direction` and error rules.
@Suite(.serialized) struct BindingTests {
    /// A `Component` file for a binding.
    static func component(_ name: String, _ type: String, _ metadata: [(String, String)]) -> String {
        let items = metadata.map { #"  - { name: \#($0.0), value: "\#($0.1)" }"# }.joined(separator: "\n")
        return "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: { name: \(name) }\nspec:\n  type: \(type)\n  version: v1\n  metadata:\n\(items)\n"
    }

    /// The metadata of a `kind` binding on `target` (topic, queue, stream or subject), both
    /// directions; `nil` (and a recorded reason) when the broker is not configured.
    static func brokerMetadata(_ kind: String, target: String, group: String) -> [(String, String)]? {
        let env = ProcessInfo.processInfo.environment
        let md: [(String, String)]?
        switch kind {
        case "kafka":
            md = env["KAFKA_BROKERS"].map { [("brokers", $0), ("authType", "none"), ("topics", target), ("publishTopic", target),
                                             ("consumerGroup", group), ("initialOffset", "oldest"), ("sessionTimeout", "6s"),
                                             ("heartbeatInterval", "500ms")] }
        case "rabbitmq": md = env["AMQP_URL"].map { [("host", $0), ("queueName", target), ("durable", "true")] }
        case "mqtt": md = env["MQTT_URL"].map { [("url", $0), ("topic", target)] }
        case "redis":
            md = env["REDIS_URL"].flatMap { URL(string: $0) }.map { [("redisHost", "\($0.host ?? "127.0.0.1"):\($0.port ?? 6379)"), ("stream", target)] }
        case "jetstream": md = env["NATS_URL"].map { [("natsURL", $0), ("subject", target)] }
        default: md = nil
        }
        if md == nil { _ = DurabilityTests.requiredComponent(kind) }
        return md
    }

    func invoke(_ h: Harness, _ name: String, _ body: String) async throws -> Harness.HTTPResult {
        try await h.request(.POST, "/v1.0/bindings/\(name)", body: body, headers: [("content-type", "application/json")])
    }

    /// Waits until Courier reads input binding `name`.
    func waitUntilReading(_ h: Harness, _ name: String) async throws {
        let deadline = Date().addingTimeInterval(30)
        while !h.runtime.inputBindings.reading.contains(name) && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(h.runtime.inputBindings.reading.contains(name), "input binding \(name) is read")
    }

    // MARK: Output API rules (spec §9.1)

    @Test func outputBindingErrorsUseDaprShapes() async throws {
        let target = try await TestSubscriber(subscriptions: nil)
        let http = Self.component("svc", "bindings.http", [("url", "http://127.0.0.1:\(target.port)")])
        try await withHarness(resources: ["svc.yaml": http], withApp: false) { h in
            var r = try await invoke(h, "nope", #"{"operation":"create","data":1}"#)
            #expect(r.status == 500 && r.errorCode == "ERR_INVOKE_OUTPUT_BINDING")
            #expect(r.json?["message"] as? String == "error invoking output binding nope: couldn't find output binding nope")
            r = try await invoke(h, "svc", "{not json")
            #expect(r.status == 400 && r.errorCode == "ERR_MALFORMED_REQUEST")
            r = try await invoke(h, "svc", #"{"data":1}"#)
            #expect(r.status == 500 && (r.json?["message"] as? String)?.hasSuffix("operation field is missing from request") == true)
            r = try await invoke(h, "svc", #"{"operation":"explode"}"#)
            #expect(r.status == 500 && (r.json?["message"] as? String)?.contains("does not support operation explode. supported operations:create get") == true)
            r = try await invoke(h, "svc", #"{"operation":"create","metadata":{"a":1}}"#)
            #expect(r.status == 400 && r.errorCode == "ERR_MALFORMED_REQUEST")
            #expect(target.requests.isEmpty, "nothing reached the service")
        }
        await target.stop()
    }

    @Test func httpOutputBinding() async throws {
        let target = try await TestSubscriber(subscriptions: nil) { request, _ in
            if request.path.hasSuffix("/missing") { return (404, #"{"error":"gone"}"#) }
            return (200, #"{"echo":\#(request.body.isEmpty ? "null" : request.text)}"#)
        }
        let http = Self.component("svc", "bindings.http", [("url", "http://127.0.0.1:\(target.port)/api")])
        try await withHarness(resources: ["svc.yaml": http], withApp: false) { h in
            var r = try await invoke(h, "svc", #"{"operation":"create","data":{"b":2.50,"a":"<&>"},"metadata":{"path":"/orders","X-Custom":"yes","lower":"no"}}"#)
            #expect(r.status == 200)
            #expect(r.body == #"{"echo":{"a":"\u003c\u0026\u003e","b":2.5}}"#)
            #expect(r.headers["metadata.statusCode"].first == "200")
            let got = try await target.wait(for: 1)[0]
            #expect(got.method == "POST" && got.path == "/api/orders")
            #expect(got.text == #"{"a":"\u003c\u0026\u003e","b":2.5}"#, "data re-serialised as Dapr does")
            #expect(got.headers["x-custom"] == "yes" && got.headers["lower"] == nil, "capitalised metadata keys become headers")
            #expect(got.headers["content-type"] == "application/json; charset=utf-8")
            r = try await invoke(h, "svc", #"{"operation":"get","metadata":{"path":"/missing"}}"#)
            #expect(r.status == 500 && r.errorCode == "ERR_INVOKE_OUTPUT_BINDING")
            #expect(r.headers["metadata.statusCode"].first == "404", "response metadata also on errors")
            r = try await invoke(h, "svc", #"{"operation":"get","metadata":{"path":"/missing","errorIfNot2XX":"false"}}"#)
            #expect(r.status == 200 && r.body == #"{"error":"gone"}"#)
            for op in ["put", "patch", "delete"] {
                #expect(try await invoke(h, "svc", #"{"operation":"\#(op)","data":"x"}"#).status == 200)
            }
            for op in ["head", "trace"] {
                let r = try await invoke(h, "svc", #"{"operation":"\#(op)","metadata":{"path":"/probe"}}"#)
                #expect(r.status == 200, "\(op): \(r.status) \(r.body)")
            }
            let options = try await invoke(h, "svc", #"{"operation":"options","metadata":{"path":"/probe"}}"#)
            #expect(options.status == 200 && options.headers["metadata.statusCode"].first == "200", "options is answered by the service's OPTIONS handler")
            let methods = target.requests.map(\.method)
            #expect(Array(methods.suffix(5)) == ["PUT", "PATCH", "DELETE", "HEAD", "TRACE"], "\(methods)")
            #expect(target.requests.last(where: { $0.method == "PUT" })?.text == #""x""#, "a JSON string keeps its quotes")
        }
        await target.stop()
    }

    /// The component's outbound Resiliency policy retries a retriable failure within one call,
    /// and the call is counted in Dapr's output-binding metrics.
    @Test func outboundPolicyRetriesAndMetricsCount() async throws {
        let target = try await TestSubscriber(subscriptions: nil) { _, n in n <= 2 ? (503, "") : (200, "ok") }
        let resources = [
            "svc.yaml": Self.component("svc", "bindings.http", [("url", "http://127.0.0.1:\(target.port)/svc")]),
            "resiliency.yaml": """
                apiVersion: dapr.io/v1alpha1
                kind: Resiliency
                metadata: { name: outbound }
                spec:
                  policies:
                    retries:
                      fast: { policy: constant, duration: 50ms, maxRetries: 3 }
                  targets:
                    components:
                      svc:
                        outbound: { retry: fast }
                """,
        ]
        try await withHarness(resources: resources, withApp: false) { h in
            let r = try await invoke(h, "svc", #"{"operation":"post","data":{"a":1}}"#)
            #expect(r.status == 200 && r.body == "ok", "\(r.status) \(r.body)")
            #expect(target.requests.count == 3, "two 503s retried by the policy")
            let metrics = try await h.request(.GET, "/metrics", port: h.metricsPort).body
            #expect(metrics.contains("dapr_component_output_binding_count") && metrics.contains(#"component="svc""#), "\(metrics.prefix(400))")
        }
        await target.stop()
    }

    // MARK: Input rules (spec §9.2)

    @Test func cronFiresToTheRouteAndTheProbeDecides() async throws {
        let resources = [
            "tick.yaml": Self.component("tick", "bindings.cron", [("schedule", "@every 1s")]),
            "routed.yaml": Self.component("routed", "bindings.cron", [("schedule", "@every 1s"), ("route", "/cron-in")]),
            "refused.yaml": Self.component("refused", "bindings.cron", [("schedule", "@every 1s")]),
            "forced.yaml": Self.component("forced", "bindings.cron", [("schedule", "@every 1s"), ("direction", "input")]),
            "allowed.yaml": Self.component("allowed", "bindings.cron", [("schedule", "@every 1s")]),
        ]
        // The app answers the probe 404 for /refused and /forced, 405 for /allowed, 200 otherwise.
        try await withHarness(resources: resources, respond: { _, n in (n % 2 == 0 ? 500 : 200, "") },
                              probe: { path in path == "/refused" || path == "/forced" ? 404 : path == "/allowed" ? 405 : 200 }) { h in
            try await h.subscriber!.wait(for: 2, path: "/tick", timeout: 10)
            try await h.subscriber!.wait(for: 2, path: "/cron-in", timeout: 10)
            try await h.subscriber!.wait(for: 1, path: "/forced", timeout: 10)
            try await h.subscriber!.wait(for: 1, path: "/allowed", timeout: 10)
            let tick = h.subscriber!.requests.first { $0.path == "/tick" }!
            #expect(tick.body.isEmpty, "\(tick.text)")
            #expect(tick.headers["timezone"] == "UTC" && tick.headers["readtimeutc"]?.hasSuffix("Z") == true, "\(tick.headers)")
            #expect(tick.headers["content-type"] == "application/json")
            #expect(h.runtime.inputBindings.reading == ["allowed", "forced", "routed", "tick"], "404 to the probe: not read")
            #expect(!h.subscriber!.requests.contains { $0.path == "/refused" })
            let metadata = try await h.request(.GET, "/v1.0/metadata")
            let components = metadata.json?["components"] as? [[String: Any]] ?? []
            #expect(components.contains { $0["name"] as? String == "tick" && $0["type"] as? String == "bindings.cron" })
        }
    }

    // MARK: Every broker, both directions

    static let kinds = ["kafka", "rabbitmq", "mqtt", "redis", "jetstream"]

    /// Messages written by the broker's own client reach the app as raw bytes with the source's
    /// metadata; the app fails each one once, so each arrives again and nothing is lost.
    @Test(arguments: kinds)
    func inputBindingDeliversRawBytesAndRedeliversWhatTheAppFailed(_ kind: String) async throws {
        guard BrokerCtl.available() else { return }
        let target = "in-\(kind)-\(UUID().uuidString.prefix(6))".replacingOccurrences(of: "-", with: kind == "jetstream" ? "." : "-")
        guard let md = Self.brokerMetadata(kind, target: target, group: "g-\(target)") else { return }
        let total = 20
        let attempts = Mutex<[Int: Int]>([:])
        let accepted = Mutex<Set<Int>>([])
        try await withHarness(resources: ["in.yaml": Self.component("source", "bindings.\(kind == "mqtt" ? "mqtt3" : kind)", md)],
                              respond: { request, _ in
            guard request.path == "/source", let n = request.json?["n"] as? Int else { return (404, "") }
            let attempt = attempts.withLock { a -> Int in a[n, default: 0] += 1; return a[n]! }
            if attempt == 1 { return (500, "") }  // failed once: must come back
            accepted.withLock { _ = $0.insert(n) }
            return (200, "")
        }) { h in
            try await waitUntilReading(h, "source")
            try await BrokerCtl.produce(kind, target, count: total)
            let deadline = Date().addingTimeInterval(60)
            while accepted.withLock({ $0.count }) < total && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(accepted.withLock { $0.count } == total, "every message accepted after its failure: \(accepted.withLock { $0.sorted() })")
            let first = try #require(h.subscriber!.requests.first { $0.path == "/source" })
            #expect(first.text.hasPrefix(#"{"n":"#), "raw bytes, no CloudEvent: \(first.text)")
            #expect(first.headers["content-type"] == "application/json")
            #expect(first.headers["traceparent"] != nil)
            switch kind {
            case "kafka":
                #expect(first.headers["__key"]?.hasPrefix("k") == true && first.headers["__topic"] == target)
                #expect(first.headers["__partition"] != nil && first.headers["__offset"] != nil && first.headers["h"] == "v")
            case "rabbitmq", "jetstream": #expect(first.headers["h"] == "v")
            default: break
            }
        }
    }

    /// `create` through the API lands in the broker, read back by the broker's own client.
    @Test(arguments: ["kafka", "rabbitmq", "mqtt", "jetstream"])
    func outputBindingWritesRawBytesToTheBroker(_ kind: String) async throws {
        guard BrokerCtl.available() else { return }
        let target = "out-\(kind)-\(UUID().uuidString.prefix(6))".replacingOccurrences(of: "-", with: kind == "jetstream" ? "." : "-")
        guard var md = Self.brokerMetadata(kind, target: target, group: "g-\(target)") else { return }
        md.append(("direction", "output"))
        try await withHarness(resources: ["out.yaml": Self.component("sink", "bindings.\(kind == "mqtt" ? "mqtt3" : kind)", md)], withApp: false) { h in
            if kind != "mqtt" {
                // The topic, queue and stream exist once the binding wrote to them.
                #expect(try await invoke(h, "sink", #"{"operation":"create","data":{"n":-1}}"#).status == 204)
            }
            let consumer = try await BrokerCtl.consumer(kind, target, count: kind == "mqtt" ? 3 : 4, timeout: 30)
            for n in 0..<3 {
                let metadata = kind == "kafka" ? #"{"key":"k\#(n)","h":"v"}"# : kind == "rabbitmq" ? #"{"priority":"3","contentType":"application/json","h":"v"}"# : "{}"
                let r = try await invoke(h, "sink", #"{"operation":"create","data":{"n":\#(n)},"metadata":\#(metadata)}"#)
                #expect(r.status == 204, "\(r.status) \(r.body)")
            }
            let got = await consumer.messages().filter { ($0["data"] as? String) != #"{"n":-1}"# }
            #expect(Set(got.compactMap { $0["data"] as? String }) == [#"{"n":0}"#, #"{"n":1}"#, #"{"n":2}"#], "\(got)")
            if kind == "kafka" {
                #expect(Set(got.compactMap { $0["key"] as? String }) == ["k0", "k1", "k2"])
                #expect(got.allSatisfy { ($0["headers"] as? [String: String])?["h"] == "v" })
            }
            if kind == "rabbitmq" {
                #expect(got.allSatisfy { $0["contentType"] as? String == "application/json" && $0["priority"] as? Int == 3 })
            }
        }
    }

    /// The backlog feed covers input bindings: a queue the app declined (OPTIONS 404) holds what
    /// pika wrote, and the feed says so.
    @Test func inputBindingBacklogFeed() async throws {
        guard BrokerCtl.available() else { return }
        let queue = "backlog-\(UUID().uuidString.prefix(6))"
        guard let md = Self.brokerMetadata("rabbitmq", target: queue, group: "") else { return }
        try await withHarness(resources: ["q.yaml": Self.component("waiting", "bindings.rabbitmq", md)], probe: { _ in 404 }) { h in
            #expect(try await invoke(h, "waiting", #"{"operation":"create","data":{"n":-1}}"#).status == 204)
            try await BrokerCtl.produce("rabbitmq", queue, count: 6)
            let r = try await h.request(.GET, "/v1.0-alpha1/bindings/waiting/backlog")
            #expect(r.status == 200 && r.json?["total"] as? Int == 7 && r.json?["binding"] as? String == "waiting", "\(r.body)")
            #expect(h.runtime.inputBindings.reading.isEmpty)
            let missing = try await h.request(.GET, "/v1.0-alpha1/bindings/nope/backlog")
            #expect(missing.status == 404 && missing.errorCode == "ERR_BINDING_NOT_FOUND")
        }
    }

    @Test func redisOutputOperations() async throws {
        let key = "k-\(UUID().uuidString.prefix(6))"
        guard let md = Self.brokerMetadata("redis", target: "unused", group: "g") else { return }
        let resources = ["kv.yaml": Self.component("kv", "bindings.redis", md.filter { $0.0 != "stream" })]
        try await withHarness(resources: resources, withApp: false) { h in
            #expect(try await invoke(h, "kv", #"{"operation":"create","data":{"a":1},"metadata":{"key":"\#(key)"}}"#).status == 204)
            var r = try await invoke(h, "kv", #"{"operation":"get","metadata":{"key":"\#(key)"}}"#)
            #expect(r.status == 200 && r.body == #"{"a":1}"#)
            r = try await invoke(h, "kv", #"{"operation":"get","metadata":{"key":"\#(key)","delete":"true"}}"#)
            #expect(r.status == 200 && r.body == #"{"a":1}"#)
            r = try await invoke(h, "kv", #"{"operation":"get","metadata":{"key":"\#(key)"}}"#)
            #expect(r.status == 200 && r.body.isEmpty, "GETDEL removed it")
            for _ in 0..<3 { #expect(try await invoke(h, "kv", #"{"operation":"increment","metadata":{"key":"\#(key)-n"}}"#).status == 204) }
            #expect(try await invoke(h, "kv", #"{"operation":"get","metadata":{"key":"\#(key)-n"}}"#).body == "3")
            #expect(try await invoke(h, "kv", #"{"operation":"delete","metadata":{"key":"\#(key)-n"}}"#).status == 204)
            #expect(try await invoke(h, "kv", #"{"operation":"create","data":"x","metadata":{"key":"\#(key)-t","ttlInSeconds":"1"}}"#).status == 204)
            try await Task.sleep(for: .milliseconds(2100))
            #expect(try await invoke(h, "kv", #"{"operation":"get","metadata":{"key":"\#(key)-t"}}"#).body.isEmpty, "expired")
            r = try await invoke(h, "kv", #"{"operation":"create","data":"x"}"#)
            #expect(r.status == 500 && (r.json?["message"] as? String)?.contains("metadata.key is required") == true)
        }
    }
}
