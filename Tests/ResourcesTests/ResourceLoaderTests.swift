import Foundation
import Resources
import Testing

@Suite struct ResourceLoaderTests {
    func load(_ yaml: String, appID: String = "app1", env: [String: String] = [:], known: Set<String>? = ["pubsub.embedded"]) -> ResourceSet {
        let checker: (@Sendable (String) -> Bool)?
        if let known { checker = { known.contains($0) } } else { checker = nil }
        let loader = ResourceLoader(
            appID: appID,
            templates: TemplateResolver(appID: appID, namespace: env["NAMESPACE"], makeUUID: { "uuid" }),
            environment: env,
            isKnownComponentType: checker)
        var set = ResourceSet()
        loader.load(text: yaml, file: "f.yaml", into: &set)
        loader.finish(&set)
        return set
    }

    @Test func componentWithTemplatesAndEnvRef() throws {
        let set = load("""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: ps
            spec:
              type: pubsub.embedded
              version: v1
              initTimeout: 10s
              metadata:
              - name: consumerID
                value: "{appID}-{uuid}"
              - name: Path
                envRef: STORE
              - name: number
                value: 5
            scopes: [app1]
            """, env: ["STORE": "/tmp/x"])
        #expect(set.errors.isEmpty)
        let c = try #require(set.components.first)
        #expect(c.metadata["consumerid"] == "app1-uuid", "names match case-insensitively")
        #expect(c.metadata["path"] == "/tmp/x")
        #expect(c.metadata["number"] == "5")
        #expect(c.initTimeoutSeconds == 10)
        #expect(c.category == "pubsub")
    }

    /// `{namespace}` in any metadata value makes a pub/sub namespace-scoped: its topics get the
    /// namespace (not the `<ns>.<appID>` the tag expands to) as prefix. Bindings never do.
    @Test func namespaceTagScopesPubSubTopics() throws {
        func component(_ type: String, _ value: String) -> String {
            "kind: Component\nmetadata:\n  name: c\nspec:\n  type: \(type)\n  metadata:\n  - name: consumerID\n    value: \"\(value)\"\n"
        }
        let known: Set<String> = ["pubsub.embedded", "bindings.redis"]
        let scoped = try #require(load(component("pubsub.embedded", "{namespace}"), env: ["NAMESPACE": "ns1"], known: known).components.first)
        #expect(scoped.topicPrefix == "ns1")
        #expect(scoped.metadata["consumerID"] == "ns1.app1")
        let plain = try #require(load(component("pubsub.embedded", "{appID}"), env: ["NAMESPACE": "ns1"], known: known).components.first)
        #expect(plain.topicPrefix == nil)
        let binding = try #require(load(component("bindings.redis", "{namespace}"), env: ["NAMESPACE": "ns1"], known: known).components.first)
        #expect(binding.topicPrefix == nil)
        let unknown = load(component("pubsub.embedded", "{namespace}"), known: known)
        #expect(unknown.components.isEmpty && unknown.errors.first?.description.contains("NAMESPACE") == true)
    }

