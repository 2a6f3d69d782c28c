import Resources

/// Chooses the app path for an event from a subscription's rules (first match wins, the
/// default route is the last rule).
public struct RouteTable: Sendable {
    /// A rule that cannot be used.
    public struct Unsupported: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public let rules: [RouteRule]

    /// Fails for rules with a non-empty CEL `match`: Courier rejects them until its CEL engine lands,
    /// rather than routing differently from Dapr.
    public init(rules: [RouteRule]) throws(Unsupported) {
        for rule in rules where !rule.match.trimmingCharacters(in: .whitespaces).isEmpty {
            throw Unsupported(description: "routing rule 'match: \(rule.match)' needs CEL expressions, which Courier does not evaluate yet; remove the rule or use a default route")
        }
        self.rules = rules
    }

    /// The path for an event, or `nil` when no rule matches.
    public func route(envelope: [UInt8]) -> String? {
        rules.first.map { $0.path.hasPrefix("/") ? $0.path : "/" + $0.path }
    }
}

import Foundation
