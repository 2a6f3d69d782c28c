/// The queue length of one consumer group on one topic: what autoscalers scale on.
public struct Backlog: Sendable, Equatable, Codable {
    /// Messages published to the topic that the group has not been handed yet.
    public var undelivered: Int64
    /// Messages handed to the group and not yet acknowledged.
    public var inFlight: Int64

    public init(undelivered: Int64, inFlight: Int64) {
        self.undelivered = undelivered
        self.inFlight = inFlight
    }

    /// Everything not yet acknowledged: `undelivered + inFlight`.
    public var total: Int64 { undelivered + inFlight }
}
