import BrokerKit
import Foundation
import Logging
import Synchronization

/// The publishing connection of a component: one owner thread takes publish jobs, sends them on
/// a confirm-mode channel and resumes each caller when the broker's basic.ack for its delivery tag
/// arrives. A basic.nack, a mandatory message returned as unroutable, or a lost connection fail
/// the publish (the HTTP API then answers 500). Reconnects after `reconnectWaitSeconds`.
final class RabbitPublisher: Sendable {
    struct Message: Sendable {
        var exchange: String
        var routingKey: String
        var body: [UInt8]
        var headers: [(String, AMQPConnection.Value)]
        var contentType: String?
        var deliveryMode: UInt8
        var priority: UInt8?
        var expirationMs: Int64?
        /// Declared (once per connection) before the first publish: a binding's queue, which it
        /// reaches through the default exchange (`exchange` empty, `routingKey` = the queue).
        var queue: QueueDeclaration? = nil
    }

    /// A queue and the arguments it is declared with.
    struct QueueDeclaration: Sendable {
        var name: String
        var durable: Bool
        var autoDelete: Bool
        var arguments: [(String, AMQPConnection.Value)]
    }

    private enum Job: Sendable {
        case publish(Message, CheckedContinuation<BrokerError?, Never>)
        case readyCount(String, CheckedContinuation<Result<Int64?, BrokerError>, Never>)
    }

    /// State only the owner thread touches.
    private final class Owner: @unchecked Sendable {
        let connection = AMQPConnection()
        var pending: [UInt64: CheckedContinuation<BrokerError?, Never>] = [:]
        var nextTag: UInt64 = 1
        var returned = 0
        var declared: Set<String> = []
        var retryAt: ContinuousClock.Instant?
    }

    private let jobs = Mutex<[Job]>([])
    private let wake = NSCondition()
    private let poller: Mutex<PollThread?> = Mutex(nil)
    private let options: RabbitMQOptions

    init(options: RabbitMQOptions, name: String, logger: Logger) {
        self.options = options
        let owner = Owner()
        let thread = PollThread(name: "amqp-publisher-\(name)", body: { [self] in
            self.turn(owner, logger: logger)
        }, finish: {
            Self.failAll(owner, BrokerError(.closed, "rabbitmq publisher closed"))
            owner.connection.close()
        })
        poller.withLock { $0 = thread }
    }

    /// Publishes and waits for the broker's confirm.
    func publish(_ message: Message) async throws(BrokerError) {
        let error: BrokerError? = await withCheckedContinuation { c in enqueue(.publish(message, c)) }
        if let error { throw error }
    }

    /// Ready messages in `queue`; `nil` when it does not exist.
    func readyCount(_ queue: String) async throws(BrokerError) -> Int64? {
        try await withCheckedContinuation { c in enqueue(.readyCount(queue, c)) }.get()
    }

    private func enqueue(_ job: Job) {
        jobs.withLock { $0.append(job) }
        signal()
    }