    /// `secretKeyRef` items come from the component's `auth.secretStore`: Dapr's local file store
    /// (flat, nested with `:`, multi-valued) and environment store, defined in any order.
    @Test func secretKeyRefsResolveFromLocalStores() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"redisPassword":"s3cret","kafka":{"user":"u","password":"p","port":9092,"tls":true}}"#
            .write(toFile: dir + "/secrets.json", atomically: true, encoding: .utf8)
        let fileStore = """
            kind: Component
            metadata: { name: files }
            spec:
              type: secretstores.local.file
              metadata:
              - { name: secretsFile, value: "\(dir)/secrets.json" }
            """
        let set = load("""
            kind: Component
            metadata: { name: a }
            spec:
              type: pubsub.embedded
              metadata:
              - name: password
                secretKeyRef: { name: redisPassword, key: redisPassword }
              - name: nested
                secretKeyRef: { name: "kafka:password" }
              - name: plain
                value: "{appID}"
            auth: { secretStore: files }
            ---
            \(fileStore)
            ---
            kind: Component
            metadata: { name: multi }
            spec:
              type: secretstores.local.file
              metadata:
              - { name: secretsFile, value: "\(dir)/secrets.json" }
              - { name: multiValued, value: "true" }
            ---
            kind: Component
            metadata: { name: b }
            spec:
              type: pubsub.embedded
              metadata:
              - name: user
                secretKeyRef: { name: kafka, key: user }
              - name: port
                secretKeyRef: { name: kafka, key: port }
              - name: tls
                secretKeyRef: { name: kafka, key: tls }
            auth: { secretStore: multi }
            ---
            kind: Component
            metadata: { name: env }
            spec:
              type: secretstores.local.env
            ---
            kind: Component
            metadata: { name: c }
            spec:
              type: pubsub.embedded
              metadata:
              - name: token
                secretKeyRef: { name: TOKEN }
            auth: { secretStore: env }
            """, env: ["TOKEN": "t0k"])
        #expect(set.errors.isEmpty, "\(set.errors)")
        let byName = Dictionary(uniqueKeysWithValues: set.components.map { ($0.name, $0) })
        #expect(byName["a"]?.metadata["password"] == "s3cret")
        #expect(byName["a"]?.metadata["nested"] == "p")
        #expect(byName["a"]?.metadata["plain"] == "app1")
        #expect(byName["b"]?.metadata["user"] == "u")
        #expect(byName["b"]?.metadata["port"] == "9092")
        #expect(byName["b"]?.metadata["tls"] == "true")
        #expect(byName["c"]?.metadata["token"] == "t0k")
        // A single-valued store has no key other than the secret's own name.
        let wrongKey = load("""
            \(fileStore)
            ---
            kind: Component
            metadata: { name: a }
            spec:
              type: pubsub.embedded
              metadata:
              - { name: password, secretKeyRef: { name: redisPassword, key: password } }
            auth: { secretStore: files }
            """)
        #expect(wrongKey.errors.map(\.description) == ["f.yaml:13: Component 'a': metadata 'password': secret 'redisPassword' has no key 'password' in secret store 'files'"])
    }

    @Test func problemsCarryFileAndLine() {
        let cases: [(String, Int, String)] = [
            ("kind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.kafka\n  version: v1\n", 5, "unknown component type 'pubsub.kafka'"),
            ("kind: Component\nmetadata:\n  name: x\nspec:\n  version: v1\n", 5, "'type' is required"),
            ("kind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.embedded\n  metadata:\n  - name: p\n    secretKeyRef: {name: a, key: b}\n", 7, "names no auth.secretStore"),
            ("kind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.embedded\n  metadata:\n  - name: p\n    secretKeyRef: {key: b}\n", 8, "'name' is required"),
            ("kind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.embedded\n  metadata:\n  - name: p\n    secretKeyRef: {name: a}\nauth:\n  secretStore: vault\n", 7, "secret store 'vault' is not loaded"),
            ("kind: Component\nmetadata:\n  name: s\nspec:\n  type: secretstores.local.file\n  metadata:\n  - name: secretsFile\n    value: /nonexistent/secrets.json\n", 7, "cannot read secretsFile"),
            ("kind: Component\nmetadata:\n  name: s\nspec:\n  type: secretstores.local.env\n---\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.embedded\n  metadata:\n  - name: p\n    secretKeyRef: {name: COURIER_TEST_UNSET}\nauth:\n  secretStore: s\n", 13, "secret 'COURIER_TEST_UNSET' has no key 'COURIER_TEST_UNSET'"),
            ("kind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.embedded\n  metadata:\n  - name: p\n    envRef: MISSING\n", 7, "MISSING"),
            ("kind: Subscription\nspec:\n  pubsubname: p\n  topic: t\n  routes:\n    rules:\n    - match: event.type ==\n      path: /a\n", 7, "column 14: unexpected end of expression"),
            ("kind: Subscription\nspec:\n  pubsubname: p\n  topic: t\n", 3, "no route"),
            ("kind: Resiliency\nmetadata:\n  name: r\nspec:\n  policies:\n    retries:\n      x:\n        duration: soon\n", 8, "duration"),
            ("kind: Resiliency\nmetadata:\n  name: r\nspec:\n  policies:\n    timeouts: {}\n  targets:\n    components:\n      p:\n        inbound:\n          retry: nope\n", 11, "no retry policy named 'nope'"),
            ("kind: Component\nmetadata: [\n", 3, "invalid YAML"),
            ("metadata:\n  name: x\n", 1, "'kind' is required"),
        ]
        for (yaml, line, text) in cases {
            let set = load(yaml)
            let problem = set.errors.first
            #expect(problem?.location.line == line, "\(yaml)")
            #expect(problem?.message.contains(text) == true, "\(problem?.message ?? "no problem") should mention \(text)")
            #expect(problem?.description.hasPrefix("f.yaml:\(line): ") == true)
        }
    }

    @Test func subscriptionsV1AndV2() throws {
        let set = load("""
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata: {name: a}
            spec:
              pubsubname: ps
              topic: t
              route: /ignored
              routes:
                default: /d
              deadLetterTopic: dl
              metadata: {rawPayload: "true"}
              bulkSubscribe: {enabled: true, maxMessagesCount: 5}
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Subscription
            metadata: {name: b}
            spec:
              pubsubname: ps
              topic: u
              route: /r
            scopes: [other]
            """)
        #expect(set.errors.isEmpty)
        #expect(set.subscriptions.count == 1, "scoped to another app")
        let s = try #require(set.subscriptions.first)
        #expect(s.rules == [RouteRule(match: "", path: "/d")], "routes.default wins over route")
        #expect(s.deadLetterTopic == "dl" && s.rawPayload && s.bulkSubscribe.enabled && s.bulkSubscribe.maxMessagesCount == 5)
        #expect(s.bulkSubscribe.maxAwaitDurationMs == 1000)
    }

    @Test func resiliencyPolicyPrecedence() throws {
        let set = load("""
            kind: Resiliency
            metadata: {name: r}
            spec:
              policies:
                timeouts: {t1: 1s, DefaultTimeoutPolicy: 9s}
                retries:
                  named: {policy: exponential, maxInterval: 10s, maxRetries: 3, matching: {httpStatusCodes: "429,500-599"}}
                  DefaultPubsubComponentInboundRetryPolicy: {duration: 2s, maxRetries: 1}
                circuitBreakers:
                  cb: {trip: "consecutiveFailures > 3 && requests > 1", timeout: 5s}
              targets:
                components:
                  ps:
                    inbound: {timeout: t1, retry: named, circuitBreaker: cb}
            """)
        #expect(set.errors.isEmpty, "\(set.errors)")
        let named = set.resiliencies.policy(component: "ps", category: "pubsub", direction: .inbound)
        #expect(named.timeout == 1 && named.retry?.kind == .exponential && named.retry?.maxRetries == 3)
        #expect(named.retry?.shouldRetry(httpStatus: 503) == true && named.retry?.shouldRetry(httpStatus: 400) == false)
        #expect(named.retry?.shouldRetry(httpStatus: nil) == true)
        #expect(named.circuitBreaker?.trip.holds([.consecutiveFailures: 4, .requests: 4]) == true)
        let other = set.resiliencies.policy(component: "other", category: "pubsub", direction: .inbound)
        #expect(other.retry?.duration == 2 && other.retry?.maxRetries == 1 && other.timeout == 9)
        let outbound = set.resiliencies.policy(component: "other", category: "pubsub", direction: .outbound)
        #expect(outbound.retry == nil && outbound.timeout == 9)
    }

    @Test func topicScopes() {
        var md = ComponentMetadata()
        md = ComponentMetadata(["publishingScopes": "a=t1, t2;b=", "allowedTopics": "t1,t2,t3", "protectedTopics": "t3"])
        let scopes = TopicScopes(metadata: md)
        #expect(scopes.isAllowed(topic: "t2", appID: "a", operation: .publish))
        #expect(!scopes.isAllowed(topic: "t3", appID: "a", operation: .publish))
        #expect(!scopes.isAllowed(topic: "t1", appID: "b", operation: .publish))
        #expect(scopes.isAllowed(topic: "t1", appID: "c", operation: .publish))
        #expect(!scopes.isAllowed(topic: "t3", appID: "c", operation: .publish), "protected")
        #expect(!scopes.isAllowed(topic: "t9", appID: "c", operation: .subscribe), "not in allowedTopics")
    }
}
