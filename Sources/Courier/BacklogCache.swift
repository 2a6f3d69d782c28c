import BrokerKit
import Delivery
import Foundation
import Synchronization

/// Recent backlog figures by (pub/sub, topic, group), so that listing many apps' subscriptions
/// does not ask the broker once per subscription per request: a figure younger than `maxAge` is
/// reused, and the rest are read a few at a time (a Kafka lag query opens a client of its own).
final class BacklogCache: Sendable {
    struct Key: Hashable, Sendable {
        var pubsub: String
        var topic: String
        var group: String
    }

    private let entries = Mutex<[Key: (backlog: Backlog, at: ContinuousClock.Instant)]>([:])
    let maxAge: Duration
    let width: Int

    init(maxAge: Duration = .seconds(2), width: Int = 8) {
        self.maxAge = maxAge
        self.width = width
    }

    /// The backlog of each request (`nil` where the broker could not say), in order.
    func backlogs(_ requests: [(key: Key, broker: any MessageBroker)]) async -> [Backlog?] {
        let now = ContinuousClock.now
        var results = [Backlog?](repeating: nil, count: requests.count)
        var missing: [Int] = []
        entries.withLock { e in
            for (i, r) in requests.enumerated() {
                if let hit = e[r.key], now - hit.at < maxAge { results[i] = hit.backlog } else { missing.append(i) }
            }
        }
        await withTaskGroup(of: (Int, Backlog?).self) { group in
            var next = 0
            func start() {
                guard next < missing.count else { return }
                let i = missing[next], request = requests[i]
                next += 1
                group.addTask { (i, try? await request.broker.backlog(topic: request.key.topic, group: request.key.group)) }
            }
            for _ in 0..<width { start() }
            for await (i, backlog) in group {
                results[i] = backlog
                if let backlog { entries.withLock { $0[requests[i].key] = (backlog, ContinuousClock.now) } }
                start()
            }
        }
        return results
    }
}
