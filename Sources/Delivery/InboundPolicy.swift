import CloudEvents
import Resources

/// Runs delivery attempts under a pub/sub component's inbound Resiliency policy: retries with
/// back-off, a circuit breaker, and DROP ending the loop at once (spec §3.6, §11).
public struct InboundPolicy: Sendable {
    public let resolved: ResolvedPolicy
    public let breaker: CircuitBreaker?

    public init(resolved: ResolvedPolicy, breakers: CircuitBreakerRegistry) {
        self.resolved = resolved
        if let cb = resolved.circuitBreaker, let name = resolved.circuitBreakerName {
            breaker = breakers.breaker(named: name, policy: cb)
        } else {
            breaker = nil
        }
    }

    /// Attempt timeout in seconds (the policy's, else `fallback`).
    public func timeout(fallback: Double) -> Double { resolved.timeout ?? fallback }

    /// Calls `attempt` until it succeeds, drops, or the policy gives up; returns the last outcome
    /// and how many retries were made. Returns early if the task is cancelled.
    public func run(onRetry: (DeliveryOutcome) -> Void = { _ in },
                    _ attempt: () async -> DeliveryOutcome) async -> (outcome: DeliveryOutcome, retries: Int) {
        let started = RFC3339.currentUnixSeconds()
        var retries = 0
        while true {
            let outcome: DeliveryOutcome
            let now = RFC3339.currentUnixSeconds()
            if let breaker, !breaker.allow(now: now) {
                outcome = .retry(status: nil, reason: "circuit breaker is open")
            } else {
                outcome = await attempt()
                breaker?.record(success: !outcome.isRetry, now: RFC3339.currentUnixSeconds())
            }
            guard case .retry(let status, _) = outcome, let retry = resolved.retry else { return (outcome, retries) }
            guard retry.shouldRetry(httpStatus: status),
                  let delay = retry.delay(beforeRetry: retries + 1, elapsed: RFC3339.currentUnixSeconds() - started,
                                          random: Double.random(in: 0..<1)) else { return (outcome, retries) }
            onRetry(outcome)
            do {
                try await Task.sleep(for: .seconds(delay))
            } catch {
                return (outcome, retries)
            }
            retries += 1
        }
    }
}

extension DeliveryOutcome {
    /// True for `.retry`.
    public var isRetry: Bool {
        if case .retry = self { return true }
        return false
    }
}
