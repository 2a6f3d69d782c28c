import Synchronization

/// Acknowledgements waiting for the engine: a subscriber's ack is a lock and an append instead of
/// a hop onto the engine's actor; the first ack after a drain schedules one drain for all that
/// arrive meanwhile. Acks only move in-memory state (housekeeping persists it), so applying them
/// a moment later changes nothing a restart can see, as long as the final commit drains first.
final class AckInbox: Sendable {
    private let pending = Mutex<(acks: [EmbeddedEngine.GroupKey: [Int64]], scheduled: Bool)>(([:], false))

    /// Adds one; true when the caller must schedule a drain.
    func add(_ key: EmbeddedEngine.GroupKey, _ seq: Int64) -> Bool {
        pending.withLock { p in
            p.acks[key, default: []].append(seq)
            guard !p.scheduled else { return false }
            p.scheduled = true
            return true
        }
    }

    /// Everything added so far; the next `add` schedules again.
    func take() -> [EmbeddedEngine.GroupKey: [Int64]] {
        pending.withLock { p in
            let acks = p.acks
            p.acks = [:]
            p.scheduled = false
            return acks
        }
    }
}
