import CloudEvents
import Resources

/// How Courier reaches the app: HTTP (`--app-protocol http`) or Dapr's gRPC `AppCallback`
/// service (`--app-protocol grpc`). Subscriptions, bulk deliveries and input bindings pick the
/// matching call; the response rules are the same (spec §3.5, §3.7, §3.8, §9.2).
public enum AppTarget: Sendable {
    case http(AppChannel)
    case grpc(any AppCallbackChannel)

    /// Where the app listens, for log lines.
    public var address: String {
        switch self {
        case .http(let channel): return channel.baseURL
        case .grpc(let callback): return callback.address
        }
    }
}

/// The app's `dapr.proto.runtime.v1.AppCallback` service, as a client (implemented in GRPCAPI).
/// Every answer is already interpreted: gRPC errors and statuses become `DeliveryOutcome`s.
public protocol AppCallbackChannel: Sendable {
    /// `host:port` of the app, for log lines.
    var address: String { get }

    /// `ListTopicSubscriptions`. An app that does not implement it has none (`[]`); throws
    /// when the app cannot be reached, so the caller waits and asks again.
    func listTopicSubscriptions() async throws -> [SubscriptionSpec]

    /// `OnTopicEvent` with a stored CloudEvent (or a raw payload for `rawPayload` subscriptions)
    /// routed to `path` (as the app declared it, possibly empty). UNIMPLEMENTED is a drop, any
    /// other error a retry, the response status as for HTTP; with the answer (its gRPC code).
    func onTopicEvent(_ event: [UInt8], path: String, subscription: SubscriptionSpec, trace: TraceContext?,
                      timeout: Double) async -> (DeliveryOutcome, AppAnswer)

    /// `OnBulkTopicEvent` (falling back to `AppCallbackAlpha.OnBulkTopicEventAlpha1` when the
    /// app does not implement it): one outcome per entry id.
    func onBulkTopicEvent(_ entries: [AppBulkEntry], path: String, subscription: SubscriptionSpec,
                          timeout: Double) async -> [String: DeliveryOutcome]

    /// `ListInputBindings`: the input bindings the app handles. Throws when unreachable.
    func listInputBindings() async throws -> [String]

    /// `OnBindingEvent`; throws when the app failed the event (it goes back to the source).
    func onBindingEvent(name: String, data: [UInt8], metadata: [String: String], timeout: Double) async throws -> AppBindingReply
}

/// One entry of a bulk delivery.
public struct AppBulkEntry: Sendable {
    public var id: String
    public var event: [UInt8]
    public var metadata: [String: String]

    public init(id: String, event: [UInt8], metadata: [String: String]) {
        self.id = id
        self.event = event
        self.metadata = metadata
    }
}

/// What a gRPC app answered to an input-binding event: output bindings to send `data` to
/// (`to`, Dapr's reply routing), one after another or in parallel.
public struct AppBindingReply: Sendable {
    public var to: [String]
    public var data: [UInt8]
    public var parallel: Bool

    public init(to: [String] = [], data: [UInt8] = [], parallel: Bool = false) {
        self.to = to
        self.data = data
        self.parallel = parallel
    }
}
