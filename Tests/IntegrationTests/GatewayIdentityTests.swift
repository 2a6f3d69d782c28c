import DaprProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Per-app caller identity: each App's `apiToken` makes its calls act as that app — its
/// `publishingScopes`, component `scopes` and CloudEvent `source` — on HTTP (router, fast path,
/// bulk, bindings) and gRPC; an unknown or missing token is 401 / UNAUTHENTICATED.
@Suite struct GatewayIdentityTests {
    @Test func eachTokenPublishesAsItsApp() async throws {
        let run = UUID().uuidString.prefix(6).lowercased()
        let (orders, billing) = ("orders-\(run)", "billing-\(run)")
        let receiver = try await TestSubscriber(subscriptions: "[\(subscription(topic: "shared", route: "/shared"))]")
        let pubsub = """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: { name: pubsub }
            spec:
              type: pubsub.embedded
              version: v1
              metadata:
              - { name: publishingScopes, value: "\(orders)=o1,shared;\(billing)=b1,shared" }
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: { name: private }
            spec: { type: pubsub.embedded, version: v1 }
            scopes: [\(billing)]
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: { name: billing-sink }
            spec: { type: bindings.http, version: v1, metadata: [{ name: url, value: "http://127.0.0.1:\(receiver.port)/sink" }] }
            scopes: [app1, \(billing)]
            """
        let resources = [
            "pubsub.yaml": pubsub,
            "orders.yaml": GatewayTests.app(orders, port: receiver.port, extra: "  apiToken: { value: tok-orders }\n"),
            "billing.yaml": GatewayTests.app(billing, port: receiver.port, extra: "  apiToken: { value: tok-billing }\n"),
        ]
        do {
            try await withHarness(resources: resources, apiToken: "tok-operator", withApp: false) { h in
                _ = try await GatewayTests.waitUntilLive(h, [orders: 1, billing: 1], token: "tok-operator")
                func publish(_ path: String, token: String?) async throws -> Harness.HTTPResult {
                    try await h.publish(path, #"{"from":"\#(token ?? "none")"}"#, headers: token.map { [("dapr-api-token", $0)] } ?? [])
                }
                #expect(try await publish("pubsub/o1", token: nil).status == 401, "no token")
                #expect(try await publish("pubsub/o1", token: "tok-nobody").status == 401, "unknown token")
                #expect(try await h.request(.GET, "/v1.0/healthz").status == 204, "health needs no token")
                #expect(try await h.request(.GET, "/v1.0-alpha1/apps").status == 401)

                #expect(try await publish("pubsub/o1", token: "tok-orders").status == 204)
                let forbidden = try await publish("pubsub/b1", token: "tok-orders")
                #expect(forbidden.status == 403 && forbidden.errorCode == "ERR_PUBSUB_FORBIDDEN", "\(forbidden.body)")
                #expect((forbidden.json?["message"] as? String)?.contains(orders) == true, "named after the caller: \(forbidden.body)")
                let hidden = try await publish("private/x", token: "tok-orders")
                #expect(hidden.status == 404 && hidden.errorCode == "ERR_PUBSUB_NOT_FOUND", "a component scoped away from the caller: \(hidden.body)")
                #expect(try await publish("private/x", token: "tok-billing").status == 204)
                #expect(try await publish("pubsub/b1", token: "tok-billing").status == 204)
                #expect(try await publish("pubsub/o1", token: "tok-billing").status == 403)
                let bulk = try await h.request(.POST, "/v1.0-alpha1/publish/bulk/pubsub/b1",
                                               body: #"[{"entryId":"1","event":{"a":1},"contentType":"application/json"}]"#,
                                               headers: [("content-type", "application/json"), ("dapr-api-token", "tok-orders")])
                #expect(bulk.status == 403, "bulk publish scoped the same way: \(bulk.body)")
                let binding = #"{"operation":"post","data":{"a":1}}"#
                let headers = { (t: String) in [("content-type", "application/json"), ("dapr-api-token", t)] }
                let refused = try await h.request(.POST, "/v1.0/bindings/billing-sink", body: binding, headers: headers("tok-orders"))
                #expect(refused.status == 500 && (refused.json?["message"] as? String)?.contains("couldn't find output binding billing-sink") == true,
                        "a binding scoped away from the caller is not found for it: \(refused.body)")
                let allowed = try await h.request(.POST, "/v1.0/bindings/billing-sink", body: binding, headers: headers("tok-billing"))
                #expect((200..<300).contains(allowed.status), "\(allowed.status) \(allowed.body)")

                // The CloudEvent source is the caller.
                #expect(try await publish("pubsub/shared", token: "tok-orders").status == 204)
                #expect(try await publish("pubsub/shared", token: "tok-billing").status == 204)
                #expect(try await publish("pubsub/shared", token: "tok-operator").status == 204)
                let got = try await receiver.wait(for: 6, path: "/shared", timeout: 20)  // orders' and billing's subscriptions, 3 events each
                let sources = Dictionary(grouping: got.compactMap { $0.json }, by: { ($0["data"] as? [String: Any])?["from"] as? String ?? "" })
                    .mapValues { Set($0.compactMap { $0["source"] as? String }) }
                #expect(sources["tok-orders"] == [orders] && sources["tok-billing"] == [billing] && sources["tok-operator"] == ["app1"], "\(sources)")

                // gRPC: the same identities.
                try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: h.runtime.options.grpcPort),
                                                                   transportSecurity: .plaintext)) { client in
                    let dapr = Dapr_Proto_Runtime_V1_Dapr.Client(wrapping: client)
                    func grpcPublish(_ topic: String, _ token: String?) async -> RPCError.Code? {
                        var request = Dapr_Proto_Runtime_V1_PublishEventRequest()
                        request.pubsubName = "pubsub"
                        request.topic = topic
                        request.data = Data(#"{"g":1}"#.utf8)
                        request.dataContentType = "application/json"
                        var metadata = Metadata()
                        if let token { metadata.addString(token, forKey: "dapr-api-token") }
                        do {
                            _ = try await dapr.publishEvent(request, metadata: metadata)
                            return nil
                        } catch let error as RPCError {
                            return error.code
                        } catch {
                            return .unknown
                        }
                    }
                    #expect(await grpcPublish("o1", nil) == .unauthenticated)
                    #expect(await grpcPublish("o1", "tok-nobody") == .unauthenticated)
                    #expect(await grpcPublish("o1", "tok-orders") == nil)
                    #expect(await grpcPublish("b1", "tok-orders") == .permissionDenied)
                    #expect(await grpcPublish("b1", "tok-billing") == nil)
                }
            }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }
}
