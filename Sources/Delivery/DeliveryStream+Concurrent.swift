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
