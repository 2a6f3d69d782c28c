import Bindings
import Delivery
import Metrics
import ServiceLifecycle

/// Publishes the backlog of every active subscription as the Prometheus gauge
/// `courier_pubsub_backlog{pubsub, topic, group}` (undelivered + in flight), refreshed every
/// `interval`: what KEDA's Prometheus scaler reads. The same figure is served on demand at
/// `GET /v1.0-alpha1/backlog/{pubsub}/{topic}`. Input bindings whose source can tell are
/// published as `courier_binding_backlog{binding}` (and served at
/// `GET /v1.0-alpha1/bindings/{name}/backlog`).
struct BacklogReporter: Service {
    let fleet: AppFleet
    let bindings: InputBindingService
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            for app in fleet.units {
                for s in app.subscriptions.activeSubscriptions {
                    guard let pubsub = app.subscriptions.pubsub(named: s.pubsubName),
                          let backlog = try? await pubsub.broker.backlog(topic: s.topic, group: pubsub.consumerGroup) else { continue }
                    Gauge(label: "courier_pubsub_backlog",
                          dimensions: [("pubsub", s.pubsubName), ("topic", s.topic), ("group", pubsub.consumerGroup)])
                        .record(backlog.total)
                }
            }
            for (name, backlog) in await bindings.backlogs() {
                Gauge(label: "courier_binding_backlog", dimensions: [("binding", name)]).record(backlog.total)
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
