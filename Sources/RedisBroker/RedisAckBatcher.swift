import Logging
import Synchronization

/// The acknowledgements of one subscription, sent as one `XACK` per batch: an ack is a lock and
/// an append; the first one after a quiet moment starts a sender that keeps sending whatever
/// arrived meanwhile (up to 1,024 ids per command) until nothing is left. An ack that never
/// reaches Redis leaves its entry pending, so it is delivered again (a duplicate, never a loss).
final class RedisAckBatcher: Sendable {
    private struct State {
        var ids: [String] = []
        var sending = false
        var flushed: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let commands: RedisConnection
    private let prefix: [[UInt8]]
    private let logger: Logger
    private let maxBatch = 1024

    init(commands: RedisConnection, topic: String, group: String, logger: Logger) {
        self.commands = commands
        self.prefix = [Array("XACK".utf8), Array(topic.utf8), Array(group.utf8)]
        self.logger = logger
    }

    /// Queues the acknowledgement of entry `id`.
    func add(_ id: String) {
        let start = state.withLock { s -> Bool in
            s.ids.append(id)
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
            let (batch, waiters) = state.withLock { s -> ([String], [CheckedContinuation<Void, Never>]) in
                guard !s.ids.isEmpty else {
                    s.sending = false
                    defer { s.flushed = [] }
                    return ([], s.flushed)
                }
                let n = min(s.ids.count, maxBatch)
                defer { s.ids.removeFirst(n) }
                return (Array(s.ids.prefix(n)), [])
            }
            guard !batch.isEmpty else {
                waiters.forEach { $0.resume() }
                return
            }
            do {
                if case .error(let e) = try await commands.send(prefix + batch.map { Array($0.utf8) }) {
                    logger.warning("redis XACK of \(batch.count) entries refused (they stay pending and are redelivered): \(e)")
                }
            } catch {
                logger.warning("redis XACK of \(batch.count) entries failed (they stay pending and are redelivered): \(error)")
            }
        }
    }
}
