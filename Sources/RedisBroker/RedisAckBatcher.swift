import Logging
import Synchronization

/// The acknowledgements of every subscription on one command connection, sent as one `XACK` per
/// stream and group per batch: an ack is a lock and an append; the first one after a quiet moment
/// starts a sender that keeps sending whatever arrived meanwhile (up to 1,024 ids per command)
/// until nothing is left. An ack that never reaches Redis leaves its entry pending, so it is
/// delivered again (a duplicate, never a loss).
final class RedisAckBatcher: Sendable {
    private struct Key: Hashable {
        var topic: String
        var group: String
    }

    private struct State {
        var ids: [Key: [String]] = [:]
        var sending = false
        var flushed: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let commands: RedisConnection
    private let logger: Logger
    private let maxBatch = 1024

    init(commands: RedisConnection, logger: Logger) {
        self.commands = commands
        self.logger = logger
    }

    /// Queues the acknowledgement of entry `id` of `topic` for `group`.
    func add(topic: String, group: String, id: String) {
        let start = state.withLock { s -> Bool in
            s.ids[Key(topic: topic, group: group), default: []].append(id)
            guard !s.sending else { return false }
            s.sending = true
            return true
        }
        if start { Task { await self.send() } }
    }

    /// Returns once every acknowledgement queued before the call was sent (or failed).
    func flush() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                guard s.sending else { return true }
                s.flushed.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }

    private func send() async {
        while true {
            let (batch, waiters) = state.withLock { s -> ([Key: [String]], [CheckedContinuation<Void, Never>]) in
                guard !s.ids.isEmpty else {
                    s.sending = false
                    defer { s.flushed = [] }
                    return ([:], s.flushed)
                }
                defer { s.ids = [:] }
                return (s.ids, [])
            }
            guard !batch.isEmpty else {
                waiters.forEach { $0.resume() }
                return
            }
            for (key, ids) in batch {
                for start in stride(from: 0, to: ids.count, by: maxBatch) {
                    await xack(key, ids[start..<min(start + maxBatch, ids.count)])
                }
            }
        }
    }

    private func xack(_ key: Key, _ ids: ArraySlice<String>) async {
        let args = [Array("XACK".utf8), Array(key.topic.utf8), Array(key.group.utf8)] + ids.map { Array($0.utf8) }
        do {
            if case .error(let e) = try await commands.send(args) {
                logger.warning("redis XACK of \(ids.count) entries refused (they stay pending and are redelivered): \(e)")
            }
        } catch {
            logger.warning("redis XACK of \(ids.count) entries failed (they stay pending and are redelivered): \(error)")
        }
    }
}
