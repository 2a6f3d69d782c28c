/// Topic scoping of a pub/sub component (spec §7): `publishingScopes`, `subscriptionScopes`,
/// `allowedTopics`, `protectedTopics`.
public struct TopicScopes: Sendable, Equatable {
    public enum Operation: Sendable { case publish, subscribe }

    public var publishing: [String: [String]]
    public var subscription: [String: [String]]
    public var allowedTopics: [String]
    public var protectedTopics: [String]

    public init(metadata: ComponentMetadata) {
        publishing = Self.parseScopes(metadata["publishingScopes"])
        subscription = Self.parseScopes(metadata["subscriptionScopes"])
        allowedTopics = Self.parseList(metadata["allowedTopics"])
        protectedTopics = Self.parseList(metadata["protectedTopics"])
    }

    /// Whether `appID` may perform `operation` on `topic`.
    public func isAllowed(topic: String, appID: String, operation: Operation) -> Bool {
        if !allowedTopics.isEmpty && !allowedTopics.contains(topic) { return false }
        let scopes = operation == .publish ? publishing : subscription
        guard let granted = scopes[appID] else { return !protectedTopics.contains(topic) }
        return granted.contains(topic)
    }

    /// `app1=t1,t2;app2=` → `[app1: [t1, t2], app2: [""]]` (spaces removed).
    static func parseScopes(_ value: String?) -> [String: [String]] {
        guard let value = value?.filter({ $0 != " " }), !value.isEmpty else { return [:] }
        var out: [String: [String]] = [:]
        for entry in value.split(separator: ";") {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let app = parts.first, !app.isEmpty else { continue }
            let topics = parts.count > 1 ? parts[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : [""]
            out[String(app), default: []].append(contentsOf: topics)
        }
        return out
    }

    static func parseList(_ value: String?) -> [String] {
        guard let value = value?.filter({ $0 != " " }), !value.isEmpty else { return [] }
        return value.split(separator: ",").map(String.init)
    }
}
