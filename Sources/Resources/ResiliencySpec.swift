/// A `Resiliency` resource: named policies and the targets that use them (spec §11).
public struct ResiliencySpec: Sendable {
    /// Policy names a target refers to.
    public struct TargetRef: Sendable, Equatable {
        public var timeout: String?
        public var retry: String?
        public var circuitBreaker: String?
        public init(timeout: String? = nil, retry: String? = nil, circuitBreaker: String? = nil) {
            self.timeout = timeout
            self.retry = retry
            self.circuitBreaker = circuitBreaker
        }
    }

    public var name: String
    public var scopes: [String]
    public var timeouts: [String: Double] = [:]
    public var retries: [String: RetryPolicy] = [:]
    public var circuitBreakers: [String: CircuitBreakerPolicy] = [:]
    /// `targets.components.<name>.inbound` / `.outbound`.
    public var componentInbound: [String: TargetRef] = [:]
    public var componentOutbound: [String: TargetRef] = [:]
    /// `targets.apps.<appID>`.
    public var apps: [String: TargetRef] = [:]
    public var location: SourceLocation?

    public init(name: String, scopes: [String] = []) {
        self.name = name
        self.scopes = scopes
    }
}

/// The policies that apply to one call site, after Dapr's precedence rules.
public struct ResolvedPolicy: Sendable, Equatable {
    public var timeout: Double?
    public var retry: RetryPolicy?
    public var circuitBreaker: CircuitBreakerPolicy?
    /// The breaker's identity, so calls through the same target share one breaker.
    public var circuitBreakerName: String?

    public init(timeout: Double? = nil, retry: RetryPolicy? = nil, circuitBreaker: CircuitBreakerPolicy? = nil, circuitBreakerName: String? = nil) {
        self.timeout = timeout
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.circuitBreakerName = circuitBreakerName
    }
}

/// Direction of a component call.
public enum ComponentDirection: String, Sendable { case inbound = "Inbound", outbound = "Outbound" }

extension Array where Element == ResiliencySpec {
    /// The policy for component `name` of `category` (`pubsub`, `bindings`) in `direction`:
    /// the named target, then `Default<Category>Component<Direction>…Policy`,
    /// `DefaultComponent<Direction>…Policy`, `DefaultComponent…Policy`, `Default…Policy`.
    public func policy(component name: String, category: String, direction: ComponentDirection) -> ResolvedPolicy {
        let categoryName = category == "pubsub" ? "Pubsub" : category == "bindings" ? "Binding" : category.capitalized
        let defaults = ["Default\(categoryName)Component\(direction.rawValue)", "DefaultComponent\(direction.rawValue)",
                        "DefaultComponent", "Default"]
        var result = ResolvedPolicy()
        for spec in self {
            let target = direction == .inbound ? spec.componentInbound[name] : spec.componentOutbound[name]
            if result.timeout == nil, let t = target?.timeout { result.timeout = spec.timeouts[t] }
            if result.retry == nil, let r = target?.retry { result.retry = spec.retries[r] }
            if result.circuitBreaker == nil, let c = target?.circuitBreaker, let cb = spec.circuitBreakers[c] {
                result.circuitBreaker = cb
                result.circuitBreakerName = "\(spec.name)/\(c)/\(name)/\(direction.rawValue)"
            }
        }
        for prefix in defaults {
            for spec in self {
                if result.timeout == nil { result.timeout = spec.timeouts["\(prefix)TimeoutPolicy"] }
                if result.retry == nil { result.retry = spec.retries["\(prefix)RetryPolicy"] }
                if result.circuitBreaker == nil, let cb = spec.circuitBreakers["\(prefix)CircuitBreakerPolicy"] {
                    result.circuitBreaker = cb
                    result.circuitBreakerName = "\(spec.name)/\(prefix)/\(name)/\(direction.rawValue)"
                }
            }
        }
        return result
    }
}
