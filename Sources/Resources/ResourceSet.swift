/// Everything loaded from the resource paths: for the flag app and every `App`.
public struct ResourceSet: Sendable {
    public var components: [Component] = []
    /// `App` resources (gateway mode).
    public var apps: [AppSpec] = []
    public var subscriptions: [SubscriptionSpec] = []
    public var resiliencies: [ResiliencySpec] = []
    public var configuration: ConfigurationSpec?
    /// Problems found; loading failed if any is not a warning.
    public var problems: [ResourceProblem] = []

    public init() {}

    /// The declarative subscriptions that apply to app `id` (no scopes, or scopes naming it).
    public func subscriptions(for id: String) -> [SubscriptionSpec] {
        subscriptions.filter { $0.scopes.isEmpty || $0.scopes.contains(id) }
    }

    /// The resiliency policies that apply to app `id`.
    public func resiliencies(for id: String) -> [ResiliencySpec] {
        resiliencies.filter { $0.scopes.isEmpty || $0.scopes.contains(id) }
    }

    /// Each App's `apiToken` by app id (secrets already resolved).
    public var appTokens: [String: String] {
        Dictionary(apps.compactMap { app in AppSpec.literal(app.apiToken).map { (app.id, $0) } }) { first, _ in first }
    }

    /// Problems that are errors, not warnings.
    public var errors: [ResourceProblem] { problems.filter { !$0.isWarning } }
}

/// A `Configuration` resource (the `--config` file). Courier reads its feature list and
/// tracing sampling rate; other sections are accepted and ignored.
public struct ConfigurationSpec: Sendable {
    public var name: String
    public var features: [String: Bool]
    public var samplingRate: String?

    public init(name: String, features: [String: Bool] = [:], samplingRate: String? = nil) {
        self.name = name
        self.features = features
        self.samplingRate = samplingRate
    }
}
