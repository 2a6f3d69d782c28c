import BrokerKit
import Logging
import Resources

/// `bindings.kafka`: the pub/sub adapter's producer and consumers carrying raw bytes. Output
/// `create` writes to `publishTopic` (record key from `partitionKey` or `key`, other metadata as
/// headers) and returns after the delivery report; input reads every topic of `topics` in group
/// `consumerGroup` (default the app id) and commits an offset only once the app accepted it.
public final class KafkaBinding: InputBinding, OutputBinding {
    let broker: KafkaBroker
    let publishTopic: String?
    let topics: [String]
    let group: String

    public init(component: Component, appID: String, logger: Logger) throws(BrokerError) {
        broker = try KafkaBroker(component: component, logger: logger)
        let md = component.metadata
        publishTopic = md["publishTopic"].flatMap { $0.isEmpty ? nil : $0 }
        topics = (md["topics"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        group = md["consumerGroup"].flatMap { $0.isEmpty ? nil : $0 } ?? appID
    }

    /// Checks the metadata without connecting.
    public static func validate(_ component: Component) throws(BrokerError) {
        try KafkaBroker.validate(component)
        let md = component.metadata
        if (md["topics"] ?? "").isEmpty && (md["publishTopic"] ?? "").isEmpty {
            throw OptionReader(component).fail("set topics (input), publishTopic (output) or both")
        }
    }

    /// Whether each direction is configured.
    public var canRead: Bool { !topics.isEmpty }
    public var canWrite: Bool { publishTopic != nil }

    public func connect() async throws(BrokerError) { try await broker.connect() }

    public var operations: [String] { ["create"] }

    public func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse {
        guard let publishTopic else { throw BindingError("publishTopic is not set on this binding", isRetriable: false) }
        var metadata = request.metadata
        if let key = metadata.removeValue(forKey: "key"), metadata["partitionKey"] == nil { metadata["partitionKey"] = key }
        do {
            try await broker.publish(BrokerMessage(topic: publishTopic, payload: request.data, metadata: metadata))
        } catch {
            throw BindingError(error)
        }
        return BindingResponse()
    }

    public func read(window: Int) async throws(BrokerError) -> [DeliveryStream] {
        var streams: [DeliveryStream] = []
        for topic in topics {
            streams.append(try await broker.subscribe(SubscribeRequest(topic: topic, group: group, window: window)))
        }
        return streams
    }

    public func backlog() async -> Backlog? {
        var total = Backlog(undelivered: 0, inFlight: 0)
        for topic in topics {
            guard let b = try? await broker.backlog(topic: topic, group: group) else { return nil }
            total.undelivered += b.undelivered
            total.inFlight += b.inFlight
        }
        return total
    }

    public func close() async { await broker.close() }
}
