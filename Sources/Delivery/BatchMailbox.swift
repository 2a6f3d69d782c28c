import BrokerKit

/// Hands deliveries from a broker reader to the bulk batcher: bounded, and able to wait for
/// "a full batch or a deadline, whichever comes first".
actor BatchMailbox {
    private var items: [Delivery] = []
    private let capacity: Int
    private var producer: CheckedContinuation<Void, Never>?
    private var consumer: CheckedContinuation<Void, Never>?
    private var finished = false

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Adds a delivery, waiting while the mailbox is full.
    func put(_ delivery: Delivery) async {
        while items.count >= capacity && !finished {
            await withCheckedContinuation { producer = $0 }
        }
        items.append(delivery)
        poke()
    }

    /// No more deliveries will come.
    func finish() {
        finished = true
        poke()
        producer?.resume()
        producer = nil
    }

    /// Wakes a waiting consumer (a new item, a deadline, or the end).
    func poke() {
        consumer?.resume()
        consumer = nil
    }

    /// Up to `max` deliveries: waits for the first one, then until `max` arrived or `maxWait`
    /// seconds passed. `nil` once finished and empty.
    func takeBatch(max: Int, maxWait: Double) async -> [Delivery]? {
        while items.isEmpty {
            if finished { return nil }
            await withCheckedContinuation { consumer = $0 }
        }
        if items.count < max && !finished && maxWait > 0 {
            let deadline = ContinuousClock.now + .seconds(min(maxWait, 86_400))
            let timer = Task {
                try? await Task.sleep(until: deadline)
                self.poke()
            }
            while items.count < max && !finished && ContinuousClock.now < deadline {
                await withCheckedContinuation { consumer = $0 }
            }
            timer.cancel()
        }
        let n = Swift.min(max, items.count)
        let batch = Array(items.prefix(n))
        items.removeFirst(n)
        producer?.resume()
        producer = nil
        return batch
    }

    /// Up to `max` deliveries there now, without waiting (possibly none).
    func takeAvailable(max: Int) -> [Delivery] {
        let n = Swift.min(max, items.count)
        let batch = Array(items.prefix(n))
        items.removeFirst(n)
        if n > 0 {
            producer?.resume()
            producer = nil
        }
        return batch
    }
}
