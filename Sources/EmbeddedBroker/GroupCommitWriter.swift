import BrokerKit
import Synchronization

/// Batches concurrent publishes into one SQLite transaction ("group commit"): while one
/// transaction is being written, new publishes queue up and go together in the next one.
/// Each publisher resumes only after the transaction holding its message has committed.
final class GroupCommitWriter: Sendable {
    typealias Entry = (topic: String, payload: [UInt8], metadata: [String: String])
    private struct Waiting {
        var entry: Entry
        var continuation: CheckedContinuation<Int64, any Error>
    }
    private struct State {
        var queue: [Waiting] = []
        var writing = false
    }

    private let state = Mutex(State())
    private let store: LogStore
    private let maxBatch: Int
    /// Called after each commit, in commit order, with the committed messages.
    private let onCommit: @Sendable ([StoredMessage]) async -> Void

    init(store: LogStore, maxBatch: Int = 2048, onCommit: @escaping @Sendable ([StoredMessage]) async -> Void) {
        self.store = store
        self.maxBatch = maxBatch
        self.onCommit = onCommit
    }

    /// Appends one message; returns its sequence once committed.
    func append(_ entry: Entry) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = state.withLock { s -> Bool in
                s.queue.append(Waiting(entry: entry, continuation: continuation))
                if s.writing { return false }
                s.writing = true
                return true
            }
            if startWriter {
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while true {
            let batch: [Waiting] = state.withLock { s in
                if s.queue.isEmpty {
                    s.writing = false
                    return []
                }
                let n = min(s.queue.count, maxBatch)
                let batch = Array(s.queue.prefix(n))
                s.queue.removeFirst(n)
                return batch
            }
            if batch.isEmpty { return }
            do {
                let seqs = try await store.append(batch.map(\.entry), now: RFC3339Clock.now())
                var committed: [StoredMessage] = []
                committed.reserveCapacity(batch.count)
                for (i, w) in batch.enumerated() {
                    committed.append(StoredMessage(seq: seqs[i], topic: w.entry.topic, payload: w.entry.payload, metadata: w.entry.metadata))
                }
                // Durable now: answer the publishers first, then hand the messages to dispatch.
                for (i, w) in batch.enumerated() { w.continuation.resume(returning: seqs[i]) }
                await onCommit(committed)
            } catch {
                for w in batch { w.continuation.resume(throwing: error) }
            }
        }
    }
}

import CloudEvents

enum RFC3339Clock {
    static func now() -> Double { RFC3339.currentUnixSeconds() }
}
