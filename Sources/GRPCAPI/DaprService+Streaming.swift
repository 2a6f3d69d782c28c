import BrokerKit
import CloudEvents
import DaprProto
import Delivery
import GRPCCore
import HTTPAPI
import Resources
import Foundation
import Synchronization

/// `SubscribeTopicEventsAlpha1` (spec §3.3): the first client message names the pubsub and topic;
/// Courier subscribes as the component's consumer group and only then answers `initial_response`
/// (the Python SDK discards the first server message unread), then streams `event_message`s. Each
/// `event_processed {id, status}` settles its event: SUCCESS acks, RETRY returns it to the broker
/// with back-off, DROP dead-letters it (`dead_letter_topic`) and acks. A stream that ends or breaks
/// returns every unsettled event to the broker. With `orderingKey` in the request's metadata, an
/// event goes out only once the previous event of its key was settled, and RETRY sends the same
/// event again after the back-off (the key waits for it).
extension DaprService {
    func subscribeTopicEventsAlpha1(request: RPCAsyncSequence<Dapr_Proto_Runtime_V1_SubscribeTopicEventsRequestAlpha1, any Error>,
                                    response: RPCWriter<Dapr_Proto_Runtime_V1_SubscribeTopicEventsResponseAlpha1>,
                                    context: ServerContext) async throws {
        var messages = request.makeAsyncIterator()
        guard let first = try await messages.next(), case .initialRequest(let initial)? = first.subscribeTopicEventsRequestType else {
            throw RPCError(code: .invalidArgument, message: "the first message of a streaming subscription must be initial_request")
        }
        let target: Publisher.Target
        do throws(DaprError) {
            target = try publisher.target(pubsub: initial.pubsubName, topic: initial.topic)
        } catch {
            throw error.grpcStatus
        }
        let deadLetter = initial.hasDeadLetterTopic && !initial.deadLetterTopic.isEmpty ? initial.deadLetterTopic : nil
        let ordering: OrderingKey?
        if let source = initial.metadata.first(where: { $0.key.lowercased() == "orderingkey" })?.value, !source.trimmingSpaces.isEmpty {
            do throws(RouteTable.Invalid) {
                ordering = try OrderingKey(source)
            } catch {
                throw RPCError(code: .invalidArgument, message: error.description)
            }
        } else {
            ordering = nil
        }
        let stream: DeliveryStream
        do {
            stream = try await target.broker.subscribe(SubscribeRequest(topic: initial.topic, group: target.consumerGroup, metadata: initial.metadata))
        } catch {
            throw RPCError(code: .unavailable, message: "subscribing to \(initial.pubsubName)/\(initial.topic): \(error)")
        }
        let spec = SubscriptionSpec(pubsubName: initial.pubsubName, topic: initial.topic, rules: [], deadLetterTopic: deadLetter,
                                    metadata: initial.metadata, origin: .streaming)
        let registration = streaming.add(spec)
        defer { streaming.remove(registration) }
        var ready = Dapr_Proto_Runtime_V1_SubscribeTopicEventsResponseAlpha1()
        ready.initialResponse = Dapr_Proto_Runtime_V1_SubscribeTopicEventsResponseInitialAlpha1()
        try await response.write(ready)

        let pending = PendingEvents()
        // Every event goes out through one writer: the broker's order, events a settled one let
        // through (ordered), and RETRYs sent again (ordered).
        let (outbox, post) = AsyncStream<Delivery>.makeStream()
        let queues = KeyedQueues<Delivery>()
        let keyOf: @Sendable (Delivery) -> String? = { delivery in ordering.flatMap { try? $0.key(envelope: delivery.payload).get() } }
        // The client's messages are read in their own task: when the client cancels the RPC,
        // grpc-swift reports it through `context.cancellation` while a pending read may never
        // return, so the subscription must end without waiting for that read.
        let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
        let failure = Mutex<RPCError?>(nil)
        let reader = RequestReader(messages)
        let broker = target.broker
        let app = CallerTokens.callerAppID ?? state.appID
        let record: @Sendable (DeadLetterRecord.Reason, String?, String?) -> DeadLetterRecord = { reason, status, error in
            DeadLetterRecord(reason: reason, attempts: reason == .drop ? 1 : 0, status: status, error: error, app: app, route: nil,
                             pubsub: initial.pubsubName, topic: initial.topic)
        }
        let receiver = Task {
            defer { endedContinuation.finish() }
            do {
                while let message = try await reader.next() {
                    guard case .eventProcessed(let processed)? = message.subscribeTopicEventsRequestType else {
                        failure.withLock { $0 = RPCError(code: .invalidArgument, message: "only one initial_request is allowed per stream") }
                        return
                    }
                    guard let delivery = pending.take(processed.id) else { continue }
                    let status = processed.status.status
                    if let key = keyOf(delivery) {
                        if status != .success && status != .drop {
                            // Ordered: the same event again after the back-off; its key waits for it.
                            let delay = SubscriptionRunner.redeliveryDelay(attempt: delivery.attempt)
                            Task {
                                try? await Task.sleep(for: .seconds(delay))
                                post.yield(delivery)
                            }
                            continue
                        }
                        await Self.settle(delivery, status, deadLetter: deadLetter, broker: broker, record: { record(.drop, "DROP", nil) })
                        if let next = queues.next(after: key) { post.yield(next) }
                        continue
                    }
                    await Self.settle(delivery, status, deadLetter: deadLetter, broker: broker, record: { record(.drop, "DROP", nil) })
                }
            } catch {
                // The client went away: the unsettled events go back below.
            }
        }
        let watcher = Task {
            try? await context.cancellation.cancelled
            endedContinuation.finish()
        }
        await withTaskGroup(of: Void.self) { group in
            // Events from the broker, in its order (ordered: each behind its key's previous one).
            group.addTask {
                do {
                    for try await delivery in stream {
                        guard let ordering else {
                            post.yield(delivery)
                            continue
                        }
                        switch ordering.key(envelope: delivery.payload) {
                        case .success(let key):
                            if let now = queues.offer(delivery, key: key) { post.yield(now) }
                        case .failure(let why):
                            // Where a rule error goes: the dead-letter topic, else back to the broker.
                            await Self.deadLetter(delivery, deadLetter: deadLetter, broker: broker, record: record(.ruleerror, nil, why.description))
                        }
                    }
                } catch {
                    // The broker stream failed: the subscription ends.
                }
            }
            // Events out, as long as the client keeps reading.
            group.addTask {
                do {
                    for await delivery in outbox {
                        var message = Dapr_Proto_Runtime_V1_SubscribeTopicEventsResponseAlpha1()
                        let event = TopicEventConversion.request(payload: delivery.payload, topic: initial.topic, pubsub: initial.pubsubName)
                        message.eventMessage = event
                        pending.put(event.id, delivery)
                        try await response.write(message)
                    }
                } catch {
                    // A failed write: the client is gone.
                }
            }
            // The client closed its side, broke off, or sent something invalid.
            group.addTask { for await _ in ended {} }
            await group.next()
            await stream.stop()
            post.finish()
            group.cancelAll()
        }
        watcher.cancel()
        receiver.cancel()
        for delivery in pending.takeAll() { try? await delivery.nack(redeliverAfter: 0) }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Dead-letters an event with `record`'s attributes and acks it; without a dead-letter topic,
    /// or when that publish fails, it goes back to the broker.
    private static func deadLetter(_ delivery: Delivery, deadLetter: String?, broker: any MessageBroker, record: DeadLetterRecord) async {
        guard let deadLetter else {
            try? await delivery.nack(redeliverAfter: SubscriptionRunner.redeliveryDelay(attempt: delivery.attempt))
            return
        }
        do {
            try await broker.publish(record.message(topic: deadLetter, payload: delivery.payload, metadata: delivery.metadata, raw: false))
            try? await delivery.ack()
        } catch {
            try? await delivery.nack(redeliverAfter: SubscriptionRunner.redeliveryDelay(attempt: delivery.attempt))
        }
    }

    /// Settles an event the client answered; a dropped one goes to the dead-letter topic with
    /// `record`'s attributes.
    private static func settle(_ delivery: Delivery, _ status: Dapr_Proto_Runtime_V1_TopicEventResponse.TopicEventResponseStatus,
                               deadLetter: String?, broker: any MessageBroker, record: () -> DeadLetterRecord) async {
        switch status {
        case .success:
            try? await delivery.ack()
        case .drop:
            guard deadLetter != nil else {
                try? await delivery.ack()
                return
            }
            await Self.deadLetter(delivery, deadLetter: deadLetter, broker: broker, record: record())
        default:  // RETRY and unknown values
            try? await delivery.nack(redeliverAfter: SubscriptionRunner.redeliveryDelay(attempt: delivery.attempt))
        }
    }
}

/// Events sent on a stream and not yet settled, by CloudEvent id (a redelivered event may share
/// its id with one still pending, so each id holds a queue).
final class PendingEvents: Sendable {
    private let items = Mutex<[String: [Delivery]]>([:])

    func put(_ id: String, _ delivery: Delivery) { items.withLock { $0[id, default: []].append(delivery) } }

    func take(_ id: String) -> Delivery? {
        items.withLock { all in
            guard var queue = all[id], !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            all[id] = queue.isEmpty ? nil : queue
            return first
        }
    }

    func takeAll() -> [Delivery] { items.withLock { all in defer { all = [:] }; return all.values.flatMap { $0 } } }
}

/// The request stream's iterator, read by one task only (the receiver).
final class RequestReader: @unchecked Sendable {
    private var iterator: RPCAsyncSequence<Dapr_Proto_Runtime_V1_SubscribeTopicEventsRequestAlpha1, any Error>.AsyncIterator

    init(_ iterator: RPCAsyncSequence<Dapr_Proto_Runtime_V1_SubscribeTopicEventsRequestAlpha1, any Error>.AsyncIterator) {
        self.iterator = iterator
    }

    func next() async throws -> Dapr_Proto_Runtime_V1_SubscribeTopicEventsRequestAlpha1? { try await iterator.next() }
}
