import CloudEvents
/// Parses `Resiliency` resources.
enum ResiliencyParser {
    static func parse(_ doc: YAMLNode) throws(ResourceProblem) -> ResiliencySpec {
        let name = try doc.field("metadata")?.optionalString("name") ?? "resiliency"
        var out = ResiliencySpec(name: name, scopes: try doc.stringList("scopes"))
        out.location = doc.location
        guard let spec = doc.field("spec"), spec.isMapping else { throw doc.problem("Resiliency '\(name)': 'spec' is required") }
        if let policies = spec.field("policies") {
            for (key, node) in policies.field("timeouts")?.mappingEntries ?? [] {
                guard let text = node.scalar, let seconds = GoDuration.parseSeconds(text), seconds >= 0 else {
                    throw node.problem("Resiliency '\(name)': timeout '\(key)' must be a duration such as 5s")
                }
                out.timeouts[key] = seconds
            }
            for (key, node) in policies.field("retries")?.mappingEntries ?? [] {
                out.retries[key] = try parseRetry(node, name: key)
            }
            for (key, node) in policies.field("circuitBreakers")?.mappingEntries ?? [] {
                out.circuitBreakers[key] = try parseBreaker(node, name: key)
            }
        }
        if let targets = spec.field("targets") {
            for (component, node) in targets.field("components")?.mappingEntries ?? [] {
                if let inbound = node.field("inbound") { out.componentInbound[component] = try parseRef(inbound, out) }
                if let outbound = node.field("outbound") { out.componentOutbound[component] = try parseRef(outbound, out) }
            }
            for (app, node) in targets.field("apps")?.mappingEntries ?? [] {
                out.apps[app] = try parseRef(node, out)
            }
        }
        return out
    }

    static func parseRetry(_ node: YAMLNode, name: String) throws(ResourceProblem) -> RetryPolicy {
        var policy = RetryPolicy()
        if let kind = try node.optionalString("policy") {
            guard let k = RetryPolicy.Kind(rawValue: kind) else { throw node.problem("retry '\(name)': policy must be constant or exponential") }
            policy.kind = k
        }
        if let d = try node.duration("duration") { policy.duration = d }
        if let d = try node.duration("maxInterval") { policy.maxInterval = d }
        if let n = try node.int("maxRetries") {
            guard n >= -1 else { throw node.problem("retry '\(name)': maxRetries must be -1 (unlimited) or more") }
            policy.maxRetries = n
        }
        if let matching = node.field("matching") {
            if let text = try matching.optionalString("httpStatusCodes") {
                guard let set = StatusCodeSet(text) else { throw matching.problem("retry '\(name)': httpStatusCodes must look like 429,500-599") }
                policy.httpStatusCodes = set
            }
            if let text = try matching.optionalString("gRPCStatusCodes") {
                guard let set = StatusCodeSet(text) else { throw matching.problem("retry '\(name)': gRPCStatusCodes must look like 1-4,8-11") }
                policy.grpcStatusCodes = set
            }
        }
        return policy
    }

    static func parseBreaker(_ node: YAMLNode, name: String) throws(ResourceProblem) -> CircuitBreakerPolicy {
        var policy = CircuitBreakerPolicy()
        if let n = try node.int("maxRequests") { policy.maxRequests = max(n, 1) }
        if let d = try node.duration("interval") { policy.interval = d }
        if let d = try node.duration("timeout") { policy.timeout = d }
        if let trip = try node.optionalString("trip") {
            guard let condition = TripCondition(trip) else {
                throw node.problem("circuit breaker '\(name)': trip '\(trip)' is not supported; use comparisons such as 'consecutiveFailures > 5'")
            }
            policy.trip = condition
        }
        return policy
    }

    static func parseRef(_ node: YAMLNode, _ spec: ResiliencySpec) throws(ResourceProblem) -> ResiliencySpec.TargetRef {
        let ref = ResiliencySpec.TargetRef(
            timeout: try node.optionalString("timeout"),
            retry: try node.optionalString("retry"),
            circuitBreaker: try node.optionalString("circuitBreaker"))
        if let t = ref.timeout, spec.timeouts[t] == nil { throw node.problem("Resiliency '\(spec.name)': no timeout policy named '\(t)'") }
        if let r = ref.retry, spec.retries[r] == nil { throw node.problem("Resiliency '\(spec.name)': no retry policy named '\(r)'") }
        if let c = ref.circuitBreaker, spec.circuitBreakers[c] == nil { throw node.problem("Resiliency '\(spec.name)': no circuit breaker named '\(c)'") }
        return ref
    }
}
