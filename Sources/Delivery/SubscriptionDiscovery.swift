import CloudEvents
import Logging
import NIOCore
import Resources

/// Reads the app's programmatic subscriptions from `GET /dapr/subscribe` (spec §3.1) and merges
/// them with declarative ones (spec §3.2 precedence).
public enum SubscriptionDiscovery {
    /// A problem in the app's answer.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Waits until the app accepts connections, then asks for its subscriptions: `GET
    /// /dapr/subscribe` over HTTP (404 means none), `ListTopicSubscriptions` over gRPC
    /// (UNIMPLEMENTED means none). Other failures are logged and yield none, as in Dapr.
    public static func discover(target: AppTarget, logger: Logger, isCancelled: @Sendable () -> Bool = { Task.isCancelled }) async -> [SubscriptionSpec] {
        var waited = 0.0
        while !isCancelled() {
            do {
                guard case .http(let channel) = target else {
                    guard case .grpc(let callback) = target else { return [] }
                    return try await callback.listTopicSubscriptions()
                }
                let response = try await channel.send(method: .GET, path: "/dapr/subscribe", timeout: 10)
                switch response.status {
                case 200:
                    do {
                        return try parse(response.body)
                    } catch {
                        logger.error("GET /dapr/subscribe returned an invalid body: \(error)")
                        return []
                    }
                case 404:
                    return []
                default:
                    logger.error("GET /dapr/subscribe answered HTTP \(response.status); no programmatic subscriptions loaded")
                    return []
                }
            } catch {
                if waited.truncatingRemainder(dividingBy: 10) < 0.5 {
                    logger.info("waiting for the app on \(target.address): \(error)")
                }
                try? await Task.sleep(for: .milliseconds(500))
                waited += 0.5
            }
        }
        return []
    }

    /// Parses the JSON array of subscriptions (field names case-insensitive, as Go decodes them).
    public static func parse(_ body: ByteBuffer) throws -> [SubscriptionSpec] {
        guard body.readableBytes > 0 else { return [] }
        let value = try body.withUnsafeReadableBytes { try JSONParser.parse(Array($0)) }
        guard case .array(let items) = value else { throw Invalid(description: "expected a JSON array") }
        var out: [SubscriptionSpec] = []
        for (index, item) in items.enumerated() {
            guard case .object(let object) = item else { throw Invalid(description: "entry \(index) is not an object") }
            let get = { (key: String) -> JSONValue? in object.first { $0.key.lowercased() == key.lowercased() }?.value }
            guard let pubsub = get("pubsubname")?.stringValue, !pubsub.isEmpty else { throw Invalid(description: "entry \(index): pubsubname is required") }
            guard let topic = get("topic")?.stringValue, !topic.isEmpty else { throw Invalid(description: "entry \(index): topic is required") }
            var rules: [RouteRule] = []
            var defaultPath: String?
            if case .object(let routes)? = get("routes") {
                let r = { (key: String) -> JSONValue? in routes.first { $0.key.lowercased() == key }?.value }
                defaultPath = r("default")?.stringValue
                for rule in r("rules")?.arrayValue ?? [] {
                    guard case .object(let fields) = rule else { continue }
                    let match = fields.first { $0.key.lowercased() == "match" }?.value.stringValue ?? ""
                    let path = fields.first { $0.key.lowercased() == "path" }?.value.stringValue ?? ""
                    rules.append(RouteRule(match: match, path: path))
                }
            }
            var metadata: [String: String] = [:]
            for (k, v) in get("metadata")?.objectValue ?? [:] {
                if let s = v.stringValue { metadata[k] = s }
            }
            var bulk = BulkSubscribeOptions()
            if case .object(let b)? = get("bulkSubscribe") {
                let f = { (key: String) -> JSONValue? in b.first { $0.key.lowercased() == key.lowercased() }?.value }
                bulk.enabled = f("enabled")?.boolValue ?? false
                if let n = f("maxMessagesCount")?.doubleValue, n > 0 { bulk.maxMessagesCount = Int(min(n, 100_000)) }
                if let n = f("maxAwaitDurationMs")?.doubleValue, n >= 0 { bulk.maxAwaitDurationMs = Int(min(n, 3_600_000)) }
            }
            let dlt = get("deadLetterTopic")?.stringValue
            // As in Dapr, a rule that does not compile fails the whole discovery.
            do throws(RouteTable.Invalid) {
                _ = try RouteTable(rules: rules)
            } catch {
                throw Invalid(description: "\(pubsub)/\(topic): \(error.description)")
            }
            out.append(SubscriptionSpec(
                pubsubName: pubsub, topic: topic,
                rules: SubscriptionSpec.rules(from: rules, defaultPath: defaultPath, route: get("route")?.stringValue),
                deadLetterTopic: (dlt?.isEmpty ?? true) ? nil : dlt, metadata: metadata, bulkSubscribe: bulk,
                origin: .programmatic))
        }
        return out
    }

    /// One subscription per (pubsub, topic): the first declarative one, replaced by a programmatic one.
    /// Subscriptions without any rule are dropped.
    public static func merge(declarative: [SubscriptionSpec], programmatic: [SubscriptionSpec], logger: Logger) -> [SubscriptionSpec] {
        var order: [String] = []
        var chosen: [String: SubscriptionSpec] = [:]
        for s in declarative + programmatic {
            guard !s.rules.isEmpty else {
                logger.warning("subscription to \(s.pubsubName)/\(s.topic) has no route; ignored")
                continue
            }
            let key = s.pubsubName + "\u{0}" + s.topic
            if let existing = chosen[key] {
                if existing.origin == .declarative && s.origin == .programmatic { chosen[key] = s }
                continue
            }
            order.append(key)
            chosen[key] = s
        }
        return order.compactMap { chosen[$0] }
    }
}
