#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The file descriptors the process's connections may hold together: the soft open-file limit,
/// read afresh each time (so a limit lowered under a running process counts at once), less a
/// reserve for broker sockets, stores, the gRPC and metrics servers and the app's gRPC channel.
/// Inbound API connections and outbound connections to apps draw on it together, so neither can
/// take what the other needs and `accept` or `connect` never meet EMFILE in normal operation.
public final class DescriptorBudget: Sendable {
    /// The one budget of this process (the limit is per process).
    public static let process = DescriptorBudget(limit: { DescriptorBudget.softLimit })

    /// Descriptors kept out of the budget for everything that is not a pooled connection.
    public static let reserve = 256

    private let limit: @Sendable () -> Int
    private let inbound = Atomic<Int>(0)
    private let outbound = Atomic<Int>(0)

    /// `limit` gives the current open-file limit (tests pass their own).
    public init(limit: @escaping @Sendable () -> Int) {
        self.limit = limit
    }

    /// How many connections, inbound and outbound together, fit now (at least 16).
    public var connections: Int { max(16, limit() - Self.reserve) }

    /// Open inbound connections, as their owner reported them.
    public var inboundCount: Int { inbound.load(ordering: .relaxed) }
    /// Open outbound connections.
    public var outboundCount: Int { outbound.load(ordering: .relaxed) }

    /// How many inbound connections may be open now: what outbound connections leave.
    public var inboundRoom: Int { max(1, connections - outboundCount) }

    public func inboundOpened() { inbound.add(1, ordering: .relaxed) }
    public func inboundClosed() { inbound.subtract(1, ordering: .relaxed) }

    /// Takes a descriptor for an outbound connection if the budget has one; with `force` always
    /// (a pool's first connection: without it nothing could be delivered at all).
    public func openOutbound(force: Bool = false) -> Bool {
        if !force && inboundCount + outboundCount >= connections { return false }
        outbound.add(1, ordering: .relaxed)
        return true
    }

    public func outboundClosed() { outbound.subtract(1, ordering: .relaxed) }

    /// The soft open-file limit (`Int.max` when unlimited or unreadable).
    public static var softLimit: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return .max }
        // RLIM_INFINITY is the all-ones value; anything that large is "no limit" here.
        return Int(clamping: UInt64(limit.rlim_cur))
    }

    /// Raises the soft open-file limit to the hard one (as Go's runtime does at start).
    public static func raiseSoftLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
