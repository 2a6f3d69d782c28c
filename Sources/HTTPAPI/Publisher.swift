import BrokerKit
import CloudEvents
import Delivery
import Resources
import Synchronization

/// The publish path (spec §1, §2): validation in Dapr's order, the envelope, scoping, and the
/// broker call whose confirmation is what a 204 promises.
public struct Publisher: Sendable {
    /// A configured pub/sub component.
    public struct Target: Sendable {
        public var broker: any MessageBroker
        public var scopes: TopicScopes
        /// The group subscriptions use by default (`consumerGroup`, `consumerID` or the app id).
        public var consumerGroup: String
        /// The component's `scopes`: the app ids that may use it (empty: every app).
        public var appScopes: [String]
        public init(broker: any MessageBroker, scopes: TopicScopes, consumerGroup: String, appScopes: [String] = []) {
            self.broker = broker
            self.scopes = scopes
            self.consumerGroup = consumerGroup
            self.appScopes = appScopes
        }
    }

    public let appID: String
    /// The configured pub/subs by name; a reload may replace them.
    public var targets: [String: Target] { table.get() }
    private let table: SharedTargets
    public let metrics: PublishMetrics
    /// Large bulk requests processed at once (parsing, envelopes, the batch): each holds many
    /// times its body in memory while it runs, so the peak is bounded by this, not by how many
    /// clients send at once.
    let bulkGate: AsyncSemaphore

    public init(appID: String, targets: [String: Target], metrics: PublishMetrics, concurrentBulkRequests: Int = 2) {
        self.appID = appID
        self.table = SharedTargets(targets)
        self.metrics = metrics
        self.bulkGate = AsyncSemaphore(permits: max(concurrentBulkRequests, 1))
    }

    /// The pub/sub named `name`: one lookup under the table's lock, no copy of the table (the
    /// publish path asks this once or twice per request).
    public func target(named name: String) -> Target? { table.lookup(name) }

    /// Publishes to `targets` from the next request on (a component added, changed or removed).
    public func replace(targets: [String: Target]) {
        table.set(targets)
    }

    /// The app id the current request publishes as: its caller's (`CallerTokens`), else the
    /// `--app-id` app's.
    var callerAppID: String { CallerTokens.callerAppID ?? appID }

    /// Steps 1–4 of §1.2: the component and topic exist (for this caller: a component whose
    /// `scopes` leave the caller out does not exist for it, as in Dapr).
    public func target(pubsub: String, topic: String) throws(DaprError) -> Target {
        guard let target = table.lookup(pubsub) else {
            if table.isEmpty { throw .pubsubNotConfigured() }
            if pubsub.isEmpty { throw .pubsubEmpty() }
            throw .pubsubNotFound(pubsub)
        }
        guard target.appScopes.isEmpty || target.appScopes.contains(callerAppID) else {
            throw .pubsubNotFound(pubsub)
        }
        guard !topic.isEmpty else { throw .topicEmpty(pubsub) }
        return target
    }

    /// Publishes one event; returns when the broker confirmed it.
    public func publish(pubsub: String, topic: String, body: [UInt8], contentType: String?, metadata: [String: String],
                        trace: TraceContext?) async throws(DaprError) {
        let target = try target(pubsub: pubsub, topic: topic)
        let appID = callerAppID
        let raw = try rawPayload(metadata, pubsub: pubsub)
        let payload: [UInt8]
        if raw {
            payload = body
        } else {
            let context = Envelope.Context(
                topic: topic, pubsubName: pubsub, appID: appID, contentType: contentType, trace: trace,
                overrides: CloudEventOverrides(metadata: metadata),
                ttlSeconds: target.broker.features.contains(.messageTTL) ? nil : Self.ttlSeconds(metadata))
            do {
                payload = try Envelope.build(body: body, context: context)
            } catch {
                throw .cloudEventCreation(pubsub, error.description)
            }
        }
        guard target.scopes.isAllowed(topic: topic, appID: appID, operation: .publish) else {
            throw .forbidden(topic: topic, appID: appID, pubsub: pubsub)
        }
        let started = RFC3339.currentUnixSeconds()
        do {
            try await target.broker.publish(BrokerMessage(topic: topic, payload: payload,
                                                          contentType: raw ? nil : ContentType.cloudEventsJSON, metadata: metadata))
            metrics.egress(pubsub, topic, true, RFC3339.currentUnixSeconds() - started)
        } catch {
            metrics.egress(pubsub, topic, false, RFC3339.currentUnixSeconds() - started)
            throw .publishFailed(topic: topic, pubsub: pubsub, error: error.message)
        }
    }

    /// `metadata.rawPayload` as a Go bool; an unparseable value is a 400.
    func rawPayload(_ metadata: [String: String], pubsub: String) throws(DaprError) -> Bool {
        guard let value = metadata.first(where: { $0.key.lowercased() == "rawpayload" })?.value else { return false }
        guard let parsed = GoBool.parse(value) else {
            throw .badMetadata(pubsub, "rawPayload value '\(value)' is not a boolean")
        }
        return parsed
    }

    /// `ttlInSeconds` (alias `ttl`): whole seconds > 0 or a Go duration; anything else is ignored.
    /// Values beyond what an RFC 3339 `expiration` can hold are capped there, as Dapr caps them.
    static func ttlSeconds(_ metadata: [String: String]) -> Double? {
        guard let value = metadata.first(where: { ["ttlinseconds", "ttl"].contains($0.key.lowercased()) })?.value else { return nil }
        if let n = Int(value) { return n > 0 ? Double(n) : nil }
        if let d = GoDuration.parseSeconds(value), d > 0 { return d }
        return nil
    }
}

/// Counts publishes (`dapr_component_pubsub_egress_*`).
public struct PublishMetrics: Sendable {
    public let egress: @Sendable (_ component: String, _ topic: String, _ success: Bool, _ seconds: Double) -> Void

    public init(egress: @escaping @Sendable (String, String, Bool, Double) -> Void) {
        self.egress = egress
    }
}

/// The publisher's table of targets, shared by its copies.
private final class SharedTargets: Sendable {
    private let value: Mutex<[String: Publisher.Target]>
    init(_ targets: [String: Publisher.Target]) { value = Mutex(targets) }
    func get() -> [String: Publisher.Target] { value.withLock { $0 } }
    func set(_ targets: [String: Publisher.Target]) { value.withLock { $0 = targets } }
    func lookup(_ name: String) -> Publisher.Target? { value.withLock { $0[name] } }
    var isEmpty: Bool { value.withLock { $0.isEmpty } }
}
