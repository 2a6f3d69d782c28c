import BrokerKit
import Foundation
import Logging
import Synchronization

/// One subscription: a durable queue `{consumerID}-{topic}` (or `queueName`) bound to the topic's
/// exchange, consumed on a connection owned by this subscription's thread. Acks and nacks from
/// other threads are queued for that thread. After a lost connection it reconnects, re-declares
/// the topology and consumes again; deliveries of the old connection were requeued by the broker,
/// so their late settlements are ignored.
final class RabbitSubscription: DeliverySource, DeliverySettler {
    struct Topology: Sendable {
        var exchange: String
        var queue: String
        var routingKeys: [String]
        var arguments: [(String, AMQPConnection.Value)]
        var deadLetter: Bool
    }

    private struct Received: Sendable {
        var tag: UInt64
        var generation: Int
        var body: [UInt8]
        var headers: [String: String]
        var redelivered: Bool
    }

    private enum Settle: Sendable { case ack(UInt64), nack(UInt64, requeue: Bool) }

    let topic: String
    let queueName: String
    private let options: RabbitMQOptions
    private let queue = HandOffQueue<Received>()
    private let settles = Mutex<[(generation: Int, action: Settle)]>([])
    private let inFlight = DeliveryTokens<(tag: UInt64, generation: Int)>()
    private let generation = Atomic<Int>(0)
    private let pollerBox = Mutex<PollThread?>(nil)
    private let stopped = Atomic<Bool>(false)

    init(topic: String, queueName: String, options: RabbitMQOptions) {
        self.topic = topic
        self.queueName = queueName
        self.options = options
    }

    /// State only the owner thread touches.
    private final class Owner: @unchecked Sendable {
        let connection = AMQPConnection()
        let topology: Topology
        let prefetch: Int
        let logger: Logger
        /// The caller of `start`, until the first set-up succeeded or failed.
        var starting: CheckedContinuation<BrokerError?, Never>?
        var retryAt: ContinuousClock.Instant?
        init(topology: Topology, prefetch: Int, logger: Logger) {
            self.topology = topology
            self.prefetch = prefetch
            self.logger = logger
        }
    }

    /// Starts the owner thread; waits until the queue is declared and consumed (or fails).
    func start(topology: Topology, prefetch: Int, logger: Logger) async throws(BrokerError) {
        let owner = Owner(topology: topology, prefetch: prefetch, logger: logger)
        let error = await withCheckedContinuation { (c: CheckedContinuation<BrokerError?, Never>) in
            owner.starting = c
            let poller = PollThread(name: "amqp-\(topic)", body: { [self] in self.turn(owner) },
                                    finish: { [self] in
                                        // Acks not yet sent would otherwise be lost with the connection and
                                        // the messages handed to another consumer again.
                                        if owner.connection.isOpen { try? self.sendSettles(owner.connection) }
                                        owner.connection.close()
                                    })
            pollerBox.withLock { $0 = poller }
        }
        if let error {
            await stop()
            throw error
        }
    }

    private func turn(_ owner: Owner) {
        let connection = owner.connection
        if !connection.isOpen {
            if let at = owner.retryAt, ContinuousClock.now < at {
                Thread.sleep(forTimeInterval: 0.05)
                return
            }
            do throws(BrokerError) {
                try Self.setUp(connection, owner.topology, options: options, prefetch: owner.prefetch)
                generation.add(1, ordering: .relaxed)
                settles.withLock { $0 = [] }
                owner.starting?.resume(returning: nil)
                owner.starting = nil
            } catch {
                connection.close()
                if let c = owner.starting {
                    owner.starting = nil
                    c.resume(returning: error)
                    Thread.sleep(forTimeInterval: 0.05)
                    return
                }
                owner.logger.warning("rabbitmq subscription \(owner.topology.queue): \(error); retrying in \(options.reconnectWaitSeconds)s")
                owner.retryAt = .now + .milliseconds(Int(options.reconnectWaitSeconds * 1000))
            }
            return
        }
        do throws(BrokerError) {
            let current = generation.load(ordering: .relaxed)
            try sendSettles(connection)
            let busy = inFlight.count > 0 || queue.count > 0
            if let e = try connection.nextDelivery(timeoutMs: busy ? 2 : 50) {
                queue.put(Received(tag: e.deliveryTag, generation: current, body: e.body, headers: e.headers, redelivered: e.redelivered))
            }
        } catch {
            owner.logger.warning("rabbitmq subscription \(owner.topology.queue) lost its connection: \(error); reconnecting")
            connection.close()
            queue.removeAll { _ in true }  // requeued by the broker with the connection
            owner.retryAt = .now + .milliseconds(Int(options.reconnectWaitSeconds * 1000))
        }
    }

