import CloudEvents
import Routing

/// Parses declarative `Subscription` resources, v1alpha1 (`route`) and v2alpha1 (`routes`).
enum SubscriptionParser {
    static func parse(_ doc: YAMLNode) throws(ResourceProblem) -> SubscriptionSpec {
        let apiVersion = try doc.optionalString("apiVersion") ?? "dapr.io/v2alpha1"
        guard apiVersion == "dapr.io/v1alpha1" || apiVersion == "dapr.io/v2alpha1" else {
            throw doc.problem("Subscription: apiVersion '\(apiVersion)' is not supported (use dapr.io/v2alpha1 or dapr.io/v1alpha1)")
        }
        let name = try doc.field("metadata")?.optionalString("name") ?? ""
        let label = name.isEmpty ? "Subscription" : "Subscription '\(name)'"
        guard let spec = doc.field("spec"), spec.isMapping else { throw doc.problem("\(label): 'spec' is required") }
        let pubsub = try spec.requiredString("pubsubname", in: label)
        let topic = try spec.requiredString("topic", in: label)
        var rules: [RouteRule] = []
        var defaultPath: String?
        if let routes = spec.field("routes"), !routes.isNull {
            guard routes.isMapping else { throw routes.problem("\(label): 'routes' must be a mapping with 'rules' and 'default'") }
            defaultPath = try routes.optionalString("default")
            if let list = routes.field("rules"), !list.isNull {
                guard let items = list.sequenceItems else { throw list.problem("\(label): 'routes.rules' must be a list") }
                for item in items {
                    let match = try item.optionalString("match") ?? ""
                    let path = try item.requiredString("path", in: "\(label) rule")
                    if !match.trimmingSpaces.isEmpty {
                        do throws(CELError) {
                            _ = try CELProgram(match)
                        } catch {
                            throw (item.field("match") ?? item).problem("\(label): routing rule '\(match)': \(error)")
                        }
                    }
                    rules.append(RouteRule(match: match, path: path))
                }
            }
        }
        let route = try spec.optionalString("route")
        let all = SubscriptionSpec.rules(from: rules, defaultPath: defaultPath, route: route)
        guard !all.isEmpty else { throw spec.problem("\(label): no route: set 'routes.default', 'routes.rules' or 'route'") }
        var bulk = BulkSubscribeOptions()
        if let b = spec.field("bulkSubscribe"), !b.isNull {
            bulk.enabled = try b.bool("enabled") ?? false
            if let n = try b.int("maxMessagesCount") {
                guard n > 0 else { throw b.problem("\(label): bulkSubscribe.maxMessagesCount must be positive") }
                bulk.maxMessagesCount = n
            }
            if let n = try b.int("maxAwaitDurationMs") {
                guard n >= 0 else { throw b.problem("\(label): bulkSubscribe.maxAwaitDurationMs must not be negative") }
                bulk.maxAwaitDurationMs = n
            }
        }
        let deadLetter = try spec.optionalString("deadLetterTopic")
        return SubscriptionSpec(
            name: name, pubsubName: pubsub, topic: topic, rules: all,
            deadLetterTopic: (deadLetter?.isEmpty ?? true) ? nil : deadLetter,
            metadata: try spec.stringMap("metadata"), bulkSubscribe: bulk,
            scopes: try doc.stringList("scopes"), origin: .declarative, location: doc.location)
    }
}
