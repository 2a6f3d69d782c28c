/// A Resiliency retry policy (spec §11): constant or exponential back-off with a retry budget.
public struct RetryPolicy: Sendable, Equatable {
    public enum Kind: String, Sendable { case constant, exponential }

    public var kind: Kind
    /// Constant interval, seconds (default 5).
    public var duration: Double
    /// Exponential cap, seconds (default 60).
    public var maxInterval: Double
    /// -1 = unlimited, 0 = no retries.
    public var maxRetries: Int
    /// Only these HTTP status codes are retried when set; errors without a code always are.
    public var httpStatusCodes: StatusCodeSet?
    public var grpcStatusCodes: StatusCodeSet?

    public init(kind: Kind = .constant, duration: Double = 5, maxInterval: Double = 60, maxRetries: Int = -1,
                httpStatusCodes: StatusCodeSet? = nil, grpcStatusCodes: StatusCodeSet? = nil) {
        self.kind = kind
        self.duration = duration
        self.maxInterval = maxInterval
        self.maxRetries = maxRetries
        self.httpStatusCodes = httpStatusCodes
        self.grpcStatusCodes = grpcStatusCodes
    }

    /// Exponential back-off constants from dapr/kit.
    public static let initialInterval = 0.5
    public static let multiplier = 1.5
    public static let randomization = 0.5
    /// dapr/kit stops exponential retries after 15 minutes in total, even when unlimited.
    public static let maxElapsed = 900.0

    /// The wait before retry number `retry` (1-based), or `nil` when the budget is spent.
    /// `random` is a value in [0, 1) so tests can pin the jitter.
    public func delay(beforeRetry retry: Int, elapsed: Double, random: Double) -> Double? {
        if maxRetries >= 0 && retry > maxRetries { return nil }
        switch kind {
        case .constant:
            return duration
        case .exponential:
            if elapsed >= Self.maxElapsed { return nil }
            var interval = Self.initialInterval
            for _ in 1..<max(retry, 1) { interval = min(interval * Self.multiplier, maxInterval) }
            let delta = Self.randomization * interval
            let jittered = interval - delta + random * (2 * delta)
            return min(jittered, maxInterval)
        }
    }

    /// Whether an error with this HTTP status (nil = no status) should be retried.
    public func shouldRetry(httpStatus: Int?) -> Bool {
        guard let httpStatus, let codes = httpStatusCodes else { return true }
        return codes.contains(httpStatus)
    }
}

/// A set of status codes written as `429,500-599`.
public struct StatusCodeSet: Sendable, Equatable {
    public var ranges: [ClosedRange<Int>]

    public init?(_ text: String) {
        var ranges: [ClosedRange<Int>] = []
        for part in text.split(separator: ",") {
            let item = part.trimmingCharacters(in: " ")
            if item.isEmpty { continue }
            let bounds = item.split(separator: "-", maxSplits: 1)
            guard let low = Int(bounds[0]) else { return nil }
            let high = bounds.count == 2 ? Int(bounds[1]) : low
            guard let high, high >= low else { return nil }
            ranges.append(low...high)
        }
        self.ranges = ranges
    }

    public func contains(_ code: Int) -> Bool { ranges.contains { $0.contains(code) } }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(self.drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
