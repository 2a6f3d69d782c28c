/// One message on its way into a broker: the bytes to store (normally a CloudEvent envelope)
/// and the publish metadata the component may use (keys, headers, TTL, routing keys).
public struct BrokerMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
    /// `application/cloudevents+json` for envelopes; `nil` for raw payloads.
    public var contentType: String?
    public var metadata: [String: String]

    public init(topic: String, payload: [UInt8], contentType: String? = nil, metadata: [String: String] = [:]) {
        self.topic = topic
        self.payload = payload
        self.contentType = contentType
        self.metadata = metadata
    }
}
