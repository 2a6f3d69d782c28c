import BrokerKit
import CloudEvents

/// One app as `GET /v1.0-alpha1/apps` shows it: where it listens and its live subscriptions with
/// their backlog (undelivered) and in-flight counts at its consumer group.
public struct AppStatus: Sendable {
    public struct Subscription: Sendable {
        public var pubsub: String
        public var topic: String
        public var routes: [String]
        public var deadLetterTopic: String?
        /// `nil` when the broker could not say.
        public var backlog: Backlog?

        public init(pubsub: String, topic: String, routes: [String], deadLetterTopic: String?, backlog: Backlog?) {
            self.pubsub = pubsub
            self.topic = topic
            self.routes = routes
            self.deadLetterTopic = deadLetterTopic
            self.backlog = backlog
        }
    }

    public var id: String
    public var baseURL: String?
    public var protocolName: String
    public var healthy: Bool
    public var subscriptions: [Subscription]
    /// Input bindings being read for it.
    public var inputBindings: [String]

    public init(id: String, baseURL: String?, protocolName: String, healthy: Bool, subscriptions: [Subscription], inputBindings: [String]) {
        self.id = id
        self.baseURL = baseURL
        self.protocolName = protocolName
        self.healthy = healthy
        self.subscriptions = subscriptions
        self.inputBindings = inputBindings
    }

    var json: JSONValue {
        .object([
            "id": .string(id), "baseUrl": baseURL.map { .string($0) } ?? .null, "protocol": .string(protocolName),
            "healthy": .bool(healthy),
            "subscriptions": .array(subscriptions.map { s in
                .object([
                    "pubsubname": .string(s.pubsub), "topic": .string(s.topic), "routes": .array(s.routes.map { .string($0) }),
                    "deadLetterTopic": s.deadLetterTopic.map { .string($0) } ?? .null,
                    "backlog": s.backlog.map { .number(String($0.undelivered)) } ?? .null,
                    "inFlight": s.backlog.map { .number(String($0.inFlight)) } ?? .null,
                ])
            }),
            "inputBindings": .array(inputBindings.map { .string($0) }),
        ])
    }

    /// The answer of `GET /v1.0-alpha1/apps`.
    static func document(_ apps: [AppStatus]) -> [UInt8] { JSONWriter.serialize(.array(apps.map(\.json))) }
}
