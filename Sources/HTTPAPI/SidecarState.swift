import BrokerKit
import Resources
import Synchronization

/// What the sidecar APIs report and control: identity, readiness, components, subscriptions,
/// extended metadata, and the shutdown trigger.
public final class SidecarState: Sendable {
    /// App connection properties for `GET /v1.0/metadata`.
    public struct AppConnection: Sendable {
        public var port: Int?
        public var protocolName: String
        public var channelAddress: String
        public var maxConcurrency: Int

        public init(port: Int?, protocolName: String, channelAddress: String, maxConcurrency: Int) {
            self.port = port
            self.protocolName = protocolName
            self.channelAddress = channelAddress
            self.maxConcurrency = maxConcurrency
        }
    }

    /// A loaded component with its capabilities.
    public struct ComponentInfo: Sendable {
        public var name: String
        public var type: String
        public var version: String
        public var capabilities: [String]

        public init(name: String, type: String, version: String, capabilities: [String]) {
            self.name = name
            self.type = type
            self.version = version
            self.capabilities = capabilities
        }
    }

    public let appID: String
    public let runtimeVersion: String
    /// The loaded components (a reload may add, change or remove pub/subs).
    public var components: [ComponentInfo] { componentList.withLock { $0 } }
    private let componentList: Mutex<[ComponentInfo]>
    public let appConnection: AppConnection
    public let resiliencyNames: [String]
    /// Whether subscriptions are up (the app channel is established).
    public let appReady: @Sendable () -> Bool
    /// Active subscriptions, for the metadata API.
    public let subscriptions: @Sendable () -> [SubscriptionSpec]
    /// Every app served (the flag app first, then `App` resources), for `GET /v1.0-alpha1/apps`.
    public let apps: @Sendable () async -> [AppStatus]
    private let extended = Mutex<[String: String]>([:])
    private let shutdown = Mutex<(@Sendable (Bool) -> Void)?>(nil)

    public init(appID: String, runtimeVersion: String, components: [ComponentInfo], appConnection: AppConnection,
                resiliencyNames: [String], appReady: @escaping @Sendable () -> Bool,
                subscriptions: @escaping @Sendable () -> [SubscriptionSpec], apps: @escaping @Sendable () async -> [AppStatus] = { [] }) {
        self.appID = appID
        self.runtimeVersion = runtimeVersion
        self.componentList = Mutex(components)
        self.appConnection = appConnection
        self.resiliencyNames = resiliencyNames
        self.appReady = appReady
        self.subscriptions = subscriptions
        self.apps = apps
    }

    /// The last configuration reload: its result and, when refused, every problem as `file:line: message`.
    public struct ReloadRecord: Sendable {
        public var result: String
        public var time: String
        public var problems: [String]
        public var changes: [String]

        public init(result: String, time: String, problems: [String], changes: [String]) {
            self.result = result
            self.time = time
            self.problems = problems
            self.changes = changes
        }
    }

    private let reload = Mutex<ReloadRecord?>(nil)

    /// Replaces the entries of the components named in `names` with `infos` (none: removed).
    public func updateComponents(named names: Set<String>, with infos: [ComponentInfo]) {
        componentList.withLock { list in
            list.removeAll { names.contains($0.name) }
            list += infos
        }
    }

    /// Records a reload for `GET /v1.0/metadata` (`courierConfigReload`).
    public func recordReload(_ record: ReloadRecord) { reload.withLock { $0 = record } }

    /// The last reload, if any.
    public var lastReload: ReloadRecord? { reload.withLock { $0 } }

    /// `PUT /v1.0/metadata/{key}` values.
    public var extendedMetadata: [String: String] { extended.withLock { $0 } }

    /// Limits of `PUT /v1.0/metadata/{key}`: unbounded values once let 200 × 1 MiB hold 309 MB.
    public static let maxExtendedKeys = 100
    public static let maxExtendedKeyBytes = 256
    public static let maxExtendedValueBytes = 64 * 1024

    /// Sets one value; false (nothing stored) when that would exceed `maxExtendedKeys`.
    @discardableResult
    public func setExtended(_ key: String, _ value: String) -> Bool {
        extended.withLock { e in
            guard e[key] != nil || e.count < Self.maxExtendedKeys else { return false }
            e[key] = value
            return true
        }
    }

    /// Installs what `POST /v1.0/shutdown` calls (`true` = forced).
    public func onShutdown(_ action: @escaping @Sendable (Bool) -> Void) { shutdown.withLock { $0 = action } }

    /// Requests a graceful (or forced) shutdown.
    public func requestShutdown(force: Bool) { shutdown.withLock { $0 }?(force) }
}
