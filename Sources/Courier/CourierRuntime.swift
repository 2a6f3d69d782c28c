import AsyncHTTPClient
import BrokerKit
import CloudEvents
import Delivery
import Foundation
import HTTPAPI
import Hummingbird
import Logging
import Resources
import ServiceLifecycle

/// Courier assembled: resources loaded, brokers built, the HTTP API, the metrics endpoint and the
/// subscription manager in one `ServiceGroup`, shut down in order (API first, brokers last).
public final class CourierRuntime: Sendable {
    /// Start-up failed; `problems` are printable lines.
    public struct StartupError: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String { problems.joined(separator: "\n") }
    }

    public static let version = "0.1.0"

    public let options: CourierOptions
    public let resources: ResourceSet
    public let brokers: [String: any MessageBroker]
    public let subscriptions: SubscriptionManager
    public let state: SidecarState
    let group: ServiceGroup
    let logger: Logger

    /// Loads resources with the registry's component types.
    public static func loadResources(options: CourierOptions, registry: BrokerRegistry, environment: [String: String] = ProcessInfo.processInfo.environment) -> ResourceSet {
        let templates = TemplateResolver(appID: options.appID, namespace: environment["NAMESPACE"], podName: environment["POD_NAME"],
                                         makeUUID: { EventID.uuid() })
        let loader = ResourceLoader(appID: options.appID, templates: templates, environment: environment,
                                    isKnownComponentType: { registry.supports($0) })
        var paths = options.resourcesPaths
        if let config = options.configPath { paths.append(config) }
        var set = loader.load(paths: paths)
        for component in set.components {
            if let problem = registry.check(component) {
                let detail = problem.message.hasPrefix("\(component.name): ") ? String(problem.message.dropFirst(component.name.count + 2)) : problem.message
                set.problems.append(ResourceProblem(component.location, "component '\(component.name)' (\(component.type)): \(detail)"))
            }
        }
        if let config = options.configPath, set.configuration == nil, !set.problems.contains(where: { $0.location.file == config }) {
            set.problems.append(ResourceProblem(SourceLocation(file: config, line: 1), "--config file holds no Configuration resource"))
        }
        return set
    }

    public init(options: CourierOptions, registry: BrokerRegistry = .standard, logger: Logger) async throws {
        self.options = options
        self.logger = logger
        let resources = Self.loadResources(options: options, registry: registry)
        for warning in resources.problems where warning.isWarning { logger.warning("\(warning)") }
        guard resources.errors.isEmpty else { throw StartupError(problems: resources.errors.map(\.description)) }
        self.resources = resources

        // Brokers.
        var brokers: [String: any MessageBroker] = [:]
        var pubsubs: [String: SubscriptionManager.PubSub] = [:]
        var targets: [String: Publisher.Target] = [:]
        var infos: [SidecarState.ComponentInfo] = []
        let context = BrokerRegistry.BrokerContext(appID: options.appID, dataDirectory: options.dataDirectory, logger: logger)
        for component in resources.components where component.category == "pubsub" {
            do {
                let broker = try await registry.make(component, context: context)
                let scopes = TopicScopes(metadata: component.metadata)
                let group = component.metadata["consumerGroup"].flatMap { $0.isEmpty ? nil : $0 }
                    ?? component.metadata["consumerID"].flatMap { $0.isEmpty ? nil : $0 } ?? options.appID
                brokers[component.name] = broker
                pubsubs[component.name] = .init(broker: broker, component: component, scopes: scopes, consumerGroup: group)
                targets[component.name] = .init(broker: broker, scopes: scopes, consumerGroup: group)
                infos.append(.init(name: component.name, type: component.type, version: component.version,
                                   capabilities: broker.features.map(\.rawValue).sorted()))
            } catch {
                if component.ignoreErrors {
                    logger.warning("component \(component.name) failed to start and is ignored (ignoreErrors): \(error)")
                    continue
                }
                for broker in brokers.values { await broker.close() }
                throw StartupError(problems: ["\(component.location): component '\(component.name)' (\(component.type)) failed to start: \(error)"])
            }
        }
        self.brokers = brokers

        // Delivery toward the app.
        let metrics = DeliveryMetrics(appID: options.appID, namespace: ProcessInfo.processInfo.environment["NAMESPACE"] ?? "")
        var clientConfig = HTTPClient.Configuration()
        clientConfig.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        clientConfig.tracing.tracer = nil  // Courier propagates trace context itself; no per-request spans
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfig)
        let channel = options.appPort.map { AppChannel(client: client, host: options.appChannelAddress, port: $0, apiToken: options.appAPIToken) }
        let subscriptions = SubscriptionManager(appID: options.appID, pubsubs: pubsubs, channel: channel,
                                                declarative: resources.subscriptions, resiliencies: resources.resiliencies,
                                                maxConcurrency: options.appMaxConcurrency, logger: logger, metrics: metrics)
        self.subscriptions = subscriptions

        // HTTP API.
        let state = SidecarState(
            appID: options.appID, runtimeVersion: Self.version, components: infos,
            appConnection: .init(port: options.appPort, protocolName: options.appProtocol, channelAddress: options.appChannelAddress,
                                 maxConcurrency: max(options.appMaxConcurrency, 0)),
            resiliencyNames: resources.resiliencies.map(\.name),
            appReady: { subscriptions.isReady }, subscriptions: { subscriptions.activeSubscriptions })
        self.state = state
        let publisher = Publisher(appID: options.appID, targets: targets, metrics: PublishMetrics { component, topic, success, seconds in
            metrics.egress(component: component, topic: topic, success: success, seconds: seconds)
        })
        let router = SidecarRouter(publisher: publisher, state: state, apiToken: options.apiToken, maxBodyBytes: options.maxBodyBytes)
        var apiLogger = logger
        apiLogger.logLevel = max(logger.logLevel, .notice)
        let api = Application(router: router.build(),
                              configuration: .init(address: .hostname(options.httpAddress, port: options.httpPort), serverName: "courier"),
                              logger: apiLogger)
        let registry = MetricsSetup.registry()
        let metricsRouter = Router()
        metricsRouter.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let metricsApp = Application(router: metricsRouter,
                                     configuration: .init(address: .hostname(options.httpAddress, port: options.metricsPort), serverName: "courier-metrics"),
                                     logger: apiLogger)

        var config = ServiceGroupConfiguration(
            services: [
                .init(service: Closer(brokers: Array(brokers.values), client: client), serviceName: "brokers"),
                .init(service: subscriptions, successTerminationBehavior: .ignore, serviceName: "subscriptions"),
                .init(service: metricsApp, serviceName: "metrics"),
                .init(service: BacklogReporter(subscriptions: subscriptions, pubsubs: pubsubs, interval: options.backlogReportInterval),
                      successTerminationBehavior: .ignore, serviceName: "backlog"),
                .init(service: api, serviceName: "http-api"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        config.maximumGracefulShutdownDuration = .milliseconds(Int(options.gracefulShutdownSeconds * 1000))
        let group = ServiceGroup(configuration: config)
        self.group = group
        state.onShutdown { force in
            Task {
                if force {
                    exit(0)
                }
                await group.triggerGracefulShutdown()
            }
        }
    }

    /// Runs until shut down (SIGTERM, SIGINT, `POST /v1.0/shutdown`, or `shutdown()`).
    public func run() async throws {
        try await group.run()
    }

    /// Starts a graceful shutdown.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}

/// The last service to stop: closes brokers and the app HTTP client once deliveries drained.
struct Closer: Service {
    let brokers: [any MessageBroker]
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        for broker in brokers { await broker.close() }
        try? await client.shutdown()
    }
}
