import Resources
import Synchronization

/// A circuit breaker as a small state machine behind a lock (closed → open → half-open).
public final class CircuitBreaker: Sendable {
    public enum State: String, Sendable { case closed, open, halfOpen = "half-open" }

    struct Machine: Sendable {
        var state: State = .closed
        var counts: [TripCondition.Variable: Int] = [:]
        var openedAt = 0.0
        var countsSince = 0.0
        var halfOpenInFlight = 0

        mutating func allow(policy: CircuitBreakerPolicy, now: Double) -> Bool {
            switch state {
            case .closed:
                if policy.interval > 0 && now - countsSince >= policy.interval {
                    counts = [:]
                    countsSince = now
                }
                return true
            case .open:
                guard now - openedAt >= policy.timeout else { return false }
                state = .halfOpen
                counts = [:]
                halfOpenInFlight = 1
                return true
            case .halfOpen:
                guard halfOpenInFlight < policy.maxRequests else { return false }
                halfOpenInFlight += 1
                return true
            }
        }

        mutating func record(success: Bool, policy: CircuitBreakerPolicy, now: Double) {
            counts[.requests, default: 0] += 1
            if success {
                counts[.totalSuccesses, default: 0] += 1
                counts[.consecutiveSuccesses, default: 0] += 1
                counts[.consecutiveFailures] = 0
            } else {
                counts[.totalFailures, default: 0] += 1
                counts[.consecutiveFailures, default: 0] += 1
                counts[.consecutiveSuccesses] = 0
            }
            switch state {
            case .closed:
                if !success && policy.trip.holds(counts) { open(now) }
            case .halfOpen:
                if !success {
                    open(now)
                } else if counts[.consecutiveSuccesses, default: 0] >= policy.maxRequests {
                    state = .closed
                    counts = [:]
                    countsSince = now
                    halfOpenInFlight = 0
                }
            case .open:
                break
            }
        }

        mutating func open(_ now: Double) {
            state = .open
            openedAt = now
            halfOpenInFlight = 0
            counts = [:]
        }
    }

    public let policy: CircuitBreakerPolicy
    private let machine = Mutex(Machine())

    public init(policy: CircuitBreakerPolicy) {
        self.policy = policy
    }

    /// Whether a call may go through now.
    public func allow(now: Double) -> Bool { machine.withLock { $0.allow(policy: policy, now: now) } }

    /// Records the result of a call that was allowed.
    public func record(success: Bool, now: Double) { machine.withLock { $0.record(success: success, policy: policy, now: now) } }

    public var state: State { machine.withLock { $0.state } }
}

/// One breaker per policy target, shared by every call through it.
public final class CircuitBreakerRegistry: Sendable {
    private let breakers = Mutex<[String: CircuitBreaker]>([:])

    public init() {}

    public func breaker(named name: String, policy: CircuitBreakerPolicy) -> CircuitBreaker {
        breakers.withLock { all in
            if let b = all[name] { return b }
            let b = CircuitBreaker(policy: policy)
            all[name] = b
            return b
        }
    }
}
