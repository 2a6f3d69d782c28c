import Synchronization

/// What an adapter remembers about each delivery it handed out, by the `Delivery.token` it issued:
/// a stream id, a delivery tag, a message handle. Settling takes the entry out exactly once.
public final class DeliveryTokens<Value: Sendable>: Sendable {
    private let state = Mutex<(next: UInt64, byToken: [UInt64: Value])>((1, [:]))

    public init() {}

    /// Remembers `value` under a new token.
    public func issue(_ value: Value) -> UInt64 {
        state.withLock { s in
            let token = s.next
            s.next += 1
            s.byToken[token] = value
            return token
        }
    }

    /// A token that remembers nothing (for deliveries the broker already considers settled).
    public func issueUntracked() -> UInt64 {
        state.withLock { s in
            defer { s.next += 1 }
            return s.next
        }
    }

    /// The value for `token`, removed; `nil` when it was taken already.
    public func take(_ token: UInt64) -> Value? { state.withLock { $0.byToken.removeValue(forKey: token) } }

    /// Deliveries handed out and not yet settled.
    public var count: Int { state.withLock { $0.byToken.count } }
}
