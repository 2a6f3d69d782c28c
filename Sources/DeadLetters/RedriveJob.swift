import BrokerKit
import CloudEvents
import Delivery
import Logging
import Synchronization

/// One redrive of a dead-letter topic: a pass over what the topic held when it started (events
/// dead-lettered again meanwhile are not taken twice), each event the filter admits sent on at
/// `maxPerSecond` and removed from the topic only once it was accepted; cancel stops it between
/// events. A redrive killed midway leaves every event either still dead-lettered or delivered.
public final class RedriveJob: Sendable {
    public enum State: String, Sendable { case running, completed, cancelled, failed }

    /// What `GET …/redrive/{id}` answers.
    public struct Status: Sendable {
        public var state: State
        public var matched = 0
        public var redriven = 0
        public var failed = 0
        /// Matched and not yet sent on.
        public var remaining: Int { state == .running || dryRun ? max(matched - redriven - failed, 0) : 0 }
        public var dryRun: Bool
        /// With `dryRun`: the events that would be redriven (the first 1,000).
        public var events: [JSONValue] = []
        /// Why it failed, or the last event that could not be redriven.
        public var error: String?

        public var json: JSONValue {
            var object: [String: JSONValue] = [
                "state": .string(state.rawValue), "matched": .number(String(matched)), "redriven": .number(String(redriven)),
                "failed": .number(String(failed)), "remaining": .number(String(remaining)), "dryRun": .bool(dryRun),
            ]
            if dryRun { object["events"] = .array(events) }
            if let error { object["error"] = .string(error) }
            return .object(object)
        }
    }

    /// Finds the running subscription an event was dead-lettered by.
    public typealias SubscriptionLookup = @Sendable (_ app: String, _ pubsub: String, _ topic: String) -> SubscriptionRunner?
    /// Finds a pub/sub's broker by component name.
    public typealias BrokerLookup = @Sendable (_ pubsub: String) -> (any MessageBroker)?

    public let id: String
    let pubsub: String
    let topic: String
    let request: RedriveRequest
    let broker: any MessageBroker
    let subscriptions: SubscriptionLookup
    let brokers: BrokerLookup
    let logger: Logger
    private let status: Mutex<Status>
    private let cancelled = Atomic<Bool>(false)

    public init(id: String, pubsub: String, topic: String, request: RedriveRequest, broker: any MessageBroker,
                subscriptions: @escaping SubscriptionLookup, brokers: @escaping BrokerLookup, logger: Logger) {
        self.id = id
        self.pubsub = pubsub
        self.topic = topic
        self.request = request
        self.broker = broker
        self.subscriptions = subscriptions
        self.brokers = brokers
        var logger = logger
        logger[metadataKey: "redrive"] = "\(id)"
        self.logger = logger
        status = Mutex(Status(state: .running, dryRun: request.dryRun))
    }

    public var current: Status { status.withLock { $0 } }

    /// Stops it before its next event (what was redriven stays redriven).
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    static let pageSize = 200
    static let maxListed = 1_000

    /// Runs the pass to its end, a cancel, or a failure to read the topic.
    public func run() async {
        // Where the pass ends: the topic's last message now. Events dead-lettered again while it
        // runs land after it.
        let end: String?
        do {
            end = try await lastCursor()
        } catch {
            finish(.failed, error: "reading \(pubsub)/\(topic) failed: \(error)")
            return
        }
        guard let end else {
            finish(.completed)
            return
        }
        let started = ContinuousClock.now
        var sent = 0
        var after: String?
        let window = AsyncSemaphore(permits: 16)
        await withTaskGroup(of: Void.self) { tasks in
            pages: while !cancelled.load(ordering: .relaxed) {
                let page: [StoredMessage]
                do {
                    page = try await broker.browse(topic: topic, after: after, limit: Self.pageSize)
                } catch {
                    status.withLock { $0.error = "reading \(pubsub)/\(topic) failed: \(error)" }
                    cancelled.store(true, ordering: .relaxed)
                    break
                }
                if page.isEmpty { break }
                for message in page {
                    if cancelled.load(ordering: .relaxed) { break pages }
                    after = message.cursor
                    let event = DeadLetterEvent(message)
                    if matches(event) {
                        status.withLock { s in
                            s.matched += 1
                            if request.dryRun, s.events.count < Self.maxListed { s.events.append(event.json) }
                        }
                        if !request.dryRun {
                            // The asked rate: event n starts no sooner than n / maxPerSecond after the start.
                            let due = started + .seconds(Double(sent) / request.maxPerSecond)
                            if due > .now { try? await Task.sleep(until: due) }
                            sent += 1
                            await window.acquire()
                            tasks.addTask {
                                await self.redrive(event)
                                window.release()
                            }
                        }
                    }
                    if message.cursor == end { break pages }
                }
            }
        }
        let failedToRead = status.withLock { $0.error != nil && $0.error!.hasPrefix("reading") }
        finish(failedToRead ? .failed : cancelled.load(ordering: .relaxed) ? .cancelled : .completed)
    }

