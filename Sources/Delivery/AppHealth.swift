/// Whether an app is healthy, from its health probes as Dapr judges it: `threshold` failed probes
/// in a row make it unhealthy, one answered probe healthy again. A pure state machine; the probing
/// itself is `AppHealthProbe`'s.
public struct AppHealth: Sendable, Equatable {
    public enum Change: Sendable, Equatable { case becameUnhealthy, becameHealthy }

    public let threshold: Int
    public private(set) var healthy = true
    public private(set) var failures = 0

    public init(threshold: Int) {
        self.threshold = max(threshold, 1)
    }

    /// Records one probe; the change it caused, if any.
    public mutating func record(success: Bool) -> Change? {
        if success {
            failures = 0
            guard !healthy else { return nil }
            healthy = true
            return .becameHealthy
        }
        failures += 1
        guard healthy, failures >= threshold else { return nil }
        healthy = false
        return .becameUnhealthy
    }
}
