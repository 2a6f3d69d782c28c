import CloudEvents
import DaprProto
import Delivery
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import Resources
import ServiceLifecycle
import SwiftProtobuf

/// Courier as the client of the app's `AppCallback` service (`--app-protocol grpc`), over one
/// plaintext HTTP/2 connection. As a lifecycle service it runs the connection until shutdown;
/// calls made before it connects wait for it. Answers follow spec §3.8.
public final class AppCallbackClient: AppCallbackChannel, Service {
    public let address: String
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    let apiToken: String?
    let logger: Logger

    public init(host: String, port: Int, apiToken: String?, logger: Logger) throws {
        address = "\(host):\(port)"
        client = GRPCClient(transport: try .http2NIOPosix(target: .dns(host: host, port: port), transportSecurity: .plaintext))
        self.apiToken = apiToken
        self.logger = logger
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await client.runConnections()
        } onGracefulShutdown: {
            self.client.beginGracefulShutdown()
        }
    }

    /// Closes the connection to the app (its `run` then returns): for an app removed while running.
    public func stop() { client.beginGracefulShutdown() }

    var callback: Dapr_Proto_Runtime_V1_AppCallback.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }

    func metadata(trace: TraceContext? = nil) -> Metadata {
        var metadata = Metadata()
        if let apiToken { metadata.addString(apiToken, forKey: "dapr-api-token") }
        if let trace {
            metadata.addString(trace.traceparent, forKey: "traceparent")
            if !trace.traceState.isEmpty { metadata.addString(trace.traceState, forKey: "tracestate") }
        }
        return metadata
    }

    static func options(timeout: Double) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = .milliseconds(Int64(min(max(timeout, 0.001), 86_400) * 1000))
        return options
    }

    // MARK: Subscriptions

    public func listTopicSubscriptions() async throws -> [SubscriptionSpec] {
        let response: Dapr_Proto_Runtime_V1_ListTopicSubscriptionsResponse
        do {
            response = try await callback.listTopicSubscriptions(Google_Protobuf_Empty(), metadata: metadata(), options: Self.options(timeout: 10))
        } catch let error as RPCError where error.code == .unimplemented {
            return []
        } catch let error as RPCError where error.code != .unavailable && error.code != .deadlineExceeded {
            logger.error("ListTopicSubscriptions failed; no programmatic subscriptions loaded: \(error)")
            return []
        }
        do {
            return try response.subscriptions.map(Self.subscription)
        } catch {
            logger.error("ListTopicSubscriptions returned an invalid subscription; none loaded: \(error)")
            return []
        }
    }

    struct Invalid: Error, CustomStringConvertible { var description: String }

    /// A `TopicSubscription` as Courier's subscription. The default path stays as declared, even
    /// empty (a gRPC app looks its handler up by pubsub, topic and path); it catches every event
    /// no rule matched, and is the only route when there are no rules.
    static func subscription(_ t: Dapr_Proto_Runtime_V1_TopicSubscription) throws -> SubscriptionSpec {
        guard !t.pubsubName.isEmpty, !t.topic.isEmpty else { throw Invalid(description: "pubsub_name and topic are required") }
        var rules = t.routes.rules.map { RouteRule(match: $0.match, path: $0.path) }
        do throws(RouteTable.Invalid) {
            _ = try RouteTable(rules: rules)
        } catch {
            throw Invalid(description: "\(t.pubsubName)/\(t.topic): \(error.description)")
        }
        if rules.isEmpty || !t.routes.default.isEmpty { rules.append(RouteRule(match: "", path: t.routes.default)) }
        var bulk = BulkSubscribeOptions()
        if t.hasBulkSubscribe {
            bulk.enabled = t.bulkSubscribe.enabled
            if t.bulkSubscribe.maxMessagesCount > 0 { bulk.maxMessagesCount = Int(min(t.bulkSubscribe.maxMessagesCount, 100_000)) }
            if t.bulkSubscribe.maxAwaitDurationMs > 0 { bulk.maxAwaitDurationMs = Int(min(t.bulkSubscribe.maxAwaitDurationMs, 3_600_000)) }
        }
        return SubscriptionSpec(pubsubName: t.pubsubName, topic: t.topic, rules: rules,
                                deadLetterTopic: t.deadLetterTopic.isEmpty ? nil : t.deadLetterTopic,
                                metadata: t.metadata, bulkSubscribe: bulk, origin: .programmatic)
    }

    // MARK: Topic events

    public func onTopicEvent(_ event: [UInt8], path: String, subscription: SubscriptionSpec, trace: TraceContext?,
                             timeout: Double) async -> (DeliveryOutcome, AppAnswer) {
        var request = TopicEventConversion.request(payload: event, topic: subscription.topic, pubsub: subscription.pubsubName)
        request.path = path
        do {
            let response = try await callback.onTopicEvent(request, metadata: metadata(trace: trace), options: Self.options(timeout: timeout))
            let outcome = Self.outcome(response.status)
            return (outcome, AppAnswer(grpcCode: "OK", error: outcome == .success ? nil : "status \(response.status)"))
        } catch let error as RPCError where error.code == .unimplemented {
            logger.error("the app answered OnTopicEvent with UNIMPLEMENTED for \(subscription.pubsubName)/\(subscription.topic) path '\(path)'; the event is dropped (as in Dapr)")
            return (.drop, AppAnswer(grpcCode: "UNIMPLEMENTED", error: error.message))
        } catch let error as RPCError {
            return (.retry(status: nil, reason: "OnTopicEvent failed: \(error)"),
                    AppAnswer(grpcCode: Self.codeName(error.code), error: error.message, timedOut: error.code == .deadlineExceeded))
        } catch {
            return (.retry(status: nil, reason: "OnTopicEvent failed: \(error)"), AppAnswer(error: "\(error)"))
        }
    }

    /// The canonical name of a gRPC status code (`UNAVAILABLE`).
    static func codeName(_ code: RPCError.Code) -> String {
        var name = ""
        for c in String(describing: code) {
            if c.isUppercase && !name.isEmpty { name.append("_") }
            name.append(c.uppercased())
        }
        return name
    }

    static func outcome(_ status: Dapr_Proto_Runtime_V1_TopicEventResponse.TopicEventResponseStatus) -> DeliveryOutcome {
        switch status {
        case .success: return .success
        case .drop: return .drop
        case .retry: return .retry(status: nil, reason: "app asked to retry")
        case .UNRECOGNIZED(let n): return .retry(status: nil, reason: "app returned unknown status \(n)")
        }
    }

    public func onBulkTopicEvent(_ entries: [AppBulkEntry], path: String, subscription: SubscriptionSpec,
                                 timeout: Double) async -> [String: DeliveryOutcome] {
        var request = Dapr_Proto_Runtime_V1_TopicEventBulkRequest()
        request.id = EventID.uuid()
        request.topic = subscription.topic
        request.pubsubName = subscription.pubsubName
        request.path = path
        request.type = "com.dapr.event.sent.bulk"
        request.metadata = ["pubsubName": subscription.pubsubName]
        request.entries = entries.map { entry in
            var e = Dapr_Proto_Runtime_V1_TopicEventBulkRequestEntry()
            e.entryID = entry.id
            e.metadata = entry.metadata
            if subscription.rawPayload {
                e.bytes = Data(entry.event)
                e.contentType = "application/octet-stream"
            } else {
                let single = TopicEventConversion.request(payload: entry.event, topic: subscription.topic, pubsub: subscription.pubsubName)
                var ce = Dapr_Proto_Runtime_V1_TopicEventCERequest()
                ce.id = single.id
                ce.source = single.source
                ce.type = single.type
                ce.specVersion = single.specVersion
                ce.dataContentType = single.dataContentType
                ce.data = single.data
                ce.extensions = single.extensions
                e.cloudEvent = ce
                e.contentType = ContentType.cloudEventsJSON
            }
            return e
        }
        func all(_ outcome: DeliveryOutcome) -> [String: DeliveryOutcome] {
            Dictionary(uniqueKeysWithValues: entries.map { ($0.id, outcome) })
        }
        let options = Self.options(timeout: timeout)
        let response: Dapr_Proto_Runtime_V1_TopicEventBulkResponse
        do {
            do {
                response = try await callback.onBulkTopicEvent(request, metadata: metadata(), options: options)
            } catch let error as RPCError where error.code == .unimplemented {
                let alpha = Dapr_Proto_Runtime_V1_AppCallbackAlpha.Client(wrapping: client)
                response = try await alpha.onBulkTopicEventAlpha1(request, metadata: metadata(), options: options)
            }
        } catch let error as RPCError where error.code == .unimplemented {
            logger.error("the app implements neither OnBulkTopicEvent nor OnBulkTopicEventAlpha1 for \(subscription.pubsubName)/\(subscription.topic); \(entries.count) events dropped (as in Dapr)")
            return all(.drop)
        } catch {
            return all(.retry(status: nil, reason: "OnBulkTopicEvent failed: \(error)"))
        }
        var out = all(.retry(status: nil, reason: "no status for the entry in the bulk response"))
        for status in response.statuses where out[status.entryID] != nil {
            out[status.entryID] = Self.outcome(status.status)
        }
        return out
    }

    // MARK: Health

    /// Dapr's app health check over gRPC: `AppCallbackHealthCheck/HealthCheck` answered within
    /// `timeout` (its request and answer are empty messages, so they are sent as `Empty`).
    public func healthCheck(timeout: Double) async -> Bool {
        let descriptor = MethodDescriptor(fullyQualifiedService: "dapr.proto.runtime.v1.AppCallbackHealthCheck", method: "HealthCheck")
        do {
            return try await client.unary(request: ClientRequest(message: Google_Protobuf_Empty(), metadata: metadata()), descriptor: descriptor,
                                          serializer: ProtobufSerializer<Google_Protobuf_Empty>(),
                                          deserializer: ProtobufDeserializer<Google_Protobuf_Empty>(),
                                          options: Self.options(timeout: timeout)) { response in
                _ = try response.message
                return true
            }
        } catch {
            return false
        }
    }

    // MARK: Input bindings

    public func listInputBindings() async throws -> [String] {
        do {
            return try await callback.listInputBindings(Google_Protobuf_Empty(), metadata: metadata(), options: Self.options(timeout: 10)).bindings
        } catch let error as RPCError where error.code == .unimplemented {
            return []
        }
    }

    public func onBindingEvent(name: String, data: [UInt8], metadata eventMetadata: [String: String], timeout: Double) async throws -> AppBindingReply {
        var request = Dapr_Proto_Runtime_V1_BindingEventRequest()
        request.name = name
        request.data = Data(data)
        request.metadata = eventMetadata
        let trace = eventMetadata["traceparent"].flatMap { TraceContext(traceparent: $0, traceState: eventMetadata["tracestate"] ?? "") }
        let response = try await callback.onBindingEvent(request, metadata: metadata(trace: trace), options: Self.options(timeout: timeout))
        return AppBindingReply(to: response.to, data: Array(response.data), parallel: response.concurrency == .parallel)
    }
}
