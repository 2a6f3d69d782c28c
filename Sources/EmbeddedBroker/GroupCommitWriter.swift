import BrokerKit
import Synchronization

/// Batches concurrent publishes into one SQLite transaction ("group commit"): while one
/// transaction is being written, new publishes queue up and go together in the next one.
/// Each publisher resumes only after the transaction holding its message has committed.
final class GroupCommitWriter: Sendable {
    typealias Entry = (topic: String, payload: [UInt8], metadata: [String: String])
    private struct Waiting {
        var entry: Entry
        var done: Completion
    }

    /// Who hears about a committed (or failed) entry: one publisher, or one slot of a batch.
    private enum Completion {
        case single(CheckedContinuation<Int64, any Error>)
        case batch(BatchWaiter, Int)

        func finish(_ result: Result<Int64, any Error>) {
            switch self {
            case .single(let c): c.resume(with: result)
            case .batch(let waiter, let index): waiter.finish(index, result)
            }
        }
    }

    /// Collects the results of one `appendBatch` and resumes its caller when all are in.
    private final class BatchWaiter: Sendable {
        private let state: Mutex<(results: [(any Error)?], remaining: Int, continuation: CheckedContinuation<[(any Error)?], Never>?)>
        init(count: Int, continuation: CheckedContinuation<[(any Error)?], Never>) {
            state = Mutex((Array(repeating: nil, count: count), count, continuation))
        }
        func finish(_ index: Int, _ result: Result<Int64, any Error>) {
            let done = state.withLock { s -> (CheckedContinuation<[(any Error)?], Never>, [(any Error)?])? in
                if case .failure(let e) = result { s.results[index] = e }
                s.remaining -= 1
                guard s.remaining == 0, let c = s.continuation else { return nil }
                s.continuation = nil
                return (c, s.results)
            }
            if let (c, results) = done { c.resume(returning: results) }
        }
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
            enqueue([Waiting(entry: entry, done: .single(continuation))])
        }
    }

    /// Appends messages in this order (they get consecutive places in the queue, so increasing
    /// sequences); returns one error or `nil` per message once all are committed or failed.
    func appendBatch(_ entries: [Entry]) async -> [(any Error)?] {
        guard !entries.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let waiter = BatchWaiter(count: entries.count, continuation: continuation)
            enqueue(entries.enumerated().map { Waiting(entry: $0.element, done: .batch(waiter, $0.offset)) })
        }
    }

    private func enqueue(_ items: [Waiting]) {
        let startWriter = state.withLock { s -> Bool in
            s.queue.append(contentsOf: items)
            if s.writing { return false }
            s.writing = true
            return true
        }
        if startWriter {
            Task { await self.drain() }
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
                for (i, w) in batch.enumerated() { w.done.finish(.success(seqs[i])) }
                await onCommit(committed)
            } catch {
                for w in batch { w.done.finish(.failure(error)) }
            }
        }
    }
}

import CloudEvents

enum RFC3339Clock {
    static func now() -> Double { RFC3339.currentUnixSeconds() }
}
