#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit: raised to the hard limit at start (as Go's runtime does), and
/// the HTTP API's connection cap kept below it, leaving room for broker sockets, the app channel,
/// the embedded store and the gRPC and metrics servers.
enum FileLimit {
    static let reserve = 256

    /// `wanted`, or fewer if the open-file limit cannot hold that many plus the reserve.
    static func connectionBudget(wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return wanted }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        // RLIM_INFINITY is the all-ones value; anything that large is "no limit" here.
        let available = Int(clamping: UInt64(limit.rlim_cur))
        return max(16, min(wanted, available - reserve))
    }
}
