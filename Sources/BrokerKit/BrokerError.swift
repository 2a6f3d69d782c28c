/// A failure reported by a broker adapter.
public struct BrokerError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// The broker did not confirm the publish or is unreachable; trying again may work.
        case unavailable
        /// The broker refused the request (too large, bad topic, bad option); retrying will not help.
        case rejected
        /// The adapter is closed or shutting down.
        case closed
        /// The component configuration is invalid.
        case configuration
        /// The broker cannot do this at all (listing a topic on MQTT).
        case unsupported
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// True when the same operation may succeed if tried again.
    public var isRetriable: Bool { kind == .unavailable }

    public var description: String { message }
}
