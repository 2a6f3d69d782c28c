/// What a subscriber asks a broker for.
public struct SubscribeRequest: Sendable {
    public var topic: String
    /// The consumer group: subscribers with the same group compete, different groups each get
    /// every message. Courier uses the component's `consumerID` (the app id by default).
    public var group: String
    /// Subscription metadata (`metadata:` of the subscription) for adapter options.
    public var metadata: [String: String]
    /// How many deliveries the subscriber may hold unsettled at once (prefetch window).
    public var window: Int

    public init(topic: String, group: String, metadata: [String: String] = [:], window: Int = 64) {
        self.topic = topic
        self.group = group
        self.metadata = metadata
        self.window = window
    }
}
