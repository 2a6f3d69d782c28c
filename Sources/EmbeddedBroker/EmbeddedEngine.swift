import BrokerKit
import Logging

/// Owns the in-memory dispatch state of every consumer group and wakes subscribers when
/// messages are committed, returned, or due again. Storage I/O goes through `LogStore`.
actor EmbeddedEngine {
    struct GroupKey: Hashable, Sendable {
        var topic: String
        var group: String
    }

    private struct Group {
        var state: GroupState
        var waiters: [CheckedContinuation<Void, Never>] = []
        var loading = false
    }

    let store: LogStore
    let options: EmbeddedOptions
    let logger: Logger
    private var groups: [GroupKey: Group] = [:]
    /// Highest committed sequence per topic, kept by the writer.
    let index: CommitIndex
    private var dirty: Set<GroupKey> = []
    private let ackInbox = AckInbox()
    private var closed = false
    private var stopped: Set<Int> = []
    private let readBatch = 512
    private let maxBuffered = 4096

    init(store: LogStore, options: EmbeddedOptions, logger: Logger) throws {
        self.store = store
        self.options = options
        self.logger = logger
        self.index = CommitIndex(storeHigh: try store.highestSequence())
    }

    // MARK: Subscribing

    /// Makes sure the group exists; creates it at `initialOffset` if it never existed.
    func join(_ key: GroupKey) async throws {
        if groups[key] == nil {
            let start: Int64
            var acked: Set<Int64> = []
            if let committed = try await store.committed(topic: key.topic, group: key.group) {
                start = committed
                acked = try await store.acked(topic: key.topic, group: key.group, from: committed)
            } else {
                start = options.initialOffsetOldest ? 0 : index.globalHigh + 1
                try await store.commit([.init(topic: key.topic, group: key.group, committed: start)])
            }
            if groups[key] == nil {
                index.markConsumed(key.topic)
                groups[key] = Group(state: GroupState(startAt: start, alreadyAcked: acked))
            }
        }
    }

    // MARK: Handing out

    /// The next message for the group, waiting until one is available. Returns `nil` once the
    /// engine is closed or `subscriber` has stopped.
    func next(_ key: GroupKey, subscriber: Int) async throws -> (StoredMessage, Int)? {
        while true {
            guard !closed, !stopped.contains(subscriber), groups[key] != nil else { return nil }
            let now = RFC3339Clock.now()
            if let item = groups[key]!.state.take(now: now, leaseSeconds: options.leaseSeconds) {
                return item
            }
            let high = index.high(key.topic)
            if groups[key]!.state.cursor <= high, !groups[key]!.loading {
                try await load(key, high: high)
                continue
            }
            // Nothing to hand out: wait in this same actor turn, so no wake-up is missed.
            if let due = groups[key]!.state.nextPendingTime {
                Task {
                    try? await Task.sleep(for: .seconds(max(due - now, 0.001)))
                    self.wake(key)
                }
            }
            await withCheckedContinuation { continuation in
                groups[key]!.waiters.append(continuation)
            }
        }
    }

    /// Reads the next part of the topic's log into the group's buffer.
    private func load(_ key: GroupKey, high: Int64) async throws {
        groups[key]!.loading = true
        let from = groups[key]!.state.cursor
        let messages: [StoredMessage]
        do {
            messages = try await store.read(topic: key.topic, from: from, limit: readBatch)
        } catch {
            groups[key]?.loading = false
            wake(key)
            throw error
        }
        guard groups[key] != nil else { return }
        groups[key]!.loading = false
        // A short read means everything committed up to `high` (known before the read) is loaded.
        let through = messages.count < readBatch ? max(high, messages.last?.seq ?? high) : messages.last!.seq
        groups[key]!.state.load(messages, through: through)
        wake(key)
    }

    /// Makes `subscriber`'s pending and future `next` calls return `nil`.
    /// `seq` of `topic` was deleted from the log: every group forgets it.
    func removed(topic: String, seq: Int64) {
        for key in groups.keys where key.topic == topic {
            groups[key]!.state.forget(seq)
            wake(key)
        }
    }

    func stop(_ key: GroupKey, subscriber: Int) {
        stopped.insert(subscriber)
        wake(key)
    }

    private func wake(_ key: GroupKey) {
        guard let waiters = groups[key]?.waiters, !waiters.isEmpty else { return }
        groups[key]!.waiters.removeAll()
        waiters.forEach { $0.resume() }
    }

    // MARK: Settling

    /// Takes an acknowledgement without entering the actor (`AckInbox`); applied by `applyAcks`.
    nonisolated func ack(_ key: GroupKey, seq: Int64) {
        if ackInbox.add(key, seq) { Task { await self.applyAcks() } }
    }

    private func applyAcks() {
        for (key, seqs) in ackInbox.take() {
            for seq in seqs where groups[key]?.state.ack(seq) == true { dirty.insert(key) }
        }
    }

    func release(_ key: GroupKey, seq: Int64, after delay: Double) {
        if groups[key]?.state.release(seq, availableAt: RFC3339Clock.now() + delay) == true {
            wake(key)
        }
    }

    // MARK: Commits from the writer

    /// Called by the group-commit writer, in commit order, for the messages of one consumed
    /// topic; `previousHigh` is the topic's high before this commit.
    func didCommit(topic: String, messages: [StoredMessage], previousHigh: Int64) {
        let last = messages.last!.seq
        for key in groups.keys where key.topic == topic {
            // A caught-up group takes the committed messages straight from memory.
            if !groups[key]!.loading, groups[key]!.state.cursor > previousHigh,
               groups[key]!.state.bufferedCount < maxBuffered {
                groups[key]!.state.load(messages, through: last)
            }
            wake(key)
        }
    }

    // MARK: Housekeeping

    /// Persists moved watermarks and expires leases. Called periodically and on close.
    func housekeeping() async {
        applyAcks()
        let now = RFC3339Clock.now()
        for key in groups.keys where groups[key]!.state.expireLeases(now: now) > 0 {
            logger.warning("delivery leases expired; messages will be redelivered", metadata: ["topic": "\(key.topic)", "group": "\(key.group)"])
            wake(key)
        }
        var progress: [LogStore.Progress] = []
        var previous: [GroupKey: Int64] = [:]
        for key in dirty {
            guard groups[key] != nil else { continue }
            let w = groups[key]!.state.watermark
            let acked = groups[key]!.state.drainRecentAcks()
            if w != groups[key]!.state.persistedWatermark || acked.contains(where: { $0 >= w }) {
                progress.append(.init(topic: key.topic, group: key.group, committed: w, acked: acked))
                previous[key] = groups[key]!.state.persistedWatermark
                groups[key]!.state.persistedWatermark = w
            }
        }
        dirty.removeAll()
        do {
            try await store.commit(progress)
        } catch {
            if !(error is CancellationError) { logger.error("cannot persist consumer offsets: \(error)") }
            // Not persisted: hand the acknowledgements back so the next pass (or the final one in
            // `close`) writes them; a crash before then re-delivers them (duplicates, never loss).
            for p in progress {
                let key = GroupKey(topic: p.topic, group: p.group)
                groups[key]?.state.returnAcks(p.acked, persistedWatermark: previous[key] ?? p.committed)
                dirty.insert(key)
            }
        }
    }

    /// The group's queue length.
    func backlog(_ key: GroupKey) async throws -> Backlog {
        applyAcks()  // an acknowledged message is no longer in flight, even if its ack was not applied yet
        if let g = groups[key] {
            let fromLog = try await store.count(topic: key.topic, from: g.state.cursor)
            return Backlog(undelivered: fromLog + Int64(g.state.bufferedCount + g.state.pendingCount), inFlight: Int64(g.state.inFlight.count))
        }
        let start = try await store.committed(topic: key.topic, group: key.group) ?? (options.initialOffsetOldest ? 0 : Int64.max)
        let count = start == Int64.max ? 0 : try await store.count(topic: key.topic, from: start)
        return Backlog(undelivered: count, inFlight: 0)
    }

    /// Final housekeeping, then no more deliveries. The final commit runs in its own task so a
    /// caller cancelled by the shutdown deadline still persists what the app acknowledged.
    func close() async {
        await Task { await self.housekeeping() }.value
        closed = true
        for key in groups.keys { wake(key) }
    }

    var isClosed: Bool { closed }
}
