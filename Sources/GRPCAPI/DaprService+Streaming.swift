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
/// returns every unsettled event to the broker.
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
        // The client's messages are read in their own task: when the client cancels the RPC,
        // grpc-swift reports it through `context.cancellation` while a pending read may never
        // return, so the subscription must end without waiting for that read.
        let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
        let failure = Mutex<RPCError?>(nil)
        let reader = RequestReader(messages)
        let broker = target.broker
        let app = CallerTokens.callerAppID ?? state.appID
        let receiver = Task {
            defer { endedContinuation.finish() }
            do {
                while let message = try await reader.next() {
                    guard case .eventProcessed(let processed)? = message.subscribeTopicEventsRequestType else {
                        failure.withLock { $0 = RPCError(code: .invalidArgument, message: "only one initial_request is allowed per stream") }
                        return
                    }
                    guard let delivery = pending.take(processed.id) else { continue }
                    await Self.settle(delivery, processed.status.status, deadLetter: deadLetter, broker: broker,
                                      record: { DeadLetterRecord(reason: .drop, attempts: 1, status: "DROP", app: app, route: nil,
                                                                 pubsub: initial.pubsubName, topic: initial.topic) })
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
            // Events out, as long as the client keeps reading.
            group.addTask {
                do {
                    for try await delivery in stream {
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
            group.cancelAll()
        }
        watcher.cancel()
        receiver.cancel()
        for delivery in pending.takeAll() { try? await delivery.nack(redeliverAfter: 0) }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Settles an event the client answered; a dropped one goes to the dead-letter topic with
    /// `record`'s attributes.
    private static func settle(_ delivery: Delivery, _ status: Dapr_Proto_Runtime_V1_TopicEventResponse.TopicEventResponseStatus,
                               deadLetter: String?, broker: any MessageBroker, record: () -> DeadLetterRecord) async {
        switch status {
        case .success:
            try? await delivery.ack()
        case .drop:
            if let deadLetter {
                let record = record()
                var metadata = delivery.metadata
                metadata["Nats-Msg-Id"] = nil
                do {
                    try await broker.publish(BrokerMessage(topic: deadLetter, payload: record.annotate(delivery.payload) ?? delivery.payload,
                                                           contentType: ContentType.cloudEventsJSON, metadata: metadata,
                                                           deduplicationID: "\(EventID.uuid())/dead"))
                } catch {
                    try? await delivery.nack(redeliverAfter: SubscriptionRunner.redeliveryDelay(attempt: delivery.attempt))
                    return
                }
            }
            try? await delivery.ack()
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