    /// Sends the queued acks and nacks of the current connection.
    private func sendSettles(_ connection: AMQPConnection) throws(BrokerError) {
        let current = generation.load(ordering: .relaxed)
        let pending: [(generation: Int, action: Settle)] = settles.withLock { s in
            let taken = s
            s = []
            return taken
        }
        for (gen, action) in pending where gen == current {
            switch action {
            case .ack(let tag): try connection.ack(tag)
            case .nack(let tag, let requeue): try connection.nack(tag, requeue: requeue)
            }
        }
    }

    private static func setUp(_ c: AMQPConnection, _ t: Topology, options: RabbitMQOptions, prefetch: Int) throws(BrokerError) {
        try c.open(options.endpoint, heartbeat: options.heartbeatSeconds)
        // An empty exchange is the default one: a binding's queue is consumed without binding it.
        if !t.exchange.isEmpty { try c.declareExchange(t.exchange, kind: options.exchangeKind, durable: options.durable) }
        var arguments = t.arguments
        if t.deadLetter {
            let dlx = "dlx-\(t.queue)"
            try c.declareExchange(dlx, kind: "fanout", durable: true)
            try c.declareQueue("dlq-\(t.queue)", durable: true, autoDelete: false, arguments: [])
            try c.bind(queue: "dlq-\(t.queue)", exchange: dlx, routingKey: "")
            arguments.append(("x-dead-letter-exchange", .string(dlx)))
        }
        try c.declareQueue(t.queue, durable: options.durable, autoDelete: options.deleteWhenUnused, arguments: arguments)
        if !t.exchange.isEmpty { for key in t.routingKeys { try c.bind(queue: t.queue, exchange: t.exchange, routingKey: key) } }
        try c.consume(queue: t.queue, prefetch: prefetch, noAck: options.autoAck)
    }

    /// Queued, handed out and not yet settled, or nacked but not yet sent back: what this process
    /// holds. (A message on the wire between the broker and this process, e.g. redelivered the
    /// moment it was requeued, is counted by neither side until it is read.)
    var held: Int {
        queue.count + inFlight.count + settles.withLock { s in s.count { if case .nack = $0.action { true } else { false } } }
    }

    // MARK: DeliverySource

    func next() async throws(BrokerError) -> Delivery? {
        while let r = await queue.take() {
            guard r.generation == generation.load(ordering: .relaxed) else { continue }  // from a lost connection
            // With autoAck the broker already considers it settled: nothing to remember.
            let token = options.autoAck ? inFlight.issueUntracked() : inFlight.issue((r.tag, r.generation))
            return Delivery(topic: topic, payload: r.body, metadata: r.headers, token: token, attempt: r.redelivered ? 2 : 1, settler: self)
        }
        return nil
    }

    func stop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.finish()
        if let p = pollerBox.withLock({ p -> PollThread? in defer { p = nil }; return p }) { await p.stop() }
    }

    // MARK: DeliverySettler

    private func settle(_ token: UInt64, _ make: (UInt64) -> Settle) {
        guard !options.autoAck, let (tag, gen) = inFlight.take(token) else { return }
        settles.withLock { $0.append((gen, make(tag))) }
    }

    func ack(_ delivery: Delivery) async throws(BrokerError) {
        settle(delivery.token) { .ack($0) }
    }

    /// Requeues after `delay` (the message stays unacknowledged meanwhile), or with
    /// `enableDeadLetter` rejects it to `dlx-<queue>`.
    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {
        let requeue = !options.enableDeadLetter
        guard delay > 0, requeue else {
            settle(delivery.token) { .nack($0, requeue: requeue) }
            return
        }
        let token = delivery.token
        Task {
            try? await Task.sleep(for: .seconds(delay))
            self.settle(token) { .nack($0, requeue: true) }
        }
    }

    func abandoned(token: UInt64, topic: String) {
        settle(token) { .nack($0, requeue: true) }
    }
}
