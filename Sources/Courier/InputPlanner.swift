import Bindings
import BrokerKit
import Resources

/// Which input bindings an `App` reads, and how its own reader of each opens: every binding
/// component the app may see (its `scopes`) that reads and is not a bridge. The reader opens as
/// the app, so its id is the consumer group and client id where the source has one (the
/// component's `consumerGroup`, `durableName` and `consumerID` name the flag app's), and what it
/// keeps on disk lives under `<data-dir>/apps/<id>`; a RabbitMQ binding reads its one named queue,
/// which apps reading it share.
struct InputPlanner: Sendable {
    var bindings: [(component: Component, settings: BindingSettings)]
    var registry: BindingRegistry
    var context: BindingRegistry.Context
    var hub: BindingHub
    var metrics: BindingMetrics

    /// The metadata keys that name the flag app's group or client at a source.
    static let groupKeys: Set<String> = ["consumergroup", "durablename", "consumerid"]

    func plan(for appID: String, resources: ResourceSet) -> AppUnit.InputPlan {
        var context = self.context
        context.appID = appID
        // What a reader keeps on disk (an MQTT reader's spool) is the app's own.
        context.dataDirectory += "/apps/\(appID)"
        let registry = self.registry
        let entries = bindings.filter { $0.component.isVisible(to: appID) }.map { component, settings in
            var own = component
            own.metadata = component.metadata.removing(Self.groupKeys)
            let reader = own, readerContext = context
            return AppUnit.InputPlan.Binding(component: component, settings: settings,
                                             source: .opened { try await registry.make(reader, context: readerContext) })
        }
        return .init(bindings: entries, hub: hub, resiliencies: resources.resiliencies(for: appID), metrics: metrics)
    }
}