    private func finish(_ state: State, error: String? = nil) {
        status.withLock { s in
            s.state = state
            if let error { s.error = error }
        }
        logger.info("redrive \(state.rawValue)", metadata: ["topic": "\(pubsub)/\(topic)"])
    }

    /// The topic's last message's cursor now (`nil`: it is empty).
    private func lastCursor() async throws(BrokerError) -> String? {
        var after: String?, last: String?
        while true {
            let page = try await broker.browse(topic: topic, after: after, limit: 1_000)
            guard let tail = page.last else { return last }
            last = tail.cursor
            after = tail.cursor
            if page.count < 1_000 { return last }
        }
    }

    func matches(_ event: DeadLetterEvent) -> Bool {
        guard let filter = request.filter else { return true }
        return (try? filter.evaluateBool(["event": event.celValue])) ?? false
    }

    /// What became of one redriven event.
    enum Outcome {
        /// Accepted (by the app, or by the broker for `target: topic`): it leaves the topic.
        case accepted
        /// Failed again and dead-lettered anew with its attempts counted: the new copy replaces it.
        case replaced(String)
        /// Not sent on: it stays as it is.
        case kept(String)
    }

    /// Sends one event on and removes it from the dead-letter topic once it was accepted (or
    /// replaced by a newer dead letter of itself).
    func redrive(_ event: DeadLetterEvent) async {
        let outcome = request.target == .subscription ? await toSubscription(event) : await toTopic(event)
        switch outcome {
        case .accepted, .replaced:
            do {
                try await broker.remove(topic: topic, cursor: event.message.cursor)
            } catch {
                // Still listed: a later redrive may deliver it again (at least once).
                logger.warning("a redriven event stays in \(topic): removing it failed: \(error)")
            }
        case .kept:
            break
        }
        status.withLock { s in
            switch outcome {
            case .accepted: s.redriven += 1
            case .replaced(let why), .kept(let why):
                s.failed += 1
                s.error = why
            }
        }
    }

    /// Delivers to the subscription that dead-lettered it; a failure there dead-letters it anew
    /// (its attempts counted), so the original goes once the subscription settled it either way.
    func toSubscription(_ event: DeadLetterEvent) async -> Outcome {
        guard let app = event.attribute("deadletterapp"), let pubsub = event.attribute("deadletterpubsub"),
              let original = event.attribute("deadlettertopic") else {
            return .kept("event \(event.attribute("id") ?? event.message.cursor) has no deadletterapp/pubsub/topic to go back to")
        }
        guard let runner = subscriptions(app, pubsub, original) else {
            return .kept("app \(app) has no running subscription to \(pubsub)/\(original)")
        }
        let settled = SettleRecorder()
        let delivery = Delivery(topic: original, payload: event.message.payload, metadata: event.message.metadata, token: 0, attempt: 1,
                                settler: settled)
        let accepted = await runner.redeliver(delivery)
        if accepted { return .accepted }
        // Dead-lettered again (acked with a new record): that copy replaces the original.
        if settled.acked { return .replaced("app \(app) failed it again; dead-lettered anew with its attempts counted") }
        return .kept("app \(app) did not accept it; it stays dead-lettered")
    }

    /// Republishes it to its original topic (every subscriber gets it again).
    func toTopic(_ event: DeadLetterEvent) async -> Outcome {
        guard let original = event.attribute("deadlettertopic") else {
            return .kept("event \(event.attribute("id") ?? event.message.cursor) has no deadlettertopic to go back to")
        }
        let target = event.attribute("deadletterpubsub").flatMap(brokers) ?? broker
        let isCloudEvent = (try? JSONParser.parse(event.message.payload))?.objectValue != nil
        let metadata = event.message.metadata  // its deduplication id replaces any stored Nats-Msg-Id
        do {
            try await target.publish(BrokerMessage(topic: original, payload: event.message.payload,
                                                   contentType: isCloudEvent ? ContentType.cloudEventsJSON : nil, metadata: metadata,
                                                   deduplicationID: "\(event.attribute("id") ?? "")/redrive/\(event.message.cursor)/\(id)"))
            return .accepted
        } catch {
            return .kept("publishing to \(original) failed: \(error)")
        }
    }
}

/// Settles a redriven event's stand-in delivery: it only notes how (the dead letter itself is
/// removed by the job once the app accepted it).
final class SettleRecorder: DeliverySettler {
    private let ackedFlag = Atomic<Bool>(false)
    var acked: Bool { ackedFlag.load(ordering: .relaxed) }

    func ack(_ delivery: Delivery) async throws(BrokerError) { ackedFlag.store(true, ordering: .relaxed) }
    func nack(_ delivery: Delivery, redeliverAfter delay: Double) async throws(BrokerError) {}
    func abandoned(token: UInt64, topic: String) {}
}
