import CloudEvents
import Resources

/// Reads a component's metadata values with the checks every adapter needs; a bad value is a
/// configuration error naming the component, the key and what was expected.
public struct OptionReader: Sendable {
    public let component: Component

    public init(_ component: Component) { self.component = component }

    public func fail(_ message: String) -> BrokerError { BrokerError(.configuration, "\(component.name): \(message)") }

    /// The value, `nil` when absent or empty.
    public func string(_ key: String) -> String? {
        guard let v = component.metadata[key], !v.isEmpty else { return nil }
        return v
    }

    public func bool(_ key: String) throws(BrokerError) -> Bool? {
        guard let v = string(key) else { return nil }
        guard let b = GoBool.parse(v) else { throw fail("\(key) must be true or false, not '\(v)'") }
        return b
    }

    /// An integer of at least `minimum`.
    public func int(_ key: String, minimum: Int64 = 0) throws(BrokerError) -> Int64? {
        guard let v = string(key) else { return nil }
        guard let n = Int64(v), n >= minimum else { throw fail("\(key) must be an integer of at least \(minimum), not '\(v)'") }
        return n
    }

    /// A Go duration (`10s`, `1m30s`) or a plain number of `plainUnit` seconds (1 = seconds), in seconds.
    public func seconds(_ key: String, plainUnit: Double = 1) throws(BrokerError) -> Double? {
        guard let v = string(key) else { return nil }
        if let n = Double(v), n >= 0 {
            guard n.isFinite, n * plainUnit <= GoDuration.maxSeconds else { throw fail("\(key) is too large: '\(v)'") }
            return n * plainUnit
        }
        guard let s = GoDuration.parseSeconds(v), s >= 0 else { throw fail("\(key) must be a duration such as 10s, not '\(v)'") }
        return s
    }

    /// One of `allowed` (compared case-insensitively), returned lower-cased.
    public func choice(_ key: String, _ allowed: [String]) throws(BrokerError) -> String? {
        guard let v = string(key) else { return nil }
        guard allowed.contains(v.lowercased()) else { throw fail("\(key) must be \(allowed.joined(separator: ", ")), not '\(v)'") }
        return v.lowercased()
    }
}
