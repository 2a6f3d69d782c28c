/// An `App` resource (`apiVersion: courier/v1alpha1`): one application Courier serves in gateway
/// mode — its own consumer group (its id), connection pool, concurrency limit and subscriptions.
/// `--app-id`/`--app-port` declare one such app implicitly.
public struct AppSpec: Sendable, Equatable {
    /// Where the app listens.
    public struct Address: Sendable, Equatable {
        public var scheme: String
        public var host: String
        public var port: Int

        public init(scheme: String, host: String, port: Int) {
            self.scheme = scheme
            self.host = host
            self.port = port
        }

        public var url: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    }

    /// A token given literally or read from a secret store.
    public enum Token: Sendable, Equatable {
        case value(String)
        case secret(SecretKeyRef, line: Int)
    }

    /// The app id: consumer group, scopes, CloudEvent source, metric label.
    public var id: String
    public var address: Address
    /// `http` (default) or `grpc` (Dapr's AppCallback service).
    public var protocolName: String
    /// For an `https://` baseUrl: a PEM file of the CA(s) that sign the app's certificate, trusted
    /// instead of the system's roots. The certificate is always verified (chain and name).
    public var caFile: String?
    /// What the app presents to Courier as `dapr-api-token`: its calls then act as this app.
    public var apiToken: Token?
    /// What Courier sends to the app as `dapr-api-token`.
    public var appToken: Token?
    /// Deliveries in flight to this app; -1 for no limit beyond each subscription's window.
    public var maxConcurrency: Int
    /// `healthCheck`: probe `GET path` every `intervalSeconds` (timeout `timeoutMilliseconds`);
    /// `threshold` failures in a row pause the app's subscriptions until it answers again.
    public struct HealthCheck: Sendable, Equatable {
        public var path: String
        public var intervalSeconds: Double
        public var timeoutMilliseconds: Int
        public var threshold: Int

        public init(path: String = "/healthz", intervalSeconds: Double = 5, timeoutMilliseconds: Int = 500, threshold: Int = 3) {
            self.path = path
            self.intervalSeconds = intervalSeconds
            self.timeoutMilliseconds = timeoutMilliseconds
            self.threshold = threshold
        }
    }

    public var healthCheck: HealthCheck?
    /// `auth.secretStore`: where the tokens' `secretKeyRef`s are read from.
    public var secretStore: String?
    public var location: SourceLocation

    public init(id: String, address: Address, protocolName: String = "http", caFile: String? = nil, apiToken: Token? = nil, appToken: Token? = nil,
                maxConcurrency: Int = -1, healthCheck: HealthCheck? = nil, secretStore: String? = nil,
                location: SourceLocation = SourceLocation(file: "", line: 0)) {
        self.id = id
        self.address = address
        self.protocolName = protocolName
        self.caFile = caFile
        self.apiToken = apiToken
        self.appToken = appToken
        self.maxConcurrency = maxConcurrency
        self.healthCheck = healthCheck
        self.secretStore = secretStore
        self.location = location
    }

    /// The literal value of a token (secrets are resolved to values when resources load).
    public static func literal(_ token: Token?) -> String? {
        if case .value(let v)? = token { return v }
        return nil
    }
}
