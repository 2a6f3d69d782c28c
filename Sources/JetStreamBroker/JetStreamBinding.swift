import BrokerKit
import Logging
import Resources

/// `bindings.jetstream` (Courier's own): output `create` publishes the bytes to `subject` (a
/// per-call `subject` overrides it; other metadata become NATS headers) and answers after the
/// stream's PubAck; input pulls `subject` through the durable consumer `durableName` (default the
/// app id) and acks a message only once the app accepted it. Streams are found as the pub/sub
/// component finds them (`StreamDirectory`).
public final class JetStreamBinding: InputBinding, OutputBinding {
    let broker: JetStreamBroker
    let subject: String?
    let group: String

    public init(component: Component, appID: String, logger: Logger) async throws(BrokerError) {
        broker = try await JetStreamBroker(component: component, logger: logger)
        subject = component.metadata["subject"].flatMap { $0.isEmpty ? nil : $0 }
        group = component.metadata["durableName"].flatMap { $0.isEmpty ? nil : $0 } ?? appID
        guard let subject else { return }
        do throws(BrokerError) {
            // Found (or made) now, so a subject no stream captures fails the start, not the first call.
            _ = try await broker.streams.stream(for: subject)
        } catch {
            await broker.close()
            throw error
        }
    }

    public static func validate(_ component: Component) throws(BrokerError) {
        try JetStreamBroker.validate(component)
    }

    public var canRead: Bool { subject != nil }

    public var operations: [String] { ["create"] }

    public func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse {
        var metadata = request.metadata
        guard let target = metadata.removeValue(forKey: "subject").flatMap({ $0.isEmpty ? nil : $0 }) ?? subject else {
            throw BindingError("no subject: set the component's subject or the call's metadata.subject", isRetriable: false)
        }
        do {
            try await broker.publish(BrokerMessage(topic: target, payload: request.data, metadata: metadata))
        } catch {
            throw BindingError(error)
        }
        return BindingResponse()
    }

    public func read(window: Int) async throws(BrokerError) -> [DeliveryStream] {
        guard let subject else { return [] }
        return [try await broker.subscribe(SubscribeRequest(topic: subject, group: group, window: window))]
    }

    public func backlog() async -> Backlog? {
        guard let subject else { return nil }
        return try? await broker.backlog(topic: subject, group: group)
    }

    public func close() async { await broker.close() }
}
