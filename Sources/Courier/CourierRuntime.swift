import AsyncHTTPClient
import Bindings
import BrokerKit
import CloudEvents
import DeadLetters
import Delivery
import Foundation
import GRPCAPI
import HTTPAPI
import Hummingbird
import Logging
import MQTTBroker
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
    /// The pub/sub adapters by component name (as they are now: a reload may replace them).
    public var brokers: [String: any MessageBroker] { pubsubs.all.mapValues(\.broker) }
    let pubsubs: PubSubTable
    /// The flag app's subscriptions (`--app-id`).
    public let subscriptions: SubscriptionManager
    /// Every app served: the flag app first, then each `App` resource.
    public var apps: [AppUnit] { fleet.units }
    let fleet: AppFleet
    let reloader: ConfigReloader
    /// Output bindings (`POST /v1.0/bindings/{name}`).
    public let bindings: BindingHub
    /// Input bindings being read.
    public let inputBindings: InputBindingService
    public let state: SidecarState
    let group: ServiceGroup
    let logger: Logger

    /// Loads resources with the registry's component types.
    public static func loadResources(options: CourierOptions, registry: BrokerRegistry, bindingRegistry: BindingRegistry = .standard,
                                     environment: [String: String] = ProcessInfo.processInfo.environment) -> ResourceSet {
        let templates = TemplateResolver(appID: options.appID, namespace: options.namespace, podName: environment["POD_NAME"],
                                         makeUUID: { EventID.uuid() })
        let loader = ResourceLoader(appID: options.appID, templates: templates, environment: environment,
                                    isKnownComponentType: { registry.supports($0) || bindingRegistry.supports($0) })
        var paths = options.resourcesPaths
        if let config = options.configPath { paths.append(config) }
        var set = loader.load(paths: paths)
        let outputBindings = Set(set.components.filter { $0.category == "bindings" }.map(\.name))
        for component in set.components {
            if component.category == "bindings" {
                do throws(ResourceProblem) {
                    let settings = try BindingSettings(component: component)
                    for target in settings.forwardTo where !outputBindings.contains(target) {
                        let line = component.metadata.item("forwardTo")?.line ?? component.location.line
                        set.problems.append(ResourceProblem(SourceLocation(file: component.location.file, line: line),
                                                            "binding '\(component.name)': forwardTo names '\(target)', which is not a binding component"))
                    }
                } catch {
                    set.problems.append(error)
                }
            }
            if let problem = registry.check(component) ?? bindingRegistry.check(component) {
                let detail = problem.message.hasPrefix("\(component.name): ") ? String(problem.message.dropFirst(component.name.count + 2)) : problem.message
                set.problems.append(ResourceProblem(component.location, "component '\(component.name)' (\(component.type)): \(detail)"))
            }
        }
        // A token names one caller: two apps (or an app and the operator) may not share one.
        var owners: [String: String] = [:]
        if let operatorToken = options.apiToken, !operatorToken.isEmpty { owners[operatorToken] = "DAPR_API_TOKEN" }
        for app in set.apps {
            guard let token = AppSpec.literal(app.apiToken) else { continue }
            if let owner = owners[token] {
                set.problems.append(ResourceProblem(app.location, "App '\(app.id)': apiToken is the same as \(owner == "DAPR_API_TOKEN" ? owner : "App '\(owner)''s"); each caller needs its own"))
            } else {
                owners[token] = app.id
            }
        }
        if let config = options.configPath, set.configuration == nil, !set.problems.contains(where: { $0.location.file == config }) {
            set.problems.append(ResourceProblem(SourceLocation(file: config, line: 1), "--config file holds no Configuration resource"))
        }
        return set
    }

    public init(options: CourierOptions, registry: BrokerRegistry = .standard, bindingRegistry: BindingRegistry = .standard,
                logger: Logger) async throws {
        self.options = options
        self.logger = logger
        let resources = Self.loadResources(options: options, registry: registry, bindingRegistry: bindingRegistry)
        for warning in resources.problems where warning.isWarning { logger.warning("\(warning)") }
        guard resources.errors.isEmpty else { throw StartupError(problems: resources.errors.map(\.description)) }
        self.resources = resources
        // Low descriptor numbers for MQTT connections, taken before anything else opens many.
        LowDescriptors.fill()

        // Brokers.
        var pubsubs: [String: SubscriptionManager.PubSub] = [:]
        var infos: [SidecarState.ComponentInfo] = []
        let context = BrokerRegistry.BrokerContext(appID: options.appID, dataDirectory: options.dataDirectory, logger: logger)
        for component in resources.components where component.category == "pubsub" {
            do {
                let pubsub = try await PubSubTable.make(component, registry: registry, context: context)
                pubsubs[component.name] = pubsub
                infos.append(.init(name: component.name, type: component.type, version: component.version,
                                   capabilities: pubsub.broker.features.map(\.rawValue).sorted()))
            } catch {
                if component.ignoreErrors {
                    logger.warning("component \(component.name) failed to start and is ignored (ignoreErrors): \(error)")
                    continue
                }
                for pubsub in pubsubs.values { await pubsub.broker.close() }
                throw StartupError(problems: ["\(component.location): component '\(component.name)' (\(component.type)) failed to start: \(error)"])
            }
        }
        let table = PubSubTable(pubsubs)
        self.pubsubs = table
        let brokers = pubsubs.mapValues(\.broker)

        // HTTP bindings (`bindings.http`) call out through AsyncHTTPClient.
        var clientConfig = HTTPClient.Configuration()
        clientConfig.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        clientConfig.tracing.tracer = nil  // Courier propagates trace context itself; no per-request spans
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfig)

        // Bindings: output through the hub (one instance of each component), input through a
        // runner each: the flag app's and bridges' on that instance, each `App`'s on its own reader.
        let bindingMetrics = BindingMetrics(appID: options.appID, namespace: options.namespace ?? "")
        var loaded: [(component: Component, binding: BindingComponent, settings: BindingSettings)] = []
        let bindingContext = BindingRegistry.Context(appID: options.appID, dataDirectory: options.dataDirectory, httpClient: client, logger: logger)
        for component in resources.components where component.category == "bindings" {
            do {
                let settings = try BindingSettings(component: component)
                let binding = try await bindingRegistry.make(component, context: bindingContext)
                loaded.append((component, binding, settings))
                infos.append(.init(binding: (component, binding, settings)))
            } catch {
                if component.ignoreErrors {
                    logger.warning("component \(component.name) failed to start and is ignored (ignoreErrors): \(error)")
                    continue
                }
                for b in loaded { await b.binding.close() }
                for broker in brokers.values { await broker.close() }
                try? await client.shutdown()
                throw StartupError(problems: ["\(component.location): component '\(component.name)' (\(component.type)) failed to start: \(error)"])
            }
        }
        let resiliencies = resources.resiliencies(for: options.appID)
        let hub = BindingHub(components: loaded, resiliencies: resiliencies, metrics: bindingMetrics)
        self.bindings = hub
        let inputPlanner = InputPlanner(registry: bindingRegistry, context: bindingContext, hub: hub, metrics: bindingMetrics)

        // Delivery toward the apps: the flag app (`--app-id`/`--app-port`), then every `App`.
        let metrics = DeliveryMetrics(appID: options.appID, namespace: options.namespace ?? "")
        var units: [AppUnit] = []
        do {
            units.append(try AppUnit(id: options.appID, address: options.appPort.map { .init(scheme: "http", host: options.appChannelAddress, port: $0) },
                                     protocolName: options.appProtocol, appToken: options.appAPIToken, maxConcurrency: options.appMaxConcurrency,
                                     pubsubs: pubsubs, group: \.consumerGroup, resources: resources, namespace: options.namespace ?? "", logger: logger,
                                     healthCheck: options.appHealthCheck))
            for app in resources.apps {
                units.append(try AppUnit(app: app, pubsubs: pubsubs, resources: resources, namespace: options.namespace ?? "", logger: logger,
                                         inputPlan: inputPlanner.plan(for: app.id, resources: resources)))
            }
        } catch {
            for unit in units { await unit.close() }
            for b in loaded { await b.binding.close() }
            for broker in brokers.values { await broker.close() }
            try? await client.shutdown()
            throw StartupError(problems: ["app channel: \(error)"])
        }
        let fleet = AppFleet(units: units, logger: logger)
        self.fleet = fleet
        let flagApp = units[0]
        let subscriptions = flagApp.subscriptions
        self.subscriptions = subscriptions

        // The flag app's input bindings and every bridge read the loaded instance.
        let runners = inputPlanner.flagRunners(for: flagApp, resources: resources, logger: logger)
        let inputService = InputBindingService(runners: runners, logger: logger)
        self.inputBindings = inputService

        let streaming = StreamingSubscriptions()
        let backlogCache = BacklogCache()

        // HTTP API.
        let state = SidecarState(
            appID: options.appID, runtimeVersion: Self.version, components: infos,
            appConnection: .init(port: options.appPort, protocolName: options.appProtocol, channelAddress: options.appChannelAddress,
                                 maxConcurrency: max(options.appMaxConcurrency, 0)),
            resiliencyNames: resiliencies.map(\.name),
            appReady: { fleet.units.allSatisfy(\.subscriptions.isReady) }, subscriptions: { subscriptions.activeSubscriptions + streaming.active },
            apps: { [flagID = options.appID] in
                var all: [AppStatus] = []
                for app in fleet.units {
                    all.append(await app.status(inputBindings: app.id == flagID ? inputService.reading : nil, backlogs: backlogCache))
                }
                return all
            })
        self.state = state
        let publisher = Publisher(appID: options.appID, targets: table.targets, metrics: PublishMetrics { component, topic, success, seconds in
            metrics.egress(component: component, topic: topic, success: success, seconds: seconds)
        })
        let tokens = CallerTokens(operatorToken: options.apiToken, apps: resources.appTokens)
        let deadLetters = DeadLetterDesk(brokers: { publisher.target(named: $0)?.broker },
                                         subscriptions: { app, pubsub, topic in
                                             fleet.units.first { $0.id == app }?.subscriptions.runner(pubsub: pubsub, topic: topic)
                                         }, logger: logger)
        let router = SidecarRouter(publisher: publisher, state: state, tokens: tokens, maxBodyBytes: options.maxBodyBytes,
                                   bindings: hub, deadLetters: deadLetters)
        var apiLogger = logger
        apiLogger.logLevel = max(logger.logLevel, .notice)
        DescriptorBudget.raiseSoftLimit()
        let connectionGuard = ConnectionGuard(limit: options.httpMaxConnections, headTimeout: .init(options.httpRequestHeadTimeout))
        let api = Application(router: router.build(),
                              server: .guardedHTTP1(configuration: .init(additionalChannelHandlers: [UpgradeCloseHandler()],
                                                                         idleTimeout: .init(options.httpIdleTimeout)),
                                                    connectionGuard: connectionGuard, publishFastPath: router),
                              configuration: .init(address: .hostname(options.httpAddress, port: options.httpPort), serverName: "courier"),
                              onServerRunning: { [apiLogger] in await connectionGuard.pace(accepting: $0, logger: apiLogger) },
                              logger: apiLogger)
        let metricsRegistry = MetricsSetup.registry()
        let metricsRouter = Router()
        metricsRouter.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: metricsRegistry.emitToBuffer())))
        }
        let metricsApp = Application(router: metricsRouter,
                                     configuration: .init(address: .hostname(options.httpAddress, port: options.metricsPort), serverName: "courier-metrics"),
                                     logger: apiLogger)

        let reloader = ConfigReloader(resources: resources, context: .init(
            options: options, registry: registry, bindingRegistry: bindingRegistry, brokerContext: context, pubsubs: table,
            publisher: publisher, inputPlanner: inputPlanner, flagInputs: inputService, fleet: fleet, tokens: tokens, state: state, logger: logger))
        self.reloader = reloader
        var watched = options.resourcesPaths
        if let config = options.configPath { watched.append(config) }

        var config = ServiceGroupConfiguration(
            services: [
                .init(service: Closer(pubsubs: table, bindings: hub, client: client, fleet: fleet), serviceName: "brokers"),
                .init(service: fleet, successTerminationBehavior: .ignore, serviceName: "apps"),
                .init(service: deadLetters, successTerminationBehavior: .ignore, serviceName: "dead-letters"),
                .init(service: inputService, successTerminationBehavior: .ignore, serviceName: "input-bindings"),
                .init(service: metricsApp, serviceName: "metrics"),
                .init(service: BacklogReporter(fleet: fleet, bindings: inputService, flagID: options.appID, cache: backlogCache,
                                                interval: options.backlogReportInterval),
                      successTerminationBehavior: .ignore, serviceName: "backlog"),
                .init(service: api, serviceName: "http-api"),
                .init(service: ConfigWatcher(paths: watched, reloader: reloader), successTerminationBehavior: .ignore, serviceName: "config-watcher"),
            ] + (options.grpcPort > 0 ? [.init(service: GRPCServerService(host: options.httpAddress, port: options.grpcPort, publisher: publisher,
                                                                          state: state, bindings: hub, streaming: streaming, tokens: tokens,
                                                                          scalerStreamInterval: options.scalerStreamInterval, logger: apiLogger),
                                               serviceName: "grpc-api")] : []),
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

    /// Reads the resource paths again and applies what changed (what SIGHUP and a changed file do).
    /// Returns the changes applied, or throws the problems when the set was refused.
    @discardableResult
    public func reload() async throws -> [String] {
        switch await reloader.reload() {
        case .unchanged: return []
        case .applied(let changes): return changes
        case .refused(let problems): throw StartupError(problems: problems)
        }
    }

    /// Starts a graceful shutdown.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}

/// The last service to stop: closes brokers, bindings and the apps' connections once deliveries drained.
struct Closer: Service {
    let pubsubs: PubSubTable
    let bindings: BindingHub
    let client: HTTPClient
    let fleet: AppFleet

    func run() async throws {
        try? await gracefulShutdown()
        for pubsub in pubsubs.all.values { await pubsub.broker.close() }
        await bindings.close()
        try? await client.shutdown()
        for app in fleet.units { await app.close() }
    }
}
