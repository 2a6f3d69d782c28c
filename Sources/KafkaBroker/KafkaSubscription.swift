import BrokerKit
import Foundation
import Logging
import Synchronization

/// One subscription (topic, consumer group) on Kafka: records from the consumer wait in a queue
/// for the subscriber; acknowledged offsets are committed in order (never past one still in
/// flight); a nack or an abandoned delivery is handed out again from memory after its delay,
/// its offset staying uncommitted meanwhile, so a crash redelivers it too.
final class KafkaSubscription: DeliverySource, DeliverySettler, KafkaConsumerDelegate {
    let topic: String
    let group: String
    private let logger: Logger
    private let revokeGrace: Double
    private let state = Mutex(State())
    private let queue = HandOffQueue<Pending>()
    /// Leaves the group member this subscription was added to (set by `start`).
    private let leave = Mutex<(@Sendable () async -> Void)?>(nil)
    private let firstAssignment = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    struct Pending: Sendable {
        var partition: Int32
        var offset: Int64
        var generation: Int
        var payload: [UInt8]
        var metadata: [String: String]
        var attempt: Int
    }

    struct State: Sendable {
        var generation = 0
        /// Assigned partitions: their generation and commit progress.
        var partitions: [Int32: (generation: Int, progress: PartitionProgress)] = [:]
        var inFlight: [UInt64: Pending] = [:]
        var nextToken: UInt64 = 1
        var stopped = false

        func isCurrent(_ p: Pending) -> Bool { partitions[p.partition]?.generation == p.generation }
    }

    init(topic: String, group: String, options: KafkaOptions, logger: Logger) {
        self.topic = topic
        self.group = group
        self.logger = logger
        self.revokeGrace = options.revokeGraceSeconds
    }

    /// Waits, once added to its group member, up to `assignmentWait` seconds for the first
    /// partition assignment, so a publish right after `subscribe` returns is not missed.
    /// `leave` takes the topic out of the member again.
    func waitForAssignment(_ assignmentWait: Double, leave: @escaping @Sendable () async -> Void) async {
        self.leave.withLock { $0 = leave }
        let timer = Task {
            try? await Task.sleep(for: .seconds(assignmentWait))
            self.markAssigned()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = firstAssignment.withLock { s -> Bool in
                if s.done { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
        timer.cancel()
    }

    private func markAssigned() {
        let waiters = firstAssignment.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0.resume() }
    }

    // MARK: DeliverySource

    func next() async throws(BrokerError) -> Delivery? {
        while let p = await queue.take() {
            // Skip records of partitions revoked while they waited.
            if let delivery = state.withLock({ s in s.isCurrent(p) && !s.stopped ? handOut(p, &s) : nil }) { return delivery }
        }
        return nil
    }

    private func handOut(_ p: Pending, _ s: inout State) -> Delivery {
        let token = s.nextToken
        s.nextToken += 1
        s.inFlight[token] = p
        return Delivery(topic: topic, payload: p.payload, metadata: p.metadata, token: token, attempt: p.attempt, settler: self)
    }

    /// Queues a record for the subscriber unless its partition was revoked meanwhile.
    private func enqueue(_ p: Pending) {
        guard state.withLock({ !$0.stopped && $0.isCurrent(p) }) else { return }
        queue.put(p)
    }

    func stop() async {
        state.withLock { $0.stopped = true }
        queue.finish()
        markAssigned()
        if let leave = leave.withLock({ l -> (@Sendable () async -> Void)? in defer { l = nil }; return l }) {
            await leave()
        }
    }

    // MARK: DeliverySettler

    func ack(_ delivery: Delivery) async throws(BrokerError) {
        state.withLock { s in
            guard let p = s.inFlight.removeValue(forKey: delivery.token), s.isCurrent(p) else { return }
            s.partitions[p.partition]?.progress.acknowledge(p.offset)
        }
    }

    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {
        redeliver(token: delivery.token, after: delay)
    }

    func abandoned(token: UInt64, topic: String) {
        redeliver(token: token, after: 0)
    }

    private func redeliver(token: UInt64, after delay: Double) {
        guard var p = state.withLock({ $0.inFlight.removeValue(forKey: token) }) else { return }
        p.attempt += 1
        if delay <= 0 {
            enqueue(p)
            return
        }
        Task {
            try? await Task.sleep(for: .seconds(delay))
            self.enqueue(p)
        }
    }

    // MARK: KafkaConsumerDelegate (poll thread)

    var queued: Int { queue.count }

    func received(_ record: KafkaRecord) {
        let metadata = record.metadata(topic: topic)
        let pending: Pending? = state.withLock { s in
            guard let part = s.partitions[record.partition] else { return nil }
            guard s.partitions[record.partition]!.progress.received(record.offset) else { return nil }
            return Pending(partition: record.partition, offset: record.offset, generation: part.generation,
                           payload: record.payload, metadata: metadata, attempt: 1)
        }
        if let pending { enqueue(pending) }
    }

    func assigned(_ partitions: [Int32]) {
        state.withLock { s in
            for p in partitions {
                s.generation += 1
                s.partitions[p] = (s.generation, PartitionProgress())
            }
        }
        logger.debug("kafka \(topic)/\(group): assigned partitions \(partitions)")
        markAssigned()
    }

    func revoking(_ partitions: [Int32]) -> [(partition: Int32, offset: Int64)] {
        let revoked = Set(partitions)
        queue.removeAll { revoked.contains($0.partition) }  // never handed out: the next owner fetches them
        // Let handed-out deliveries of these partitions finish (not while stopping: then they are
        // abandoned to the next owner at once).
        let deadline = ContinuousClock.now + .milliseconds(Int(revokeGrace * 1000))
        while ContinuousClock.now < deadline {
            let busy = state.withLock { s in !s.stopped && s.inFlight.values.contains { revoked.contains($0.partition) && s.isCurrent($0) } }
            if !busy { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let commits = state.withLock { s -> [(partition: Int32, offset: Int64)] in
            var out: [(partition: Int32, offset: Int64)] = []
            for p in partitions {
                if var part = s.partitions.removeValue(forKey: p), let offset = part.progress.takeCommit() { out.append((p, offset)) }
            }
            return out
        }
        logger.debug("kafka \(topic)/\(group): revoked partitions \(partitions), committing \(commits.map { "\($0.partition)@\($0.offset)" })")
        return commits
    }

    func pendingCommits() -> [(partition: Int32, offset: Int64)] {
        state.withLock { s in
            var out: [(partition: Int32, offset: Int64)] = []
            for key in s.partitions.keys {
                if let offset = s.partitions[key]!.progress.takeCommit() { out.append((key, offset)) }
            }
            return out
        }
    }

    func commitFailed(_ partitions: [Int32]) {
        state.withLock { s in
            for p in partitions { s.partitions[p]?.progress.commitFailed() }
        }
    }

    /// Queued plus handed out and not yet settled: the local part of the backlog.
    var held: Int { queue.count + state.withLock { $0.inFlight.count } }
}
