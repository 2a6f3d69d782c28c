import Logging
import Resources
import Synchronization

/// Probes an app every `interval` (over HTTP `GET path`, 2xx = healthy; over gRPC Dapr's
/// `AppCallbackHealthCheck/HealthCheck`), and pauses its
/// subscriptions and input bindings while it is unhealthy: its gate (`availability`) closes, so a
/// delivery that fails meanwhile goes back to the broker instead of to a dead-letter topic and an
/// input binding's message waits; its subscriptions stop taking messages. Once it answers again
/// the gate opens and its subscriptions are read anew from `/dapr/subscribe` and resume where its
/// consumer group left off.
public final class AppHealthProbe: Sendable {
    public struct Settings: Sendable, Equatable {
        public var path: String
        public var interval: Duration
        public var timeout: Duration
        public var threshold: Int

        public init(path: String = "/healthz", interval: Duration = .seconds(5), timeout: Duration = .milliseconds(500), threshold: Int = 3) {
            self.path = path
            self.interval = interval
            self.timeout = timeout
            self.threshold = threshold
        }

        /// An `App`'s `healthCheck`.
        public init(_ check: AppSpec.HealthCheck) {
            self.init(path: check.path, interval: .milliseconds(Int(check.intervalSeconds * 1000)),
                      timeout: .milliseconds(check.timeoutMilliseconds), threshold: check.threshold)
        }
    }

    let settings: Settings
    /// One probe: true when the app answered healthy within the timeout (seconds).
    let check: @Sendable (Double) async -> Bool
    let subscriptions: SubscriptionManager
    let availability: AppAvailability
    let logger: Logger
    private let health: Mutex<AppHealth>

    /// Probes an HTTP app with `GET settings.path`.
    public convenience init(settings: Settings, channel: AppChannel, subscriptions: SubscriptionManager, availability: AppAvailability, logger: Logger) {
        let path = settings.path
        self.init(settings: settings, subscriptions: subscriptions, availability: availability, logger: logger) { timeout in
            (try? await channel.send(method: .GET, path: path, timeout: timeout)).map { (200..<300).contains($0.status) } ?? false
        }
    }

    public init(settings: Settings, subscriptions: SubscriptionManager, availability: AppAvailability, logger: Logger,
                check: @escaping @Sendable (Double) async -> Bool) {
        self.settings = settings
        self.check = check
        self.subscriptions = subscriptions
        self.availability = availability
        self.logger = logger
        health = Mutex(AppHealth(threshold: settings.threshold))
    }

    public var isHealthy: Bool { health.withLock { $0.healthy } }

    /// Probes until cancelled.
    public func run() async {
        let timeout = Double(settings.timeout.components.seconds) + Double(settings.timeout.components.attoseconds) / 1e18
        while !Task.isCancelled {
            let ok = await check(timeout)
            switch health.withLock({ $0.record(success: ok) }) {
            case .becameUnhealthy?:
                logger.warning("app is unhealthy (\(settings.threshold) failed health probes): its subscriptions and input bindings pause")
                availability.close()
                await subscriptions.pause()
            case .becameHealthy?:
                logger.notice("app is healthy again: reading its subscriptions and resuming")
                availability.open()
                await subscriptions.resume()
            case nil:
                break
            }
            try? await Task.sleep(for: settings.interval)
        }
    }
}
