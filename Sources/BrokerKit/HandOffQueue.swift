import Synchronization

/// A FIFO between a C client's thread and a subscriber: `put` never suspends (a poll thread or a
/// callback may call it), `take` suspends until an item arrives or the queue is finished.
/// Bounding is the producer's job: it looks at `count` (pause fetching, fetch less).
public final class HandOffQueue<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var head = 0
        var takers: [CheckedContinuation<Item?, Never>] = []
        var finished = false
    }
    private let state = Mutex(State())

    public init() {}

    /// Appends an item, or hands it to a waiting `take`. Ignored once finished.
    public func put(_ item: Item) {
        let taker = state.withLock { s -> CheckedContinuation<Item?, Never>? in
            guard !s.finished else { return nil }
            if !s.takers.isEmpty { return s.takers.removeFirst() }
            s.items.append(item)
            return nil
        }
        taker?.resume(returning: item)
    }

    /// The oldest item, waiting for one; `nil` once finished.
    public func take() async -> Item? {
        await withCheckedContinuation { (c: CheckedContinuation<Item?, Never>) in
            let ready: Item?? = state.withLock { s in
                if s.head < s.items.count {
                    let item = s.items[s.head]
                    s.head += 1
                    if s.head > 256 && s.head * 2 > s.items.count {
                        s.items.removeFirst(s.head)
                        s.head = 0
                    }
                    return .some(item)
                }
                if s.finished { return .some(nil) }
                s.takers.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// Up to `max` waiting items, without waiting.
    public func takeAvailable(max: Int) -> [Item] {
        state.withLock { s in
            let n = min(max, s.items.count - s.head)
            guard n > 0 else { return [] }
            let out = Array(s.items[s.head..<(s.head + n)])
            s.head += n
            return out
        }
    }

    /// Items waiting.
    public var count: Int { state.withLock { $0.items.count - $0.head } }

    /// Removes waiting items that match.
    public func removeAll(where shouldRemove: (Item) -> Bool) {
        state.withLock { s in
            s.items = s.items[s.head...].filter { !shouldRemove($0) }
            s.head = 0
        }
    }

    /// Ends the queue after what waits in it: `take` hands those items out, then returns `nil`;
    /// later `put`s are ignored.
    public func finishAfterWaiting() {
        let takers = state.withLock { s -> [CheckedContinuation<Item?, Never>] in
            s.finished = true
            defer { s.takers = [] }
            return s.takers  // only waiting while it is empty
        }
        takers.forEach { $0.resume(returning: nil) }
    }

    /// Ends the queue: waiting and later `take`s return `nil`; waiting items are dropped.
    public func finish() {
        let takers = state.withLock { s -> [CheckedContinuation<Item?, Never>] in
            s.finished = true
            s.items = []
            s.head = 0
            defer { s.takers = [] }
            return s.takers
        }
        takers.forEach { $0.resume(returning: nil) }
    }
}
