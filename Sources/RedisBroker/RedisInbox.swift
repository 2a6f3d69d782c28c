import BrokerKit

/// Entries read from Redis, waiting for the subscriber: bounded (the reader waits when it is
/// full), and `take` waits when it is empty. `finish` ends both sides.
actor RedisInbox {
    struct Entry: Sendable {
        var id: String
        var payload: [UInt8]
        var metadata: [String: String]
        var attempt: Int
    }

    private var items: [Entry] = []
    private let capacity: Int
    private var takers: [CheckedContinuation<Entry?, Never>] = []
    private var putters: [CheckedContinuation<Void, Never>] = []
    private var finished = false

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    func put(_ entries: [Entry]) async {
        for entry in entries {
            if !takers.isEmpty {
                takers.removeFirst().resume(returning: entry)
                continue
            }
            items.append(entry)
        }
        while items.count >= capacity && !finished {
            await withCheckedContinuation { putters.append($0) }
        }
    }

    func take() async -> Entry? {
        if !items.isEmpty {
            let e = items.removeFirst()
            if items.count < capacity, !putters.isEmpty { putters.removeFirst().resume() }
            return e
        }
        if finished { return nil }
        return await withCheckedContinuation { takers.append($0) }
    }

    func finish() {
        finished = true
        takers.forEach { $0.resume(returning: nil) }
        takers.removeAll()
        putters.forEach { $0.resume() }
        putters.removeAll()
    }

    var isFinished: Bool { finished }
}
