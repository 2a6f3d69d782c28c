import Synchronization

/// The highest committed sequence per topic, and which topics have consumer groups in this
/// process. The group-commit writer updates it without an actor hop; the engine is woken only for
/// topics someone consumes.
final class CommitIndex: Sendable {
    private struct State {
        var high: [String: Int64] = [:]
        var storeHigh: Int64
        var consumed: Set<String> = []
    }
    private let state: Mutex<State>

    init(storeHigh: Int64) {
        state = Mutex(State(storeHigh: storeHigh))
    }

    /// Records a commit; returns the topic's previous high and whether it has consumers.
    func record(topic: String, last: Int64) -> (previous: Int64, consumed: Bool) {
        state.withLock { s in
            let previous = s.high[topic] ?? s.storeHigh
            s.high[topic] = max(previous, last)
            s.storeHigh = max(s.storeHigh, last)
            return (previous, s.consumed.contains(topic))
        }
    }

    /// The highest committed sequence of `topic` (the store's highest when never committed here).
    func high(_ topic: String) -> Int64 { state.withLock { $0.high[topic] ?? $0.storeHigh } }

    /// The highest sequence committed to any topic.
    var globalHigh: Int64 { state.withLock { $0.storeHigh } }

    /// Marks `topic` as consumed by at least one group in this process.
    func markConsumed(_ topic: String) { state.withLock { _ = $0.consumed.insert(topic) } }
}
