import Bindings
import CloudEvents
import Delivery
import HTTPAPI
import Logging
import Metrics
import Resources
import Synchronization

/// Applies the resources on disk to the running Courier, one resource at a time: an added `App`
/// starts, a removed one drains, a changed one drains and starts again, and within every app left
/// as it was only the declarative subscriptions whose definition changed are restarted (the others
/// never pause). A pub/sub component added, changed or removed is connected first (one that cannot
/// connect refuses the set); then only the subscriptions on it drain and start again on the new
/// client, the publisher switches to it, and the old client closes. A changed Resiliency applies to
/// every subscription's and binding's next delivery. A binding component added, changed or removed
/// opens first the same way; the runners reading it drain and start again on the new instance
/// and output invocations switch to it. A set with any problem is refused whole, and the running
/// configuration stays.
final class ConfigReloader: Sendable {
    enum Outcome: Equatable {
        case unchanged
        case applied([String])
        case refused([String])
    }

    struct Context: Sendable {
        var options: CourierOptions
        var registry: BrokerRegistry
        var bindingRegistry: BindingRegistry
        var brokerContext: BrokerRegistry.BrokerContext
        var pubsubs: PubSubTable
        var publisher: Publisher
        var inputPlanner: InputPlanner
        /// The flag app's and bridges' input bindings.
        var flagInputs: InputBindingService
        var fleet: AppFleet
        var tokens: CallerTokens
        var state: SidecarState
        var logger: Logger
    }

    let context: Context
    private let current: Mutex<ResourceSet>
    /// One reload at a time.
    private let serial = AsyncSemaphore(permits: 1)

    init(resources: ResourceSet, context: Context) {
        current = Mutex(resources)
        self.context = context
    }

    /// Reads the resource paths again and applies what changed.
    func reload() async -> Outcome {
        await serial.acquire()
        defer { serial.release() }
        let c = context
        let next = CourierRuntime.loadResources(options: c.options, registry: c.registry, bindingRegistry: c.bindingRegistry)
        let outcome = await apply(next)
        switch outcome {
        case .unchanged:
            return outcome
        case .applied(let changes):
            c.logger.notice("configuration reloaded", metadata: ["changes": "\(changes.joined(separator: "; "))"])
            Counter(label: "courier_config_reloads_total", dimensions: [("result", "applied")]).increment()
            c.state.recordReload(.init(result: "applied", time: RFC3339.now(), problems: [], changes: changes))
        case .refused(let problems):
            c.logger.error("configuration change refused; the running configuration stays:\n\(problems.joined(separator: "\n"))")
            Counter(label: "courier_config_reloads_total", dimensions: [("result", "refused")]).increment()
            c.state.recordReload(.init(result: "refused", time: RFC3339.now(), problems: problems, changes: []))
        }
        return outcome
    }

