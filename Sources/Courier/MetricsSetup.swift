import Metrics
import Prometheus
import Synchronization

/// Installs the Prometheus backend for swift-metrics once per process.
public enum MetricsSetup {
    private static let installed = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The process-wide registry, bootstrapping swift-metrics on first use.
    public static func registry() -> PrometheusCollectorRegistry {
        installed.withLock { current in
            if let current { return current }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            current = registry
            return registry
        }
    }
}
