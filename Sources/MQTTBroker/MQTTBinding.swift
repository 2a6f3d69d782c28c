import BrokerKit
import Logging
import Resources

/// `bindings.mqtt3`: the pub/sub adapter's client and spool carrying raw bytes. Output `create`
/// publishes to `topic` (per-call `topic` and `retain` override the component's) and answers
/// after the PUBACK; input subscribes `topic` (wildcards allowed), spools each message durably
/// and acknowledges it only once the app accepted it. The client id is `consumerID`, by default
/// `{app id}-{binding name}`, which is also the shared-subscription group, so the binding never
/// competes with a pub/sub subscription of the same app.
public final class MQTTBinding: InputBinding, OutputBinding {
    let broker: MQTTBroker
    let topic: String?
    let group: String

    public init(component: Component, appID: String, dataDirectory: String, logger: Logger) async throws(BrokerError) {
        let own = "\(appID)-\(component.name)"
        broker = try await MQTTBroker(component: component, appID: own, dataDirectory: dataDirectory, logger: logger)
        topic = component.metadata["topic"].flatMap { $0.isEmpty ? nil : $0 }
        group = own
    }

    public static func validate(_ component: Component) throws(BrokerError) {
        try MQTTBroker.validate(component)
        guard let topic = component.metadata["topic"], !topic.isEmpty else { throw OptionReader(component).fail("topic is required") }
    }

    public var canRead: Bool { topic != nil }

    public var operations: [String] { ["create"] }

    public func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse {
        guard let target = request.metadata["topic"].flatMap({ $0.isEmpty ? nil : $0 }) ?? topic else {
            throw BindingError("no topic: set the component's topic or the call's metadata.topic", isRetriable: false)
        }
        guard !target.contains("+") && !target.contains("#") else {
            throw BindingError("cannot publish to a wildcard topic '\(target)'", isRetriable: false)
        }
        do {
            try await broker.publish(BrokerMessage(topic: target, payload: request.data, metadata: request.metadata))
        } catch {
            throw BindingError(error)
        }
        return BindingResponse()
    }

    public func read(window: Int) async throws(BrokerError) -> [DeliveryStream] {
        guard let topic else { return [] }
        return [try await broker.subscribe(SubscribeRequest(topic: topic, group: group, window: window))]
    }

    public func backlog() async -> Backlog? {
        guard let topic else { return nil }
        return try? await broker.backlog(topic: topic, group: group)
    }

    public func close() async { await broker.close() }
}
