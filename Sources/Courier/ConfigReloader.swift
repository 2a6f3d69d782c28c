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
/// never pause). A set with any problem is refused whole, and the running configuration stays.
/// Components and Resiliency policies are not changed live yet: a change to them is refused with
/// that reason (restart Courier to apply it).
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
        var pubsubs: [String: SubscriptionManager.PubSub]
        var fleet: AppFleet
        var tokens: CallerTokens
        var state: SidecarState
        var logger: Logger
    }

    private let context: Context
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
        var problems: [String] = []
        let changedComponents = Self.changedNames(running.components, next.components, name: \.name, fingerprint: Self.fingerprint)
        if !changedComponents.isEmpty {
            problems.append("components \(changedComponents.joined(separator: ", ")) changed: component changes are not applied live yet (restart Courier to apply them)")
        }
        let changedPolicies = Self.changedNames(running.resiliencies, next.resiliencies, name: \.name, fingerprint: Self.fingerprint)
        if !changedPolicies.isEmpty {
            problems.append("Resiliency \(changedPolicies.joined(separator: ", ")) changed: resiliency changes are not applied live yet (restart Courier to apply them)")
        }
        guard problems.isEmpty else { return .refused(problems) }

        var changes: [String] = []
        let before = Dictionary(running.apps.map { ($0.id, $0) }) { a, _ in a }
        let after = Dictionary(next.apps.map { ($0.id, $0) }) { a, _ in a }
        let restarted = Set(after.keys.filter { id in before[id].map { !Self.same($0, after[id]!) } ?? false })
        for id in before.keys.sorted() where after[id] == nil || restarted.contains(id) {
            await c.fleet.remove(id)
            if after[id] == nil { changes.append("removed App \(id)") }
        }
        for app in next.apps where before[app.id] == nil || restarted.contains(app.id) {
            do {
                c.fleet.add(try AppUnit(app: app, pubsubs: c.pubsubs, resources: next, namespace: c.options.namespace ?? "", logger: c.logger))
                changes.append(restarted.contains(app.id) ? "changed App \(app.id)" : "added App \(app.id)")
            } catch {
                changes.append("App \(app.id) could not start: \(error)")
            }
        }
        c.tokens.update(apps: next.appTokens)
        // Apps left as they were (and the flag app): only their changed subscriptions restart.
        for unit in c.fleet.units where unit.id == c.options.appID || (before[unit.id] != nil && after[unit.id] != nil && !restarted.contains(unit.id)) {
            for change in await unit.subscriptions.apply(declarative: next.subscriptions(for: unit.id)) {
                changes.append("\(unit.id): \(change)")
            }
        }
        current.withLock { $0 = next }
        return changes.isEmpty ? .unchanged : .applied(changes)
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
