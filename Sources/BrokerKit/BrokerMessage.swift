/// One message on its way into a broker: the bytes to store (normally a CloudEvent envelope)
/// and the publish metadata the component may use (keys, headers, TTL, routing keys).
public struct BrokerMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    /// `application/cloudevents+json` for envelopes; `nil` for raw payloads.
    public var contentType: String?
    public var metadata: [String: String]
    /// What a broker that drops duplicate publishes (JetStream's `Nats-Msg-Id`) tells them
    /// apart by, when not the CloudEvent id: a dead letter or a redrive of an event is a new
    /// message with the same id.
    public var deduplicationID: String?

    public init(topic: String, payload: [UInt8], contentType: String? = nil, metadata: [String: String] = [:], deduplicationID: String? = nil) {
        self.topic = topic
        self.payload = payload
        self.contentType = contentType
        self.metadata = metadata
        self.deduplicationID = deduplicationID
    }
}
