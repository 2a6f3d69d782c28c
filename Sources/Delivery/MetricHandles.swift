import Metrics
import Synchronization

/// Metric handles made once per label set and cached, so hot paths only increment or record.
public final class MetricHandles: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let recorders = Mutex<[String: Recorder]>([:])

    public init() {}

    public func counter(_ label: String, _ dims: [(String, String)]) -> Counter {
        Self.cached(counters, label, dims) { Counter(label: label, dimensions: dims) }
    }

    public func recorder(_ label: String, _ dims: [(String, String)]) -> Recorder {
        Self.cached(recorders, label, dims) { Recorder(label: label, dimensions: dims) }
    }

    private static func cached<Handle>(_ cache: borrowing Mutex<[String: Handle]>, _ label: String, _ dims: [(String, String)],
                                       make: () -> Handle) -> Handle {
        let key = label + dims.map { "\u{0}" + $0.1 }.joined()
        return cache.withLock { entries in
            if let handle = entries[key] { return handle }
            let handle = make()
            entries[key] = handle
            return handle
        }
    }
}