    private func apply(_ next: ResourceSet) async -> Outcome {
        let c = context
        guard next.errors.isEmpty else { return .refused(next.errors.map(\.description)) }
        let running = current.withLock { $0 }
        // Components added or changed connect before anything changes: an added one that cannot
        // refuses the whole set (unless it says `ignoreErrors`). A changed one that cannot open
        // beside its running instance (one store, one client) is replaced after the old one closed.
        let isBinding: (Component) -> Bool = { $0.category == "bindings" }
        let changedBindings = Self.changedNames(running.components.filter(isBinding), next.components.filter(isBinding),
                                                name: \.name, fingerprint: Self.fingerprint)
        let runningBindings = c.inputPlanner.hub.entries
        var freshBindings: [String: BindingHub.Entry] = [:]
        var bindingsCloseFirst: [String: Component] = [:]
        var ignored: [String] = []
        let discard = { (pubsubs: [String: SubscriptionManager.PubSub]) in
            for entry in freshBindings.values { await entry.binding.close() }
            for pubsub in pubsubs.values { await pubsub.broker.close() }
        }
        for component in next.components where isBinding(component) && changedBindings.contains(component.name) {
            do {
                freshBindings[component.name] = try await openBinding(component)
            } catch {
                if runningBindings[component.name] != nil {
                    bindingsCloseFirst[component.name] = component
                } else if component.ignoreErrors {
                    ignored.append("binding component \(component.name) failed to start and is ignored (ignoreErrors): \(error)")
                } else {
                    await discard([:])
                    return .refused(["\(component.location): component '\(component.name)' (\(component.type)) failed to start: \(error); the running configuration stays"])
                }
            }
        }
        let isPubSub: (Component) -> Bool = { $0.category == "pubsub" }
        let changedPubSubs = Self.changedNames(running.components.filter(isPubSub), next.components.filter(isPubSub),
                                               name: \.name, fingerprint: Self.fingerprint)
        let runningPubSubs = c.pubsubs.all
        var fresh: [String: SubscriptionManager.PubSub] = [:]
        var closeFirst: [String: Component] = [:]
        for component in next.components where isPubSub(component) && changedPubSubs.contains(component.name) {
            do {
                fresh[component.name] = try await PubSubTable.make(component, registry: c.registry, context: c.brokerContext)
            } catch {
                if runningPubSubs[component.name] != nil {
                    closeFirst[component.name] = component
                    continue
                }
                await discard(fresh)
                return .refused(["\(component.location): component '\(component.name)' (\(component.type)) failed to start: \(error); the running configuration stays"])
            }
        }

        var changes: [String] = ignored
        let before = Dictionary(running.apps.map { ($0.id, $0) }) { a, _ in a }
        let after = Dictionary(next.apps.map { ($0.id, $0) }) { a, _ in a }
        let restarted = Set(after.keys.filter { id in before[id].map { !Self.same($0, after[id]!) } ?? false })
        for id in before.keys.sorted() where after[id] == nil || restarted.contains(id) {
            await c.fleet.remove(id)
            if after[id] == nil { changes.append("removed App \(id)") }
        }
        if !changedPubSubs.isEmpty {
            changes += await switchPubSubs(changedPubSubs, to: fresh, closeFirst: closeFirst)
        }
        if !changedBindings.isEmpty {
            changes += await switchBindings(changedBindings, to: freshBindings, closeFirst: bindingsCloseFirst, resources: next)
        }
        let pubsubs = c.pubsubs.all
        for app in next.apps where before[app.id] == nil || restarted.contains(app.id) {
            do {
                c.fleet.add(try AppUnit(app: app, pubsubs: pubsubs, resources: next, namespace: c.options.namespace ?? "", logger: c.logger,
                                        inputPlan: c.inputPlanner.plan(for: app.id, resources: next)))
                changes.append(restarted.contains(app.id) ? "changed App \(app.id)" : "added App \(app.id)")
            } catch {
                changes.append("App \(app.id) could not start: \(error)")
            }
        }
        c.tokens.update(apps: next.appTokens)
        // Apps left as they were (and the flag app): only their changed subscriptions restart.
        let kept = c.fleet.units.filter { $0.id == c.options.appID || (before[$0.id] != nil && after[$0.id] != nil && !restarted.contains($0.id)) }
        for unit in kept {
            for change in await unit.subscriptions.apply(declarative: next.subscriptions(for: unit.id)) {
                changes.append("\(unit.id): \(change)")
            }
        }
        let changedPolicies = Self.changedNames(running.resiliencies, next.resiliencies, name: \.name, fingerprint: Self.fingerprint)
        if !changedPolicies.isEmpty {
            for unit in kept { await unit.apply(resiliencies: next.resiliencies(for: unit.id)) }
            let flagPolicies = next.resiliencies(for: c.options.appID)
            c.inputPlanner.hub.apply(resiliencies: flagPolicies)
            for runner in c.flagInputs.runners { runner.use(policy: c.inputPlanner.inboundPolicy(runner.name, flagPolicies)) }
            changes.append("Resiliency \(changedPolicies.joined(separator: ", ")) applied to the next delivery")
        }
        current.withLock { $0 = next }
        return changes.isEmpty ? .unchanged : .applied(changes)
    }

