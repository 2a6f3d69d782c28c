import Synchronization

/// Who calls the API: each token a caller may present (`dapr-api-token`), resolved to an identity
/// once per request. `DAPR_API_TOKEN` is the operator's token (it calls as the `--app-id` app);
/// each `App`'s `apiToken` makes calls as that app, which then publishes under its own id
/// (CloudEvent `source`, `publishingScopes`, `allowedTopics`, component `scopes`).
public final class CallerTokens: Sendable {
    /// A known caller.
    public enum Caller: Sendable, Equatable {
        /// `DAPR_API_TOKEN`: acts as the `--app-id` app.
        case operatorToken
        /// An `App`'s `apiToken`.
        case app(String)

        /// The app id to act as; `nil` for the operator (the `--app-id` app's own).
        public var appID: String? {
            if case .app(let id) = self { return id }
            return nil
        }
    }

    private let operatorToken: String?
    /// The apps' tokens; replaced whole when the configuration is reloaded.
    private let apps: Mutex<[(token: String, id: String)]>

    /// `apps` maps app ids to their tokens.
    public init(operatorToken: String?, apps: [String: String] = [:]) {
        self.operatorToken = operatorToken.flatMap { $0.isEmpty ? nil : $0 }
        self.apps = Mutex(Self.table(apps))
    }

    private static func table(_ apps: [String: String]) -> [(token: String, id: String)] {
        apps.filter { !$0.value.isEmpty }.map { ($0.value, $0.key) }.sorted { $0.id < $1.id }
    }

    /// Replaces the apps' tokens (a reloaded configuration).
    public func update(apps: [String: String]) { self.apps.withLock { $0 = Self.table(apps) } }

    /// Whether API calls (health aside) must carry a known token.
    public var required: Bool { operatorToken != nil || !apps.withLock { $0.isEmpty } }

    /// The caller presenting `sent`, or `nil` for an unknown token. Every known token is compared
    /// in full, without returning early, so timing tells neither which one nor how much matched.
    public func caller(presenting sent: String) -> Caller? {
        var found: Caller?
        if let operatorToken, APITokenCheck.matches(sent, operatorToken) { found = .operatorToken }
        for entry in apps.withLock({ $0 }) where APITokenCheck.matches(sent, entry.token) { found = .app(entry.id) }
        return found
    }

    /// The app the current request acts as (set by the API's token check around the request's
    /// work); `nil`: the `--app-id` app.
    @TaskLocal public static var callerAppID: String?
}
