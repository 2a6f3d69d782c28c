/// Which offset of one partition may be committed, when acknowledgements arrive out of order.
///
/// Offsets are received in increasing order; the commit position is the lowest offset not yet
/// acknowledged (or one past the highest received when all are), so a commit never passes a
/// message that is still being processed or waits for redelivery. Pure state, no I/O.
struct PartitionProgress: Sendable {
    /// Received offsets in order, from `head`; `acked[i]` tells whether `offsets[i]` is done.
    private var offsets: [Int64] = []
    private var acked: [Bool] = []
    private var head = 0
    /// One past the highest offset received.
    private(set) var next: Int64?
    /// The position last handed out by `takeCommit`.
    private(set) var committed: Int64?

    init() {}

    /// Records a received offset; false (and nothing recorded) for an offset at or below one already
    /// received, which librdkafka does not normally deliver twice.
    @discardableResult
    mutating func received(_ offset: Int64) -> Bool {
        if let next, offset < next { return false }
        offsets.append(offset)
        acked.append(false)
        next = offset + 1
        return true
    }

    /// Marks `offset` as processed; false when it is not outstanding.
    @discardableResult
    mutating func acknowledge(_ offset: Int64) -> Bool {
        var lo = head, hi = offsets.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if offsets[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo < offsets.count, offsets[lo] == offset, !acked[lo] else { return false }
        acked[lo] = true
        while head < offsets.count && acked[head] { head += 1 }
        if head > 1024 && head * 2 > offsets.count {
            offsets.removeFirst(head)
            acked.removeFirst(head)
            head = 0
        }
        return true
    }

    /// Received and not yet acknowledged.
    var outstanding: Int { acked[head...].lazy.filter { !$0 }.count }

    /// The offset to commit: the first unacknowledged one, or `next` when everything is done.
    var position: Int64? { head < offsets.count ? offsets[head] : next }

    /// The last commit did not reach the broker: the next `takeCommit` hands the position out again.
    mutating func commitFailed() { committed = nil }

    /// The position if it moved since the last call, recording it as committed.
    mutating func takeCommit() -> Int64? {
        guard let p = position, p != committed else { return nil }
        committed = p
        return p
    }
}
