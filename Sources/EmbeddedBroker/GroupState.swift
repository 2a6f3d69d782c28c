/// The dispatch state of one consumer group on one topic. Pure bookkeeping, no I/O, so every
/// transition is unit-tested: which message goes out next, what is in flight, what comes back,
/// and the committed watermark (every sequence below it is acknowledged).
struct GroupState: Sendable {
    struct InFlight: Sendable {
        var message: StoredMessage
        var attempt: Int
        var leaseDeadline: Double
    }

    struct Pending: Sendable {
        var message: StoredMessage
        var attempt: Int
        var availableAt: Double
    }

    /// Next sequence to read from the log (everything below was loaded into memory already).
    private(set) var cursor: Int64
    /// Loaded from the log, not yet handed out, in sequence order.
    private(set) var buffer: [StoredMessage] = []
    private var bufferHead = 0
    /// Handed out, not settled.
    private(set) var inFlight: [Int64: InFlight] = [:]
    /// Returned (nack, abandon, lease expiry), waiting to go out again.
    private(set) var pending: [Pending] = []
    /// Delivery attempts so far per sequence, for messages handed out more than once.
    private var attempts: [Int64: Int] = [:]
    /// The watermark last persisted.
    var persistedWatermark: Int64
    /// Sequences above the watermark acknowledged before a restart: never handed out again.
    private var skip: Set<Int64>
    /// Acknowledged since the last persist (persisted so a crash re-delivers as little as possible).
    private(set) var recentAcks: [Int64] = []

    init(startAt cursor: Int64, alreadyAcked: Set<Int64> = []) {
        self.cursor = cursor
        self.persistedWatermark = cursor
        self.skip = alreadyAcked
    }

    /// Takes the acknowledgements to persist.
    mutating func drainRecentAcks() -> [Int64] {
        defer { recentAcks.removeAll(keepingCapacity: true) }
        return recentAcks
    }

    /// Puts back acknowledgements whose persist failed, with the watermark that is really on disk.
    mutating func returnAcks(_ acks: [Int64], persistedWatermark: Int64) {
        recentAcks.insert(contentsOf: acks, at: 0)
        self.persistedWatermark = persistedWatermark
    }

    var bufferedCount: Int { buffer.count - bufferHead }
    var pendingCount: Int { pending.count }

    /// Adds messages read from the log (or just committed) starting at the cursor.
    mutating func load(_ messages: [StoredMessage], through lastSeq: Int64) {
        if bufferHead > 0 && bufferHead == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferHead = 0
        }
        for m in messages where m.seq >= cursor {
            if !skip.isEmpty, skip.remove(m.seq) != nil { continue }
            buffer.append(m)
        }
        cursor = max(cursor, lastSeq + 1)
    }

    /// Forgets `seq`, deleted from the log: not handed out (again), and no longer holding the
    /// watermark back; a delivery of it in flight settles as nothing.
    mutating func forget(_ seq: Int64) {
        attempts.removeValue(forKey: seq)
        if seq >= cursor {
            skip.insert(seq)
            return
        }
        if let index = buffer[bufferHead...].firstIndex(where: { $0.seq == seq }) { buffer.remove(at: index) }
        pending.removeAll { $0.message.seq == seq }
        inFlight.removeValue(forKey: seq)
    }

    /// Moves the cursor past sequences that do not belong to this topic or were deleted.
    mutating func skip(to seq: Int64) { cursor = max(cursor, seq) }

    /// The next message to deliver at `now`: a due redelivery first, then the log in order.
    mutating func take(now: Double, leaseSeconds: Double) -> (StoredMessage, attempt: Int)? {
        if let index = pending.indices.min(by: { pending[$0].availableAt < pending[$1].availableAt }),
           pending[index].availableAt <= now {
            let item = pending.remove(at: index)
            inFlight[item.message.seq] = InFlight(message: item.message, attempt: item.attempt, leaseDeadline: now + leaseSeconds)
            return (item.message, item.attempt)
        }
        guard bufferHead < buffer.count else { return nil }
        let message = buffer[bufferHead]
        bufferHead += 1
        if bufferHead > 1024 && bufferHead * 2 > buffer.count {
            buffer.removeFirst(bufferHead)
            bufferHead = 0
        }
        let attempt = (attempts[message.seq] ?? 0) + 1
        inFlight[message.seq] = InFlight(message: message, attempt: attempt, leaseDeadline: now + leaseSeconds)
        return (message, attempt)
    }

    /// Earliest time a pending redelivery becomes due, if any.
    var nextPendingTime: Double? { pending.map(\.availableAt).min() }

    /// Settles `seq` as processed. Returns false if it was not in flight (already settled or expired).
    @discardableResult
    mutating func ack(_ seq: Int64) -> Bool {
        guard inFlight.removeValue(forKey: seq) != nil else { return false }
        attempts.removeValue(forKey: seq)
        recentAcks.append(seq)
        return true
    }

    /// Returns `seq` for redelivery at `availableAt`.
    @discardableResult
    mutating func release(_ seq: Int64, availableAt: Double) -> Bool {
        guard let item = inFlight.removeValue(forKey: seq) else { return false }
        pending.append(Pending(message: item.message, attempt: item.attempt + 1, availableAt: availableAt))
        return true
    }

    /// Releases every lease that ended before `now`; returns how many.
    mutating func expireLeases(now: Double) -> Int {
        let expired = inFlight.filter { $0.value.leaseDeadline < now }.map(\.key)
        for seq in expired { release(seq, availableAt: now) }
        return expired.count
    }

    /// Every sequence below this is acknowledged by the group.
    var watermark: Int64 {
        var w = bufferHead < buffer.count ? buffer[bufferHead].seq : cursor
        if let m = inFlight.keys.min() { w = min(w, m) }
        if let m = pending.map(\.message.seq).min() { w = min(w, m) }
        return w
    }

    /// Everything returned or in flight goes back to the log order (used when the last
    /// subscriber of the group leaves, so a later one starts from the watermark).
    var isIdle: Bool { inFlight.isEmpty && pending.isEmpty }
}
