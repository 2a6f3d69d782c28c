import BrokerKit
import Logging

extension DeliveryStream {
    /// Hands every delivery to `handle` with at most `maxConcurrency` of them running; `admit`
    /// runs before each is started (a shared limit's acquire). A failed receive is logged and
    /// retried after a second. Returns once the stream ended and every handler finished.
    public func forEach(maxConcurrency: Int, logger: Logger, admit: @escaping @Sendable () async -> Void = {},
                        _ handle: @escaping @Sendable (Delivery) async -> Void) async {
        await withTaskGroup(of: Void.self) { tasks in
            var running = 0
            var iterator = makeAsyncIterator()
            while true {
                if running >= maxConcurrency {
                    await tasks.next()
                    running -= 1
                }
                let delivery: Delivery?
                do {
                    delivery = try await iterator.next()
                } catch {
                    logger.error("receiving from the broker failed: \(error)")
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                guard let delivery else { break }
                await admit()
                running += 1
                tasks.addTask { await handle(delivery) }
            }
        }
    }
}

extension DeliveryStream {
    /// Hands deliveries to `handle` in order per key: those with the same key one at a time, in
    /// the order the stream yields them; different keys in parallel, at most `maxConcurrency` at
    /// once, with at most `maxBuffered` deliveries taken and not yet finished (those queued
    /// behind a busy key count). A delivery whose `key` is `nil` is handled at once, in no order.
    /// `admit` runs before each `handle`, which gets the delivery's key. Returns once the stream
    /// ended and every handler finished.
    public func forEachOrdered(maxConcurrency: Int, maxBuffered: Int, logger: Logger, admit: @escaping @Sendable () async -> Void = {},
                               key: @escaping @Sendable (Delivery) -> String?,
                               _ handle: @escaping @Sendable (Delivery, String?) async -> Void) async {
        let queues = KeyedQueues<Delivery>()
        let buffered = AsyncSemaphore(permits: Swift.max(maxBuffered, 1))
        await withTaskGroup(of: Void.self) { tasks in
            var running = 0
            var iterator = makeAsyncIterator()
            while true {
                await buffered.acquire()
                let delivery: Delivery?
                do {
                    delivery = try await iterator.next()
                } catch {
                    buffered.release()
                    logger.error("receiving from the broker failed: \(error)")
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                guard let delivery else {
                    buffered.release()
                    break
                }
                let k = key(delivery)
                var start: Delivery? = delivery
                if let k { start = queues.offer(delivery, key: k) }
                guard let first = start else { continue }  // queued behind its key
                if running >= maxConcurrency {
                    await tasks.next()
                    running -= 1
                }
                running += 1
                tasks.addTask {
                    var item = first
                    while true {
                        await admit()
                        await handle(item, k)
                        buffered.release()
                        guard let k, let following = queues.next(after: k) else { return }
                        item = following
                    }
                }
            }
        }
    }
}
