import Bindings
import BrokerKit
import Delivery
import Metrics
import ServiceLifecycle

/// Publishes the backlog of every active subscription as the Prometheus gauge
/// `courier_pubsub_backlog{pubsub, topic, group}` (undelivered + in flight), refreshed every
/// `interval`: what KEDA's Prometheus scaler reads. The same figure is served on demand at
/// `GET /v1.0-alpha1/backlog/{pubsub}/{topic}`. Input bindings whose source can tell are
/// published as `courier_binding_backlog{binding, app}`, `app` the reader's (the `--app-id` app
/// for its readers and the bridges', each App for its own; the first is also served at
/// `GET /v1.0-alpha1/bindings/{name}/backlog`).
struct BacklogReporter: Service {
    let fleet: AppFleet
    /// The `--app-id` app's and bridges' input bindings.
    let bindings: InputBindingService
    let flagID: String
    let cache: BacklogCache
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // One figure per (pub/sub, topic, group): apps sharing a group (replicas) report it once.
            var requests: [(key: BacklogCache.Key, broker: any MessageBroker)] = []
            var seen = Set<BacklogCache.Key>()
            for app in fleet.units {
                for s in app.subscriptions.activeSubscriptions {
                    guard let pubsub = app.subscriptions.pubsub(named: s.pubsubName) else { continue }
                    let key = BacklogCache.Key(pubsub: s.pubsubName, topic: s.topic, group: pubsub.consumerGroup)
                    if seen.insert(key).inserted { requests.append((key, pubsub.broker)) }
                }
            }
            for (request, backlog) in zip(requests, await cache.backlogs(requests)) {
                guard let backlog else { continue }
                Gauge(label: "courier_pubsub_backlog",
                      dimensions: [("pubsub", request.key.pubsub), ("topic", request.key.topic), ("group", request.key.group)])
                    .record(backlog.total)
            }
            var readers = [(flagID, bindings)]
            for app in fleet.units { if let inputs = app.inputs { readers.append((app.id, inputs)) } }
            for (app, inputs) in readers {
                for (name, backlog) in await inputs.backlogs() {
                    Gauge(label: "courier_binding_backlog", dimensions: [("binding", name), ("app", app)]).record(backlog.total)
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
