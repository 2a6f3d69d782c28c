import BrokerKit
import CloudEvents
import Delivery
import Resources
import Synchronization

/// The loaded binding components: output invocation under each component's outbound Resiliency
/// policy (spec §9.1, §11), the list for the metadata API, and the input bindings' backlog. A
/// reload replaces components in it one by one while invocations go on.
public final class BindingHub: Sendable {
    /// Why an invocation failed, in Dapr's terms (the HTTP and gRPC APIs map it to their errors).
    public enum Failure: Error, Sendable {
        case notFound(String)
        case missingOperation
        case unsupported(binding: String, operation: String, supported: [String])
        case failed(BindingError)

        /// Dapr's message detail after `error invoking output binding <name>: `.
        public var detail: String {
            switch self {
            case .notFound(let name): return "couldn't find output binding \(name)"
            case .missingOperation: return "operation field is missing from request"
            case .unsupported(let name, let op, let supported):
                return "binding \(name) does not support operation \(op). supported operations:\(supported.joined(separator: " "))"
            case .failed(let error): return error.message
            }
        }

        /// Response metadata to return even on failure.
        public var metadata: [String: String] {
            if case .failed(let error) = self { return error.metadata }
            return [:]
        }
    }

    /// A component as the metadata API lists it.
    public struct Info: Sendable {
        public var name: String
        public var type: String
        public var version: String
        public var capabilities: [String]
    }

    /// A loaded binding component: its definition, its instance, and which directions it serves.
    public typealias Entry = (component: Component, binding: BindingComponent, settings: BindingSettings)

    private struct Output {
        var binding: any OutputBinding
        var policy: InboundPolicy
    }

    private struct Table {
        var entries: [String: Entry] = [:]
        var outputs: [String: Output] = [:]
        /// Components being replaced: invocations wait here until the new instance is in.
        var held: [String: AppAvailability] = [:]
    }

    private let table: Mutex<Table>
    private let breakers = CircuitBreakerRegistry()
    let metrics: BindingMetrics

    /// `settings` decides which loaded components serve output (`direction`).
    public init(components: [Entry], resiliencies: [ResiliencySpec], metrics: BindingMetrics) {
        self.metrics = metrics
        table = Mutex(Table())
        replace(Set(components.map(\.component.name)), with: components, resiliencies: resiliencies)
    }

    /// Every loaded component, by name.
    public var entries: [String: Entry] { table.withLock { $0.entries } }

    /// The input side of component `name`, if it is loaded and reads.
    public func input(named name: String) -> (any InputBinding)? {
        table.withLock { $0.entries[name]?.binding.input }
    }

    /// Puts `entries` in place of the components named in `names` (a name without an entry is
    /// removed); each output gets its outbound policy from `resiliencies`. Invocations already
    /// under way finish on the instance they started with, and held ones go to the new instance.
    public func replace(_ names: Set<String>, with entries: [Entry], resiliencies: [ResiliencySpec]) {
        let released = table.withLock { t -> [AppAvailability] in
            for name in names {
                t.entries[name] = nil
                t.outputs[name] = nil
            }
            for entry in entries where names.contains(entry.component.name) {
                t.entries[entry.component.name] = entry
                if let output = entry.binding.output, entry.settings.outputAllowed {
                    t.outputs[entry.component.name] = Output(binding: output, policy: policy(entry.component.name, resiliencies))
                }
            }
            return names.compactMap { t.held.removeValue(forKey: $0) }
        }
        for gate in released { gate.open() }
    }

    /// Gives every output its outbound policy from `resiliencies` (a changed Resiliency).
    public func apply(resiliencies: [ResiliencySpec]) {
        table.withLock { t in
            for name in t.outputs.keys { t.outputs[name]?.policy = policy(name, resiliencies) }
        }
    }

    /// Invocations of the components named in `names` wait from now until `replace` puts their
    /// new instance in (while the old one closes before the new can open).
    public func hold(_ names: Set<String>) {
        table.withLock { t in
            for name in names where t.held[name] == nil {
                let gate = AppAvailability()
                gate.close()
                t.held[name] = gate
            }
        }
    }

    private func policy(_ name: String, _ resiliencies: [ResiliencySpec]) -> InboundPolicy {
        InboundPolicy(resolved: resiliencies.policy(component: name, category: "bindings", direction: .outbound), breakers: breakers)
    }

    /// The components for `GET /v1.0/metadata`.
    public var infos: [Info] {
        table.withLock { t in
            t.entries.values.sorted { $0.component.name < $1.component.name }.map { Self.info($0) }
        }
    }

    /// How the metadata API lists `entry`.
    public static func info(_ entry: Entry) -> Info {
        var capabilities: [String] = []
        if entry.binding.input != nil && entry.settings.inputAllowed { capabilities.append("INPUT_BINDING") }
        if entry.binding.output != nil && entry.settings.outputAllowed { capabilities.append("OUTPUT_BINDING") }
        return Info(name: entry.component.name, type: entry.component.type, version: entry.component.version, capabilities: capabilities)
    }

    /// The output of `name` and the scopes it serves, once any replacement under way is done.
    private func output(_ name: String) async -> (Output, scopes: [String])? {
        while true {
            let (found, gate) = table.withLock { t -> ((Output, [String])?, AppAvailability?) in
                if let gate = t.held[name] { return (nil, gate) }
                guard let output = t.outputs[name] else { return (nil, nil) }
                return ((output, t.entries[name]?.component.scopes ?? []), nil)
            }
            guard let gate else { return found }
            guard await gate.waitUntilOpen() else { return nil }
        }
    }

    /// Invokes output binding `name`; retries a retriable failure per its outbound policy. For a
    /// `caller` (an app id) the component's `scopes` must admit it, or the binding does not exist for it.
    public func invoke(_ name: String, _ request: BindingRequest, caller: String? = nil) async throws(Failure) -> BindingResponse {
        guard let (output, scopes) = await output(name) else { throw .notFound(name) }
        if let caller, !scopes.isEmpty, !scopes.contains(caller) { throw .notFound(name) }
        let binding = output.binding, policy = output.policy
        guard !request.operation.isEmpty else { throw .missingOperation }
        guard binding.operations.contains(request.operation) else {
            throw .unsupported(binding: name, operation: request.operation, supported: binding.operations)
        }
        let started = RFC3339.currentUnixSeconds()
        var result: Result<BindingResponse, BindingError> = .failure(BindingError("not attempted"))
        _ = await policy.run {
            do throws(BindingError) {
                result = .success(try await binding.invoke(request))
                return .success
            } catch {
                result = .failure(error)
                return error.isRetriable ? .retry(status: error.httpStatus, reason: error.message) : .drop
            }
        }
        let seconds = RFC3339.currentUnixSeconds() - started
        switch result {
        case .success(let response):
            metrics.output(component: name, operation: request.operation, success: true, seconds: seconds)
            return response
        case .failure(let error):
            metrics.output(component: name, operation: request.operation, success: false, seconds: seconds)
            throw .failed(error)
        }
    }

    /// The backlog of input binding `name` where its source can tell (Kafka lag, queue depth,
    /// stream lag, spool); `nil` for an unknown binding or a source that cannot.
    public func backlog(_ name: String) async -> Backlog? {
        guard let input = input(named: name) else { return nil }
        return await input.backlog()
    }

    /// Closes every component.
    public func close() async {
        for entry in entries.values { await entry.binding.close() }
    }
}
