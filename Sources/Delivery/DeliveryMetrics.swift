import Metrics
import Synchronization

/// Dapr-compatible pub/sub counters (spec §12.4), exported by the Prometheus backend. Metric
/// handles are created once per label set and cached, so the hot paths only increment.
public final class DeliveryMetrics: Sendable {
    public let appID: String
    public let namespace: String
    private let handles = MetricHandles()

    public init(appID: String, namespace: String = "") {
        self.appID = appID
        self.namespace = namespace
    }

    private func counter(_ label: String, _ dims: [(String, String)]) -> Counter { handles.counter(label, dims) }
    private func recorder(_ label: String, _ dims: [(String, String)]) -> Recorder { handles.recorder(label, dims) }

    /// A count and a latency (ingress of one subscription and outcome, or egress of one topic), looked up once.
    public struct Ingress: Sendable {
        let count: Counter
        let latency: Recorder

        /// One processed delivery that took `seconds`.
        public func record(_ seconds: Double) {
            count.increment()
            latency.record(seconds * 1000)
        }
    }

    /// The three outcomes of a subscription's deliveries (`process_status` success, retry, drop).
    public struct IngressOutcomes: Sendable {
        public let success: Ingress
        public let retry: Ingress
        public let drop: Ingress
    }

    public func ingress(component: String, topic: String) -> IngressOutcomes {
        func handles(_ processStatus: String, _ status: String) -> Ingress {
            let dims = [("app_id", appID), ("component", component), ("namespace", namespace),
                        ("process_status", processStatus), ("status", status), ("topic", topic)]
            return Ingress(count: counter("dapr_component_pubsub_ingress_count", dims),
                           latency: recorder("dapr_component_pubsub_ingress_latencies", dims))
        }
        return IngressOutcomes(success: handles("success", "success"), retry: handles("retry", "retry"), drop: handles("drop", "success"))
    }

    /// One publish (through the API or a dead-letter republish).
    public func egress(component: String, topic: String, success: Bool, seconds: Double) {
        let key = EgressKey(component: component, topic: topic, success: success)
        let handles = egressHandles.withLock { $0[key] } ?? {
            let dims = [("app_id", appID), ("component", component), ("namespace", namespace),
                        ("success", success ? "true" : "false"), ("topic", topic)]
            let made = Ingress(count: counter("dapr_component_pubsub_egress_count", dims),
                               latency: recorder("dapr_component_pubsub_egress_latencies", dims))
            egressHandles.withLock { $0[key] = made }
            return made
        }()
        handles.record(seconds)
    }

    /// Publish handles by component, topic and outcome: one dictionary lookup per publish.
    private struct EgressKey: Hashable {
        var component: String
        var topic: String
        var success: Bool
    }
    private let egressHandles = Mutex<[EgressKey: Ingress]>([:])

    /// A retry of a delivery attempt by the inbound policy.
    public func retry(component: String, topic: String) {
        counter("courier_pubsub_delivery_retries_total", [("app_id", appID), ("component", component), ("topic", topic)]).increment()
    }

    /// A message sent to a dead-letter topic; `reason` is drop, expired, unroutable, failed or unparseable.
    public func deadLetter(component: String, topic: String, reason: String) {
        counter("courier_pubsub_dead_letter_total",
                [("app_id", appID), ("component", component), ("topic", topic), ("reason", reason)]).increment()
    }
}
