import Delivery
import Logging

/// Everything `courier run` accepts; the names follow daprd's flags.
public struct CourierOptions: Sendable {
    public var appID = "courier"
    public var appPort: Int?
    public var appChannelAddress = "127.0.0.1"
    public var appProtocol = "http"
    public var httpPort = 3500
    /// Address the HTTP API listens on.
    public var httpAddress = "127.0.0.1"
    public var grpcPort = 50001
    public var metricsPort = 9090
    public var resourcesPaths = ["./bindings", "./routes"]
    public var configPath: String?
    public var appMaxConcurrency = -1
    public var maxBodyBytes = 4 * 1024 * 1024
    public var gracefulShutdownSeconds = 5.0
    public var logLevel: Logger.Level = .info
    public var logAsJSON = false
    /// Where durable embedded stores live unless a component sets `path` / `dataDir`.
    public var dataDirectory = "./data"
    /// How often the `courier_pubsub_backlog` gauge is refreshed.
    public var backlogReportInterval: Duration = .seconds(10)
    public var apiToken: String?
    public var appAPIToken: String?
    /// The namespace (`NAMESPACE`): what `{namespace}` expands with, the prefix of a
    /// namespace-scoped pub/sub's topics, and the `namespace` label of metrics.
    public var namespace: String?
    /// How often KEDA's `StreamIsActive` looks at the backlog (it pushes only changes).
    public var scalerStreamInterval: Duration = .seconds(5)
    /// A keep-alive connection to the HTTP API with no request for this long is closed.
    public var httpIdleTimeout: Duration = .seconds(60)
    /// Once its first byte arrived, a request's head must be complete within this (slowloris).
    public var httpRequestHeadTimeout: Duration = .seconds(10)
    /// Most connections the HTTP API keeps open; also kept below the open-file limit.
    public var httpMaxConnections = 4096

    /// Dapr's `--enable-app-health-check` and its settings, for the flag app; `nil`: off.
    public var appHealthCheck: AppHealthProbe.Settings?

    public init() {}

    /// Turns the flag app's health checks on (`--enable-app-health-check` and its settings).
    public mutating func enableAppHealthCheck(path: String, intervalSeconds: Double, timeoutMilliseconds: Int, threshold: Int) {
        appHealthCheck = .init(path: path, interval: .milliseconds(Int(intervalSeconds * 1000)),
                               timeout: .milliseconds(timeoutMilliseconds), threshold: threshold)
    }
}
