import BrokerKit
import CloudEvents
import Resources

/// Component metadata of `pubsub.embedded` / `pubsub.in-memory`.
public struct EmbeddedOptions: Sendable {
    /// SQLite file; `nil` for the in-memory variant.
    public var path: String?
    /// `synchronous=FULL` (survives power loss) instead of `NORMAL` (survives process crashes).
    public var synchronousFull = false
    /// New consumer groups start at the oldest retained message instead of the next new one.
    public var initialOffsetOldest = false
    /// Seconds a delivery may stay unsettled before it is handed out again.
    public var leaseSeconds = 300.0
    /// Messages older than this are deleted (seconds).
    public var retentionSeconds = 86_400.0
    /// Largest accepted payload, bytes.
    public var maxMessageBytes = 8 * 1024 * 1024

    public init() {}

    /// Reads the options from component metadata; `durable == false` ignores the path.
    public init(component: Component, durable: Bool, defaultDirectory: String) throws(BrokerError) {
        let md = component.metadata
        if durable {
            if let p = md["path"], !p.isEmpty {
                path = p
            } else {
                let dir = md["dataDir"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultDirectory
                path = "\(dir)/\(component.name).sqlite"
            }
            if let s = md["synchronous"] {
                switch s.lowercased() {
                case "normal": synchronousFull = false
                case "full": synchronousFull = true
                default: throw BrokerError(.configuration, "\(component.name): synchronous must be normal or full, not '\(s)'")
                }
            }
        }
        if let o = md["initialOffset"] {
            switch o.lowercased() {
            case "oldest": initialOffsetOldest = true
            case "newest": initialOffsetOldest = false
            default: throw BrokerError(.configuration, "\(component.name): initialOffset must be newest or oldest, not '\(o)'")
            }
        }
        if let l = md["leaseDuration"] {
            guard let s = GoDuration.parseSeconds(l), s > 0 else {
                throw BrokerError(.configuration, "\(component.name): leaseDuration must be a positive duration such as 5m, not '\(l)'")
            }
            leaseSeconds = s
        }
        if let r = md["retentionPeriod"] {
            guard let s = GoDuration.parseSeconds(r), s > 0 else {
                throw BrokerError(.configuration, "\(component.name): retentionPeriod must be a positive duration such as 24h, not '\(r)'")
            }
            retentionSeconds = s
        }
        if let m = md["maxMessageBytes"] {
            guard let n = Int(m), n > 0 else {
                throw BrokerError(.configuration, "\(component.name): maxMessageBytes must be a positive integer, not '\(m)'")
            }
            maxMessageBytes = n
        }
    }
}
