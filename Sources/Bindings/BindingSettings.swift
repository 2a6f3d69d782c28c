import CloudEvents
import Resources

/// The component metadata every binding shares, read once: which directions are on, where input
/// messages go (the app route or `forwardTo` output bindings) and how many are in flight.
public struct BindingSettings: Sendable, Equatable {
    /// `direction`: `nil` when absent (the component's abilities and the OPTIONS probe decide).
    public var directions: Set<String>?
    /// `route`, default `/{name}`.
    public var route: String
    /// `forwardTo`: output bindings that receive every input message instead of the app.
    public var forwardTo: [String]
    /// `maxConcurrency`: messages of one stream delivered at once (1 keeps per-partition order).
    public var maxConcurrency: Int

    public init(component: Component) throws(ResourceProblem) {
        let md = component.metadata
        func problem(_ key: String, _ message: String) -> ResourceProblem {
            ResourceProblem(SourceLocation(file: component.location.file, line: md.item(key)?.line ?? component.location.line),
                            "binding '\(component.name)': \(message)")
        }
        if let d = md["direction"], !d.trimmingSpaces.isEmpty {
            let parts = Set(d.split(separator: ",").map { String($0).trimmingSpaces.lowercased() })
            guard parts.isSubset(of: ["input", "output"]) else { throw problem("direction", "direction must be input, output or \"input, output\", not '\(d)'") }
            directions = parts
        } else {
            directions = nil
        }
        let r = md["route"].flatMap { $0.isEmpty ? nil : $0 } ?? "/\(component.name)"
        route = r.hasPrefix("/") ? r : "/" + r
        forwardTo = (md["forwardTo"] ?? "").split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        if let c = md["maxConcurrency"], !c.isEmpty {
            guard let n = Int(c), (1...1024).contains(n) else { throw problem("maxConcurrency", "maxConcurrency must be an integer from 1 to 1024, not '\(c)'") }
            maxConcurrency = n
        } else {
            maxConcurrency = 1
        }
        if forwardTo.contains(component.name) { throw problem("forwardTo", "forwardTo cannot name the binding itself") }
    }

    /// Input is read without asking the app (explicit `direction: input`, or a bridge).
    public var readsWithoutProbe: Bool { directions?.contains("input") == true || !forwardTo.isEmpty }
    public var inputAllowed: Bool { directions?.contains("input") ?? true }
    public var outputAllowed: Bool { directions?.contains("output") ?? true }
}
