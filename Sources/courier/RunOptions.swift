import ArgumentParser
import Courier
import Foundation
import Logging
import Resources

/// daprd-compatible flags shared by `run` and `demo`.
struct RunOptions: ParsableArguments {
    @Option(name: .customLong("app-id"), help: "The app's id; also the consumer group.")
    var appID = "courier"
    @Option(name: .customLong("app-port"), help: "Port the app listens on; omit for publish-only use.")
    var appPort: Int?
    @Option(name: .customLong("app-channel-address"), help: "Address of the app.")
    var appChannelAddress = "127.0.0.1"
    @Option(name: .customLong("app-protocol"), help: "Protocol toward the app: http, or grpc (Dapr's AppCallback service).")
    var appProtocol = "http"
    @Option(name: .customLong("dapr-http-port"), help: "Port of the HTTP API.")
    var httpPort = 3500
    @Option(name: .customLong("dapr-listen-addresses"), help: "Address the APIs listen on.")
    var listenAddress = "127.0.0.1"
    @Option(name: .customLong("dapr-grpc-port"), help: "Port of the gRPC API (Dapr's runtime service and KEDA's external scaler); 0 serves no gRPC.")
    var grpcPort = 50001
    @Option(name: .customLong("metrics-port"), help: "Port of the Prometheus /metrics endpoint.")
    var metricsPort = 9090
    @Option(name: [.customLong("resources-path"), .customLong("components-path")], help: "Resource file or directory (repeatable).")
    var resourcesPaths: [String] = []
    @Option(name: .customLong("config"), help: "A Configuration resource file.")
    var config: String?
    @Option(name: .customLong("app-max-concurrency"), help: "Most deliveries in flight to the app at once (-1 = unlimited).")
    var appMaxConcurrency = -1
    @Flag(name: .customLong("enable-app-health-check"), help: "Probe the app's health and pause its subscriptions while it is unhealthy.")
    var enableAppHealthCheck = false
    @Option(name: .customLong("app-health-check-path"), help: "Path of the app's health endpoint.")
    var appHealthCheckPath = "/healthz"
    @Option(name: .customLong("app-health-probe-interval"), help: "Seconds between health probes.")
    var appHealthProbeInterval = 5.0
    @Option(name: .customLong("app-health-probe-timeout"), help: "Milliseconds a health probe may take.")
    var appHealthProbeTimeout = 500
    @Option(name: .customLong("app-health-threshold"), help: "Failed probes in a row that make the app unhealthy.")
    var appHealthThreshold = 3
    @Option(name: .customLong("max-body-size"), help: "Largest request body, e.g. 4Mi, 512Ki, 1000000.")
    var maxBodySize = "4Mi"
    @Option(name: .customLong("dapr-graceful-shutdown-seconds"), help: "Seconds in-flight deliveries get to finish on shutdown.")
    var gracefulShutdownSeconds = 5.0
    @Option(name: .customLong("log-level"), help: "debug, info, warn or error.")
    var logLevel = "info"
    @Flag(name: .customLong("log-as-json"), help: "Write logs as JSON lines.")
    var logAsJSON = false
    @Option(name: .customLong("data-dir"), help: "Directory of the embedded broker's files.")
    var dataDirectory = "./data"

    func courierOptions() throws -> CourierOptions {
        var o = CourierOptions()
        o.appID = appID
        o.appPort = appPort
        o.appChannelAddress = appChannelAddress
        guard appProtocol == "http" || appProtocol == "grpc" else {
            throw ValidationError("--app-protocol \(appProtocol) is not supported; use http or grpc")
        }
        o.appProtocol = appProtocol
        o.httpPort = httpPort
        o.httpAddress = listenAddress
        o.grpcPort = grpcPort
        o.metricsPort = metricsPort
        if !resourcesPaths.isEmpty { o.resourcesPaths = resourcesPaths }
        o.configPath = config
        o.appMaxConcurrency = appMaxConcurrency
        if enableAppHealthCheck {
            guard appHealthCheckPath.hasPrefix("/") else { throw ValidationError("--app-health-check-path must start with /") }
            guard appHealthProbeInterval > 0, appHealthProbeTimeout > 0, appHealthThreshold > 0 else {
                throw ValidationError("--app-health-probe-interval, --app-health-probe-timeout and --app-health-threshold must be positive")
            }
            guard appProtocol == "http" else { throw ValidationError("--enable-app-health-check is supported for --app-protocol http only") }
            o.enableAppHealthCheck(path: appHealthCheckPath, intervalSeconds: appHealthProbeInterval,
                                   timeoutMilliseconds: appHealthProbeTimeout, threshold: appHealthThreshold)
        }
        guard let bytes = ByteSize.parse(maxBodySize), bytes > 0 else {
            throw ValidationError("--max-body-size '\(maxBodySize)' is not a size such as 4Mi")
        }
        o.maxBodyBytes = bytes
        guard gracefulShutdownSeconds >= 0 else { throw ValidationError("--dapr-graceful-shutdown-seconds must not be negative") }
        o.gracefulShutdownSeconds = gracefulShutdownSeconds
        guard let level = LogSetup.level(logLevel) else { throw ValidationError("--log-level must be debug, info, warn or error") }
        o.logLevel = level
        o.logAsJSON = logAsJSON
        o.dataDirectory = dataDirectory
        let env = ProcessInfo.processInfo.environment
        o.apiToken = env["DAPR_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        o.namespace = env["NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
        o.appAPIToken = env["APP_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return o
    }
}
