import BrokerKit
import CloudEvents
import Delivery
import Resources

/// The loaded binding components: output invocation under each component's outbound Resiliency
/// policy (spec §9.1, §11), the list for the metadata API, and the input bindings' backlog.
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

    public let components: [String: BindingComponent]
    let outputs: [String: (binding: any OutputBinding, policy: InboundPolicy)]
    let versions: [String: String]
    /// Each component's `scopes` (empty: every app may use it).
    let appScopes: [String: [String]]
    let metrics: BindingMetrics

    /// `settings` decides which loaded components serve output (`direction`).
    public init(components: [(component: Component, binding: BindingComponent, settings: BindingSettings)],
                resiliencies: [ResiliencySpec], metrics: BindingMetrics) {
        let breakers = CircuitBreakerRegistry()
        var all: [String: BindingComponent] = [:]
        var outputs: [String: (any OutputBinding, InboundPolicy)] = [:]
        var versions: [String: String] = [:]
        var appScopes: [String: [String]] = [:]
        for (component, binding, settings) in components {
            all[component.name] = binding
            versions[component.name] = component.version
            appScopes[component.name] = component.scopes
            if let output = binding.output, settings.outputAllowed {
                let policy = InboundPolicy(resolved: resiliencies.policy(component: component.name, category: "bindings", direction: .outbound),
                                           breakers: breakers)
                outputs[component.name] = (output, policy)
            }
        }
        self.components = all
        self.outputs = outputs
        self.versions = versions
        self.appScopes = appScopes
        self.metrics = metrics
    }

    /// The components for `GET /v1.0/metadata`.
    public var infos: [Info] {
        components.values.sorted { $0.name < $1.name }.map { c in
            var capabilities: [String] = []
            if c.input != nil { capabilities.append("INPUT_BINDING") }
            if outputs[c.name] != nil { capabilities.append("OUTPUT_BINDING") }
            return Info(name: c.name, type: c.type, version: versions[c.name] ?? "v1", capabilities: capabilities)
        }
    }

    /// Invokes output binding `name`; retries a retriable failure per its outbound policy. For a
    /// `caller` (an app id) the component's `scopes` must admit it, or the binding does not exist for it.
    public func invoke(_ name: String, _ request: BindingRequest, caller: String? = nil) async throws(Failure) -> BindingResponse {
        guard let (binding, policy) = outputs[name] else { throw .notFound(name) }
        if let caller, let scopes = appScopes[name], !scopes.isEmpty, !scopes.contains(caller) { throw .notFound(name) }
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
        guard let input = components[name]?.input else { return nil }
        return await input.backlog()
    }

    /// Closes every component.
    public func close() async {
        for c in components.values { await c.close() }
    }
}
