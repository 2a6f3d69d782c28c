import Synchronization

/// Which deliveries may start, when events with the same key go one at a time in arrival order:
/// `offer` starts an item whose key is idle and queues it behind its key otherwise; `next`,
/// called when a key's item finished, hands out that key's next item or frees the key. A pure
/// state machine behind a lock (tested without I/O).
public final class KeyedQueues<Item: Sendable>: Sendable {
    private struct State {
        /// Busy keys, each with the items waiting behind the one being handled.
        var waiting: [String: [Item]] = [:]
        var queued = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// `item` if its key is idle (the key is now busy: start it), `nil` when it was queued.
    public func offer(_ item: Item, key: String) -> Item? {
        state.withLock { s in
            if s.waiting[key] != nil {
                s.waiting[key]!.append(item)
                s.queued += 1
                return nil
            }
            s.waiting[key] = []
            return item
        }
    }

    /// The next item of `key` after the one that finished, or `nil` (the key is idle again).
    public func next(after key: String) -> Item? {
        state.withLock { s in
            guard var queue = s.waiting[key], !queue.isEmpty else {
                s.waiting[key] = nil
                return nil
            }
            let item = queue.removeFirst()
            s.waiting[key] = queue
            s.queued -= 1
            return item
        }
    }

    /// Keys busy now, and items queued behind them.
    public var counts: (busyKeys: Int, queued: Int) { state.withLock { ($0.waiting.count, $0.queued) } }
}
