import BrokerKit
import CloudEvents
import Logging
import ServiceLifecycle
import Synchronization

/// Dead letters for operators: lists a dead-letter topic's events without disturbing it, and
/// runs redrive jobs (as a service, so shutdown stops them between events).
public final class DeadLetterDesk: Service, Sendable {
    /// Why a call cannot be answered, for the API's error body.
    public enum Failure: Error, Sendable {
        case pubsubNotFound(String)
        case unsupported(String)
        case failed(String)
    }

    let brokers: RedriveJob.BrokerLookup
    let subscriptions: RedriveJob.SubscriptionLookup
    let logger: Logger
    private let jobs = Mutex<[String: RedriveJob]>([:])
    private let queue: (stream: AsyncStream<RedriveJob>, continuation: AsyncStream<RedriveJob>.Continuation) = AsyncStream.makeStream()

    public init(brokers: @escaping RedriveJob.BrokerLookup, subscriptions: @escaping RedriveJob.SubscriptionLookup, logger: Logger) {
        self.brokers = brokers
        self.subscriptions = subscriptions
        self.logger = logger
    }

    public static let maxPage = 1_000

    /// One page of `topic`'s events, oldest first: `{"events": [{"cursor", "event"}], "next": cursor | null}`.
    public func list(pubsub: String, topic: String, after: String?, limit: Int) async throws(Failure) -> JSONValue {
        let broker = try self.broker(pubsub)
        let page: [StoredMessage]
        do {
            page = try await broker.browse(topic: topic, after: after, limit: limit)
        } catch {
            throw error.kind == .unsupported ? .unsupported(error.message) : .failed(error.message)
        }
        let next: JSONValue = page.count == limit ? page.last.map { .string($0.cursor) } ?? .null : .null
        return .object(["events": .array(page.map { DeadLetterEvent($0).json }), "next": next])
    }

    /// Starts a redrive of `topic`; its id.
    public func redrive(pubsub: String, topic: String, request: RedriveRequest) async throws(Failure) -> String {
        let broker = try self.broker(pubsub)
        // Refuse at once where the broker cannot list (rather than a job that fails).
        do {
            _ = try await broker.browse(topic: topic, after: nil, limit: 1)
        } catch {
            throw error.kind == .unsupported ? .unsupported(error.message) : .failed(error.message)
        }
        guard request.dryRun || broker.removesMessages else {
            throw .unsupported("\(broker.type) cannot remove one message from a topic, so a redrive could not take what it sent on out of \(topic); list it, or redrive with dryRun")
        }
        let job = RedriveJob(id: EventID.uuid(), pubsub: pubsub, topic: topic, request: request, broker: broker,
                             subscriptions: subscriptions, brokers: brokers, logger: logger)
        jobs.withLock { $0[job.id] = job }
        guard case .enqueued = queue.continuation.yield(job) else { throw .failed("Courier is shutting down") }
        logger.info("redrive started", metadata: ["redrive": "\(job.id)", "topic": "\(pubsub)/\(topic)",
                                                  "target": "\(request.target.rawValue)", "dryRun": "\(request.dryRun)"])
        return job.id
    }

    /// A job by id (of the same pub/sub and topic).
    public func job(_ id: String, pubsub: String, topic: String) -> RedriveJob? {
        jobs.withLock { $0[id] }.flatMap { $0.pubsub == pubsub && $0.topic == topic ? $0 : nil }
    }

    private func broker(_ pubsub: String) throws(Failure) -> any MessageBroker {
        guard let broker = brokers(pubsub) else { throw .pubsubNotFound(pubsub) }
        return broker
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for await job in queue.stream {
                    group.addTask { await job.run() }
                }
            }
        } onGracefulShutdown: {
            for job in self.jobs.withLock({ Array($0.values) }) { job.cancel() }
            self.queue.continuation.finish()
        }
    }
}
