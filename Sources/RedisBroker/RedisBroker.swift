import BrokerKit
import Foundation
import Logging
import Resources

/// `pubsub.redis`: Redis Streams through hiredis. XADD with `data` and `metadata` fields (Dapr's
/// layout), one consumer group per consumerID created from id 0, XREADGROUP, XACK on success,
/// XCLAIM for nacks, XAUTOCLAIM for entries left pending by a crashed consumer.
public final class RedisBroker: MessageBroker {
    public let name: String
    public let type: String
    public var features: Set<BrokerFeature> { [] }

    let options: RedisOptions
    let commands: RedisConnection
    let logger: Logger
    /// Every subscription's acknowledgements, flushed before the command connection closes.
    let acks: RedisAckBatcher

    public init(component: Component, logger: Logger) throws(BrokerError) {
        name = component.name
        type = component.type
        options = try RedisOptions(component: component)
        commands = RedisConnection(endpoint: options.endpoint, label: "commands-\(component.name)")
        acks = RedisAckBatcher(commands: commands, logger: logger)
        self.logger = logger
    }

    /// Checks the component's metadata without connecting (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) { _ = try RedisOptions(component: component) }

    /// Checks the server answers; used at start-up so a wrong address fails loudly.
    public func connect() async throws(BrokerError) {
        if case .error(let e) = try await commands.send("PING") { throw BrokerError(.unavailable, "redis PING: \(e)") }
    }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        var args: [[UInt8]] = [Array("XADD".utf8), Array(message.topic.utf8)]
        if let maxLen = options.maxLenApprox { args += [Array("MAXLEN".utf8), [UInt8(ascii: "~")], Array(String(maxLen).utf8)] }
        args += [[UInt8(ascii: "*")], Array("data".utf8), message.payload]
        if !message.metadata.isEmpty { args += [Array("metadata".utf8), MetadataCodec.encode(message.metadata)] }
        let reply = try await commands.send(args)
        if case .error(let e) = reply { throw BrokerError(.rejected, "redis XADD: \(e)") }
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        try await Self.ensureGroup(commands, topic: request.topic, group: request.group)
        let subscription = RedisSubscription(topic: request.topic, group: request.group, options: options, commands: commands,
                                             acks: acks, logger: logger)
        subscription.start()
        return DeliveryStream(source: subscription)
    }

    static func ensureGroup(_ commands: RedisConnection, topic: String, group: String) async throws(BrokerError) {
        let reply = try await commands.send("XGROUP", "CREATE", topic, group, "0", "MKSTREAM")
        if case .error(let e) = reply, !e.hasPrefix("BUSYGROUP") { throw BrokerError(.unavailable, "redis XGROUP CREATE: \(e)") }
    }

    /// XRANGE from after `cursor` (an entry id): no consumer group is read or moved.
    public func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [StoredMessage] {
        let reply = try await commands.send("XRANGE", topic, cursor.map { "(" + $0 } ?? "-", "+", "COUNT", String(min(limit, 1_000)))
        if case .error(let e) = reply { throw BrokerError(.rejected, "redis XRANGE: \(e)") }
        return RedisSubscription.entries(reply, attempt: 1).map { StoredMessage(cursor: $0.id, payload: $0.payload, metadata: $0.metadata) }
    }

    /// XDEL of one entry (already gone: nothing to do). A group that had it pending skips it.
    public var removesMessages: Bool { true }

    public func remove(topic: String, cursor: String) async throws(BrokerError) {
        if case .error(let e) = try await commands.send("XDEL", topic, cursor) { throw BrokerError(.rejected, "redis XDEL: \(e)") }
    }

    /// Lag (entries not yet delivered to the group) and pending (delivered, not acknowledged).
    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        let reply = try await commands.send("XINFO", "GROUPS", topic)
        if case .error = reply { return Backlog(undelivered: 0, inFlight: 0) }
        for g in reply.array ?? [] {
            guard let fields = g.array else { continue }
            var info: [String: RedisReply] = [:]
            var i = 0
            while i + 1 < fields.count { if let k = fields[i].text { info[k] = fields[i + 1] }; i += 2 }
            guard info["name"]?.text == group else { continue }
            var pending: Int64 = 0, lag: Int64 = 0
            if case .integer(let p)? = info["pending"] { pending = p }
            if case .integer(let l)? = info["lag"] { lag = l }
            return Backlog(undelivered: lag, inFlight: pending)
        }
        if case .integer(let n) = try await commands.send("XLEN", topic) { return Backlog(undelivered: n, inFlight: 0) }
        return Backlog(undelivered: 0, inFlight: 0)
    }

    public func isHealthy() async -> Bool {
        (try? await commands.send("PING")) == .status("PONG")
    }

    public func close() async {
        await acks.flush()
        await commands.close()
    }
}