    /// Puts the pub/subs in `fresh` in place of those named in `names` (a name in neither `fresh`
    /// nor `closeFirst` was removed). Their subscriptions stop taking messages in every app
    /// (in-flight deliveries settle); the components in `closeFirst` close and open again with
    /// their new definition while a stand-in holds their publishes; then the publisher uses the
    /// new clients, the subscriptions start again on them, and the old clients close.
    private func switchPubSubs(_ names: [String], to fresh: [String: SubscriptionManager.PubSub],
                               closeFirst: [String: Component]) async -> [String] {
        let c = context
        var fresh = fresh
        var changes: [String] = []
        let old = c.pubsubs.all
        let replaced = Set(names).intersection(old.keys)
        for unit in c.fleet.units { await unit.subscriptions.hold(pubsubs: replaced) }
        if !closeFirst.isEmpty {
            var interim = old
            var standIns: [String: SwitchingBroker] = [:]
            for name in closeFirst.keys {
                let standIn = SwitchingBroker(replacing: old[name]!.broker)
                standIns[name] = standIn
                interim[name]?.broker = standIn
            }
            c.publisher.replace(targets: PubSubTable(interim).targets)
            // Publishes that took the old client just before the switch finish on it first.
            try? await Task.sleep(for: .milliseconds(250))
            for (name, component) in closeFirst.sorted(by: { $0.key < $1.key }) {
                let previous = old[name]!
                await previous.broker.close()
                do {
                    fresh[name] = try await PubSubTable.make(component, registry: c.registry, context: c.brokerContext)
                } catch {
                    c.logger.error("component \(name) failed to start with its new definition: \(error); starting its previous one")
                    fresh[name] = try? await PubSubTable.make(previous.component, registry: c.registry, context: c.brokerContext)
                    changes.append("component \(name) could not start with its new definition (\(error)); \(fresh[name] == nil ? "it is not running" : "it runs its previous one")")
                }
                standIns[name]?.finish(with: fresh[name]?.broker)
            }
        }
        var table = old
        for name in names { table[name] = fresh[name] }
        c.pubsubs.set(table)
        c.publisher.replace(targets: c.pubsubs.targets)
        for unit in c.fleet.units {
            for change in await unit.apply(pubsubs: table, replaced: replaced) { changes.append("\(unit.id): \(change)") }
        }
        for name in names {
            if let previous = old[name], closeFirst[name] == nil { await previous.broker.close() }
            changes.append("\(old[name] == nil ? "added" : fresh[name] == nil ? "removed" : "changed") component \(name)")
        }
        c.state.updateComponents(named: Set(names), with: names.compactMap { fresh[$0] }.map { p in
            .init(name: p.component.name, type: p.component.type, version: p.component.version, capabilities: p.broker.features.map(\.rawValue).sorted())
        })
        return changes
    }

    /// Names present in only one of the lists, or whose fingerprint differs.
    static func changedNames<T>(_ old: [T], _ new: [T], name: (T) -> String, fingerprint: (T) -> String) -> [String] {
        let a = Dictionary(old.map { (name($0), fingerprint($0)) }) { x, _ in x }
        let b = Dictionary(new.map { (name($0), fingerprint($0)) }) { x, _ in x }
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    static func fingerprint(_ c: Component) -> String {
        "\(c.type)|\(c.version)|\(c.scopes)|\(c.ignoreErrors)|\(c.initTimeoutSeconds)|\(c.secretStore ?? "")|"
            + c.metadata.items.map { "\($0.name)=\($0.value)" }.joined(separator: "\u{0}")
    }

    static func fingerprint(_ r: ResiliencySpec) -> String {
        var copy = r
        copy.location = nil
        return String(describing: copy)
    }

    /// Whether two App definitions are the same (where they were written down does not count).
    static func same(_ a: AppSpec, _ b: AppSpec) -> Bool {
        var x = a, y = b
        x.location = SourceLocation(file: "", line: 0)
        y.location = x.location
        return x == y
    }
}
