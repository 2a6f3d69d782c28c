/// A Resiliency circuit breaker (spec §11).
public struct CircuitBreakerPolicy: Sendable, Equatable {
    /// Requests let through while half-open.
    public var maxRequests: Int
    /// Seconds after which closed-state counts reset; 0 = never.
    public var interval: Double
    /// Seconds spent open before trying half-open.
    public var timeout: Double
    public var trip: TripCondition

    public init(maxRequests: Int = 1, interval: Double = 0, timeout: Double = 60,
                trip: TripCondition = TripCondition(variable: .consecutiveFailures, op: .greater, value: 5)) {
        self.maxRequests = maxRequests
        self.interval = interval
        self.timeout = timeout
        self.trip = trip
    }
}

/// The breaker's `trip` expression. Dapr evaluates it as CEL; Courier accepts the comparison form
/// every example uses (`consecutiveFailures > 8`), optionally joined with `&&` or `||`.
public struct TripCondition: Sendable, Equatable {
    public enum Variable: String, Sendable, CaseIterable {
        case requests, totalSuccesses, totalFailures, consecutiveSuccesses, consecutiveFailures
    }
    public enum Op: String, Sendable { case greater = ">", greaterEqual = ">=", less = "<", lessEqual = "<=", equal = "==", notEqual = "!=" }

    public var clauses: [(variable: Variable, op: Op, value: Int)]
    /// True: all clauses must hold (`&&`); false: any (`||`).
    public var conjunction: Bool

    public init(variable: Variable, op: Op, value: Int) {
        clauses = [(variable, op, value)]
        conjunction = true
    }

    /// Parses the expression; `nil` when it is outside the supported form.
    public init?(_ text: String) {
        let usesOr = text.contains("||")
        if usesOr && text.contains("&&") { return nil }
        let parts = usesOr ? text.components(separatedBy: "||") : text.components(separatedBy: "&&")
        var clauses: [(Variable, Op, Int)] = []
        for part in parts {
            let tokens = part.split(separator: " ", omittingEmptySubsequences: true)
            guard tokens.count == 3, let variable = Variable(rawValue: String(tokens[0])),
                  let op = Op(rawValue: String(tokens[1])), let value = Int(tokens[2]) else { return nil }
            clauses.append((variable, op, value))
        }
        guard !clauses.isEmpty else { return nil }
        self.clauses = clauses
        self.conjunction = !usesOr
    }

    /// Evaluates the condition over the breaker counts.
    public func holds(_ counts: [Variable: Int]) -> Bool {
        let results = clauses.map { clause -> Bool in
            let v = counts[clause.variable] ?? 0
            switch clause.op {
            case .greater: return v > clause.value
            case .greaterEqual: return v >= clause.value
            case .less: return v < clause.value
            case .lessEqual: return v <= clause.value
            case .equal: return v == clause.value
            case .notEqual: return v != clause.value
            }
        }
        return conjunction ? results.allSatisfy { $0 } : results.contains(true)
    }

    public static func == (lhs: TripCondition, rhs: TripCondition) -> Bool {
        lhs.conjunction == rhs.conjunction && lhs.clauses.count == rhs.clauses.count
            && zip(lhs.clauses, rhs.clauses).allSatisfy { $0.variable == $1.variable && $0.op == $1.op && $0.value == $1.value }
    }
}

import Foundation