    private func signal() {
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    func close() async {
        guard let p = poller.withLock({ p -> PollThread? in defer { p = nil }; return p }) else { return }
        signal()
        await p.stop()
        for job in jobs.withLock({ j -> [Job] in defer { j = [] }; return j }) { Self.fail(job, BrokerError(.closed, "rabbitmq publisher closed")) }
    }

    // MARK: Owner thread

    private func turn(_ owner: Owner, logger: Logger) {
        let c = owner.connection
        if !c.isOpen {
            if let at = owner.retryAt, ContinuousClock.now < at {
                failQueued(BrokerError(.unavailable, "rabbitmq is unreachable; reconnecting"))
                Thread.sleep(forTimeInterval: 0.05)
                return
            }
            do throws(BrokerError) {
                try c.open(options.endpoint, heartbeat: options.heartbeatSeconds)
                try c.enableConfirms()
                owner.nextTag = 1
                owner.returned = 0
                owner.declared = []
                owner.retryAt = nil
            } catch {
                logger.warning("rabbitmq publisher: \(error); retrying in \(options.reconnectWaitSeconds)s")
                c.close()
                owner.retryAt = .now + .milliseconds(Int(options.reconnectWaitSeconds * 1000))
                failQueued(error)
                return
            }
        }
        var batch = jobs.withLock { j -> [Job] in defer { j = [] }; return j }
        if batch.isEmpty && owner.pending.isEmpty {
            wake.lock()
            if jobs.withLock({ $0.isEmpty }) { _ = wake.wait(until: Date().addingTimeInterval(0.2)) }
            wake.unlock()
            batch = jobs.withLock { j -> [Job] in defer { j = [] }; return j }
        }
        var remaining = batch[...]
        do throws(BrokerError) {
            while let job = remaining.first {
                remaining = remaining.dropFirst()
                switch job {
                case .publish(let m, let cont):
                    do throws(BrokerError) {
                        if let q = m.queue, !owner.declared.contains("queue\u{0}" + q.name) {
                            try c.declareQueue(q.name, durable: q.durable, autoDelete: q.autoDelete, arguments: q.arguments)
                            owner.declared.insert("queue\u{0}" + q.name)
                        }
                        // The default exchange ("") exists and cannot be declared.
                        if !m.exchange.isEmpty && !owner.declared.contains(m.exchange) {
                            try c.declareExchange(m.exchange, kind: options.exchangeKind, durable: options.durable)
                            owner.declared.insert(m.exchange)
                        }
                        try c.publish(exchange: m.exchange, routingKey: m.routingKey, body: m.body, headers: m.headers,
                                      contentType: m.contentType, deliveryMode: m.deliveryMode, priority: m.priority, expirationMs: m.expirationMs)
                    } catch {
                        cont.resume(returning: error)
                        throw error
                    }
                    owner.pending[owner.nextTag] = cont
                    owner.nextTag += 1
                case .readyCount(let queue, let cont):
                    do throws(BrokerError) { cont.resume(returning: .success(try c.readyCount(queue))) } catch {
                        cont.resume(returning: .failure(error))
                        throw error
                    }
                }
            }
            // Collect confirms: wait briefly while some are outstanding; otherwise just serve heartbeats.
            var wait = owner.pending.isEmpty ? 0 : 2
            while true {
                let event = try c.nextConfirm(timeoutMs: wait)
                wait = 0
                switch event {
                case .timeout: return
                case .returned: owner.returned += 1
                case .ack(let tag, let multiple): settle(owner, tag: tag, multiple: multiple, nacked: false)
                case .nack(let tag, let multiple): settle(owner, tag: tag, multiple: multiple, nacked: true)
                }
            }
        } catch {
            logger.warning("rabbitmq publisher connection lost: \(error)")
            for job in remaining { Self.fail(job, error) }
            Self.failAll(owner, BrokerError(.unavailable, "rabbitmq connection lost before the broker confirmed: \(error)"))
            c.close()
            owner.retryAt = .now + .milliseconds(Int(options.reconnectWaitSeconds * 1000))
        }
    }

    /// Resolves the publishes a confirm covers. A message returned as unroutable is confirmed
    /// right after its return, as the highest tag of that ack.
    private func settle(_ owner: Owner, tag: UInt64, multiple: Bool, nacked: Bool) {
        let tags = multiple ? owner.pending.keys.filter { $0 <= tag }.sorted() : [tag]
        for t in tags {
            guard let cont = owner.pending.removeValue(forKey: t) else { continue }
            if nacked {
                cont.resume(returning: BrokerError(.unavailable, "rabbitmq refused the message (basic.nack)"))
            } else if owner.returned > 0 && t == tag {
                owner.returned -= 1
                cont.resume(returning: BrokerError(.rejected, "rabbitmq returned the message as unroutable: no queue is bound to its exchange"))
            } else {
                cont.resume(returning: nil)
            }
        }
    }

    private func failQueued(_ error: BrokerError) {
        for job in jobs.withLock({ j -> [Job] in defer { j = [] }; return j }) { Self.fail(job, error) }
    }

    private static func fail(_ job: Job, _ error: BrokerError) {
        switch job {
        case .publish(_, let c): c.resume(returning: error)
        case .readyCount(_, let c): c.resume(returning: .failure(error))
        }
    }

    private static func failAll(_ owner: Owner, _ error: BrokerError) {
        for (_, c) in owner.pending { c.resume(returning: error) }
        owner.pending = [:]
    }
}
