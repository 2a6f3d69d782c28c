import Metrics

/// Dapr-compatible pub/sub counters (spec §12.4), exported by the Prometheus backend.
public struct DeliveryMetrics: Sendable {
    public let appID: String
    public let namespace: String

    public init(appID: String, namespace: String = "") {
        self.appID = appID
        self.namespace = namespace
    }

    /// One processed delivery: `processStatus` is success, retry or drop.
    public func ingress(component: String, topic: String, processStatus: String, status: String, seconds: Double) {
        let dims = [("app_id", appID), ("component", component), ("namespace", namespace),
                    ("process_status", processStatus), ("status", status), ("topic", topic)]
        Counter(label: "dapr_component_pubsub_ingress_count", dimensions: dims).increment()
        Recorder(label: "dapr_component_pubsub_ingress_latencies", dimensions: dims).record(seconds * 1000)
    }

    /// One publish (through the API or a dead-letter republish).
    public func egress(component: String, topic: String, success: Bool, seconds: Double) {
        let dims = [("app_id", appID), ("component", component), ("namespace", namespace),
                    ("success", success ? "true" : "false"), ("topic", topic)]
        Counter(label: "dapr_component_pubsub_egress_count", dimensions: dims).increment()
        Recorder(label: "dapr_component_pubsub_egress_latencies", dimensions: dims).record(seconds * 1000)
    }

    /// A retry of a delivery attempt by the inbound policy.
    public func retry(component: String, topic: String) {
        Counter(label: "courier_pubsub_delivery_retries_total",
                dimensions: [("app_id", appID), ("component", component), ("topic", topic)]).increment()
    }

    /// A message sent to a dead-letter topic; `reason` is drop, expired, unroutable, failed or unparseable.
    public func deadLetter(component: String, topic: String, reason: String) {
        Counter(label: "courier_pubsub_dead_letter_total",
                dimensions: [("app_id", appID), ("component", component), ("topic", topic), ("reason", reason)]).increment()
    }
}
