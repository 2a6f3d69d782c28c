import Delivery
import Metrics

/// Dapr's binding metrics (`dapr_component_input_binding_*`, `dapr_component_output_binding_*`),
/// handles cached per label set.
public final class BindingMetrics: Sendable {
    public let appID: String
    public let namespace: String
    private let handles = MetricHandles()

    public init(appID: String, namespace: String = "") {
        self.appID = appID
        self.namespace = namespace
    }

    /// One output binding call.
    public func output(component: String, operation: String, success: Bool, seconds: Double) {
        let dims = [("app_id", appID), ("component", component), ("namespace", namespace), ("operation", operation),
                    ("success", success ? "true" : "false")]
        counter("dapr_component_output_binding_count", dims).increment()
        recorder("dapr_component_output_binding_latencies", dims).record(seconds * 1000)
    }

    /// One input binding message handled (delivered to the app or forwarded).
    public func input(component: String, success: Bool, seconds: Double) {
        let dims = [("app_id", appID), ("component", component), ("namespace", namespace), ("success", success ? "true" : "false")]
        counter("dapr_component_input_binding_count", dims).increment()
        recorder("dapr_component_input_binding_latencies", dims).record(seconds * 1000)
    }

    private func counter(_ label: String, _ dims: [(String, String)]) -> Counter { handles.counter(label, dims) }
    private func recorder(_ label: String, _ dims: [(String, String)]) -> Recorder { handles.recorder(label, dims) }
}
