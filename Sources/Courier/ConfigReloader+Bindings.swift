import Bindings
import BrokerKit
import HTTPAPI
import Resources

extension ConfigReloader {
    /// Opens binding component `component` as the runtime loads it.
    func openBinding(_ component: Component) async throws -> BindingHub.Entry {
        let settings = try BindingSettings(component: component)
        let binding = try await context.bindingRegistry.make(component, context: context.inputPlanner.context)
        return (component, binding, settings)
    }

    /// Puts the binding components in `fresh` in place of those named in `names` (a name in
    /// neither `fresh` nor `closeFirst` was removed). Every runner reading one of them, in the flag
    /// app's service and in each app's, stops and drains; output invocations go on with the old
    /// instance until the new one is in, or wait for it while a component in `closeFirst` (one
    /// that cannot open beside its running instance, such as an MQTT binding's spool) closes and
    /// opens again; the old instances close; then the new ones are read by whoever reads them.
    func switchBindings(_ names: [String], to fresh: [String: BindingHub.Entry], closeFirst: [String: Component],
                        resources next: ResourceSet) async -> [String] {
        let c = context
        let hub = c.inputPlanner.hub
        let resiliencies = next.resiliencies(for: c.options.appID)
        let all = Set(names)
        var fresh = fresh
        var changes: [String] = []
        let old = hub.entries
        for name in names { await c.flagInputs.remove(name) }
        for unit in c.fleet.units { await unit.stopReading(bindings: all) }

        let swapped = names.filter { closeFirst[$0] == nil }
        hub.replace(Set(swapped), with: swapped.compactMap { fresh[$0] }, resiliencies: resiliencies)
        hub.hold(Set(closeFirst.keys))
        // Invocations that took an old instance just before the switch finish on it first.
        if names.contains(where: { old[$0] != nil }) { try? await Task.sleep(for: .milliseconds(250)) }
        for name in swapped { if let previous = old[name] { await previous.binding.close() } }
        for (name, component) in closeFirst.sorted(by: { $0.key < $1.key }) {
            let previous = old[name]!
            await previous.binding.close()
            do {
                fresh[name] = try await openBinding(component)
            } catch {
                c.logger.error("binding component \(name) failed to start with its new definition: \(error); starting its previous one")
                fresh[name] = try? await openBinding(previous.component)
                changes.append("binding component \(name) could not start with its new definition (\(error)); \(fresh[name] == nil ? "it is not running" : "it runs its previous one")")
            }
            hub.replace([name], with: fresh[name].map { [$0] } ?? [], resiliencies: resiliencies)
        }

        if let flag = c.fleet.units.first(where: { $0.id == c.options.appID }) {
            for runner in c.inputPlanner.flagRunners(for: flag, resources: next, logger: c.logger, only: all) { c.flagInputs.add(runner) }
        }
        for unit in c.fleet.units where unit.id != c.options.appID {
            unit.startReading(c.inputPlanner.plan(for: unit.id, resources: next, only: all))
        }
        for name in names {
            changes.append("\(old[name] == nil ? "added" : fresh[name] == nil ? "removed" : "changed") binding component \(name)")
        }
        c.state.updateComponents(named: all, with: names.compactMap { fresh[$0] }.map { SidecarState.ComponentInfo(binding: $0) })
        return changes
    }
}

extension SidecarState.ComponentInfo {
    /// How the metadata API lists a loaded binding component.
    init(binding entry: BindingHub.Entry) {
        let info = BindingHub.info(entry)
        self.init(name: info.name, type: info.type, version: info.version, capabilities: info.capabilities)
    }
}
