import Bindings
import BrokerKit
import Delivery
import Logging
import Resources

/// Which input bindings are read, by whom, and how each runner is built, from the binding
/// components loaded now (the hub's, which a reload changes).
///
/// The loaded instance of a component is read by the flag app (`--app-id`) and by every bridge
/// (`forwardTo`). An `App` reads every binding component it may see (its `scopes`) that reads and
/// is not a bridge, on a reader of its own opened as the app: its id is the consumer group and
/// client id where the source has one (the component's `consumerGroup`, `durableName` and
/// `consumerID` name the flag app's), and what it keeps on disk lives under
/// `<data-dir>/apps/<id>`; a RabbitMQ binding reads its one named queue, which apps reading it share.
struct InputPlanner: Sendable {
    var registry: BindingRegistry
    var context: BindingRegistry.Context
    var hub: BindingHub
    var metrics: BindingMetrics
    /// The circuit breakers of the runners reading loaded instances.
    let breakers = CircuitBreakerRegistry()

    /// The metadata keys that name the flag app's group or client at a source.
    static let groupKeys: Set<String> = ["consumergroup", "durablename", "consumerid"]

    /// The loaded components an app may read (among `names`, when given), by name.
    private func readable(by appID: String, among names: Set<String>?) -> [BindingHub.Entry] {
        hub.entries.values.filter { entry in
            entry.binding.input != nil && entry.settings.inputAllowed && entry.settings.forwardTo.isEmpty
                && entry.component.isVisible(to: appID) && names.map { $0.contains(entry.component.name) } != false
        }.sorted { $0.component.name < $1.component.name }
    }

    /// What App `appID` reads (only the components in `names`, when given).
    func plan(for appID: String, resources: ResourceSet, only names: Set<String>? = nil) -> AppUnit.InputPlan {
        var context = self.context
        context.appID = appID
        // What a reader keeps on disk (an MQTT reader's spool) is the app's own.
        context.dataDirectory += "/apps/\(appID)"
        let registry = self.registry
        let entries = readable(by: appID, among: names).map { entry in
            var own = entry.component
            own.metadata = entry.component.metadata.removing(Self.groupKeys)
            let reader = own, readerContext = context
            return AppUnit.InputPlan.Binding(component: entry.component, settings: entry.settings,
                                             source: .opened { try await registry.make(reader, context: readerContext) })
        }
        return .init(bindings: entries, hub: hub, resiliencies: resources.resiliencies(for: appID), metrics: metrics)
    }

    /// The runners of the loaded instances (only the components in `names`, when given): every
    /// bridge, and each input binding the flag app may see. A pure gateway (Apps, no
    /// `--app-port`) has no flag app to deliver to.
    func flagRunners(for flagApp: AppUnit, resources: ResourceSet, logger: Logger, only names: Set<String>? = nil) -> [InputBindingRunner] {
        let channel = flagApp.subscriptions.channel
        let resiliencies = resources.resiliencies(for: flagApp.id)
        return hub.entries.values.sorted { $0.component.name < $1.component.name }.compactMap { entry in
            let (component, binding, settings) = entry
            guard let input = binding.input, settings.inputAllowed, names.map({ $0.contains(component.name) }) != false else { return nil }
            let bridge = !settings.forwardTo.isEmpty
            guard bridge || (component.isVisible(to: flagApp.id) && (channel != nil || resources.apps.isEmpty)) else { return nil }
            return InputBindingRunner(name: component.name, type: component.type, source: .loaded(input), settings: settings,
                                      channel: bridge ? nil : channel, hub: hub, policy: inboundPolicy(component.name, resiliencies),
                                      metrics: metrics, logger: logger, availability: bridge ? nil : flagApp.availability)
        }
    }

    /// The inbound policy of the loaded instance of binding `name`.
    func inboundPolicy(_ name: String, _ resiliencies: [ResiliencySpec]) -> InboundPolicy {
        InboundPolicy(resolved: resiliencies.policy(component: name, category: "bindings", direction: .inbound), breakers: breakers)
    }
}
