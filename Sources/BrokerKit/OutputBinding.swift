/// One call of an output binding (`POST /v1.0/bindings/{name}` or gRPC `InvokeBinding`).
public struct BindingRequest: Sendable {
    public var operation: String
    /// The bytes the component writes (over HTTP: the request's `data` as compact JSON).
    public var data: [UInt8]
    public var metadata: [String: String]

    public init(operation: String, data: [UInt8], metadata: [String: String] = [:]) {
        self.operation = operation
        self.data = data
        self.metadata = metadata
    }
}

/// What an output binding answered: `data` becomes a 200 body (`nil` means 204), `metadata`
/// becomes `metadata.<key>` response headers.
public struct BindingResponse: Sendable {
    public var data: [UInt8]?
    public var metadata: [String: String]

    public init(data: [UInt8]? = nil, metadata: [String: String] = [:]) {
        self.data = data
        self.metadata = metadata
    }
}

/// A failed binding call; `metadata` still reaches the caller (the HTTP binding's `statusCode`).
public struct BindingError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var metadata: [String: String]
    /// True when calling again may succeed (the outbound Resiliency policy retries only these).
    public var isRetriable: Bool
    /// The remote HTTP status, matched against a retry policy's `httpStatusCodes`.
    public var httpStatus: Int?

    public init(_ message: String, metadata: [String: String] = [:], isRetriable: Bool = true, httpStatus: Int? = nil) {
        self.message = message
        self.metadata = metadata
        self.isRetriable = isRetriable
        self.httpStatus = httpStatus
    }

    public init(_ error: BrokerError) {
        self.init(error.message, isRetriable: error.isRetriable)
    }

    public var description: String { message }
}

/// The write side of a binding component: raw bytes out, no CloudEvent envelope.
public protocol OutputBinding: Sendable {
    /// Operations `invoke` accepts (`create`, `get`, …), as Dapr lists them in its error message.
    var operations: [String] { get }
    /// Performs one operation; returns once the target confirmed it (delivery report, publisher
    /// confirm, PUBACK, PubAck, command reply, HTTP answer).
    func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse
}

/// The read side of a binding component: each stream hands out raw messages of one source
/// (topic, queue, subject, schedule) with the source's metadata, to be settled exactly once:
/// acknowledged only after the app (or every `forwardTo` target) accepted the message.
public protocol InputBinding: Sendable {
    /// Starts reading; `window` is how many unsettled messages each stream may hand out.
    func read(window: Int) async throws(BrokerError) -> [DeliveryStream]
    /// Messages waiting at the source, where the source can tell (Kafka lag, queue depth, stream lag).
    func backlog() async -> Backlog?
}

extension InputBinding {
    public func backlog() async -> Backlog? { nil }
}

/// A loaded binding component: its input side, its output side, or both.
public struct BindingComponent: Sendable {
    public var name: String
    public var type: String
    public var input: (any InputBinding)?
    public var output: (any OutputBinding)?
    /// Releases the component's connections and threads.
    public var close: @Sendable () async -> Void

    public init(name: String, type: String, input: (any InputBinding)?, output: (any OutputBinding)?,
                close: @escaping @Sendable () async -> Void) {
        self.name = name
        self.type = type
        self.input = input
        self.output = output
        self.close = close
    }
}
