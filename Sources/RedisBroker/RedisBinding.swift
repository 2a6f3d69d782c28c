import BrokerKit
import Logging
import Resources

/// `bindings.redis`: output operations on the command connection of the pub/sub adapter —
/// `create` (SET `key`, with `ttlInSeconds` as EX), `get` (GET, or GETDEL with `delete: "true"`;
/// the stored bytes as the response), `delete` (DEL) and `increment` (INCR). Input (Courier's
/// own): the Redis Stream `stream` read by consumer group `consumerGroup` (default the app id);
/// the payload is each entry's `data` field, acknowledged (XACK) once the app accepted it.
public final class RedisBinding: InputBinding, OutputBinding {
    let broker: RedisBroker
    let stream: String?
    let group: String

    public init(component: Component, appID: String, logger: Logger) throws(BrokerError) {
        broker = try RedisBroker(component: component, logger: logger)
        stream = component.metadata["stream"].flatMap { $0.isEmpty ? nil : $0 }
        group = component.metadata["consumerGroup"].flatMap { $0.isEmpty ? nil : $0 } ?? appID
    }

    public static func validate(_ component: Component) throws(BrokerError) { try RedisBroker.validate(component) }

    public var canRead: Bool { stream != nil }

    public func connect() async throws(BrokerError) { try await broker.connect() }

    public var operations: [String] { ["create", "get", "delete", "increment"] }

    public func invoke(_ request: BindingRequest) async throws(BindingError) -> BindingResponse {
        guard let key = request.metadata["key"], !key.isEmpty else {
            throw BindingError("metadata.key is required for operation \(request.operation)", isRetriable: false)
        }
        let k = Array(key.utf8)
        var args: [[UInt8]]
        switch request.operation {
        case "create":
            args = [Array("SET".utf8), k, request.data]
            if let ttl = request.metadata["ttlInSeconds"], !ttl.isEmpty {
                guard let seconds = Int64(ttl), seconds > 0 else {
                    throw BindingError("ttlInSeconds must be a positive integer, not '\(ttl)'", isRetriable: false)
                }
                args += [Array("EX".utf8), Array(String(seconds).utf8)]
            }
        case "get":
            let delete = request.metadata["delete"].flatMap(GoBool.parse) ?? false
            args = [Array((delete ? "GETDEL" : "GET").utf8), k]
        case "delete": args = [Array("DEL".utf8), k]
        case "increment": args = [Array("INCR".utf8), k]
        default: throw BindingError("unsupported operation \(request.operation)", isRetriable: false)
        }
        let reply: RedisReply
        do {
            reply = try await broker.commands.send(args)
        } catch {
            throw BindingError(error)
        }
        switch reply {
        case .error(let e): throw BindingError("redis \(request.operation): \(e)", isRetriable: false)
        case .string(let bytes) where request.operation == "get": return BindingResponse(data: bytes)
        case .null where request.operation == "get": return BindingResponse(data: [])
        default: return BindingResponse()
        }
    }

    public func read(window: Int) async throws(BrokerError) -> [DeliveryStream] {
        guard let stream else { return [] }
        return [try await broker.subscribe(SubscribeRequest(topic: stream, group: group, window: window))]
    }

    public func backlog() async -> Backlog? {
        guard let stream else { return nil }
        return try? await broker.backlog(topic: stream, group: group)
    }

    public func close() async { await broker.close() }
}
