/// One routing rule: a CEL `match` (empty = always) and the app path it sends to.
public struct RouteRule: Sendable, Equatable, Codable {
    public var match: String
    public var path: String

    public init(match: String, path: String) {
        self.match = match
        self.path = path
    }
}

/// Bulk-subscribe settings (spec §3.7).
public struct BulkSubscribeOptions: Sendable, Equatable {
    public var enabled: Bool
    public var maxMessagesCount: Int
    public var maxAwaitDurationMs: Int

    public init(enabled: Bool = false, maxMessagesCount: Int = 100, maxAwaitDurationMs: Int = 1000) {
        self.enabled = enabled
        self.maxMessagesCount = maxMessagesCount
        self.maxAwaitDurationMs = maxAwaitDurationMs
    }
}

/// A subscription of the app to one topic, from a `Subscription` file or `GET /dapr/subscribe`.
public struct SubscriptionSpec: Sendable {
    /// Where it came from, as the metadata API names it.
    public enum Origin: String, Sendable { case declarative = "DECLARATIVE", programmatic = "PROGRAMMATIC", streaming = "STREAMING" }

    public var name: String
    public var pubsubName: String
    public var topic: String
    /// Rules in order; the default route (if any) is the last rule, with an empty match.
    public var rules: [RouteRule]
    public var deadLetterTopic: String?
    public var metadata: [String: String]
    public var bulkSubscribe: BulkSubscribeOptions
    /// App ids this declarative subscription applies to; empty = all.
    public var scopes: [String]
    public var origin: Origin
    public var location: SourceLocation?

    public init(name: String = "", pubsubName: String, topic: String, rules: [RouteRule], deadLetterTopic: String? = nil,
                metadata: [String: String] = [:], bulkSubscribe: BulkSubscribeOptions = BulkSubscribeOptions(),
                scopes: [String] = [], origin: Origin, location: SourceLocation? = nil) {
        self.name = name
        self.pubsubName = pubsubName
        self.topic = topic
        self.rules = rules
        self.deadLetterTopic = deadLetterTopic
        self.metadata = metadata
        self.bulkSubscribe = bulkSubscribe
        self.scopes = scopes
        self.origin = origin
        self.location = location
    }

    /// Builds the rule list as Dapr does: rules in order, then `routes.default`, else `route`.
    public static func rules(from rules: [RouteRule], defaultPath: String?, route: String?) -> [RouteRule] {
        var out = rules
        if let d = defaultPath, !d.isEmpty {
            out.append(RouteRule(match: "", path: d))
        } else if let r = route, !r.isEmpty {
            out.append(RouteRule(match: "", path: r))
        }
        return out
    }

    /// `metadata.rawPayload` parsed as a Go bool.
    public var rawPayload: Bool {
        metadata.first { $0.key.lowercased() == "rawpayload" }.flatMap { GoBool.parse($0.value) } ?? false
    }
}

/// Go's `strconv.ParseBool`.
public enum GoBool {
    public static func parse(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }
}

extension SubscriptionSpec {
    /// Which subscription this is: an app has at most one per pub/sub and topic.
    public var key: String { pubsubName + "\u{0}" + topic }

    /// Whether `other` delivers the same way (where it was written down does not count).
    public func hasSameDefinition(as other: SubscriptionSpec) -> Bool {
        name == other.name && pubsubName == other.pubsubName && topic == other.topic && rules == other.rules
            && deadLetterTopic == other.deadLetterTopic && metadata == other.metadata && bulkSubscribe == other.bulkSubscribe
            && scopes == other.scopes && origin == other.origin
    }
}
