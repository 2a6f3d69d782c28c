import BrokerKit
import Synchronization

/// Which JetStream stream stores each topic (subject), found once per topic and remembered:
/// 1. `streamName` when set: created, or given the subject, when missing (off with
///    `disableEntityManagement`: then it must exist);
/// 2. otherwise the stream whose subjects capture the subject, as the server itself stores a
///    publish, so streams an operator provisioned (`nats stream add ORDERS --subjects 'orders.>'`)
///    are used as they are;
/// 3. otherwise, when Courier may manage streams, a new stream named after the topic.
final class StreamDirectory: Sendable {
    private let client: NatsClient
    private let options: JetStreamOptions
    private let known = Mutex<[String: String]>([:])

    init(client: NatsClient, options: JetStreamOptions) {
        self.client = client
        self.options = options
    }

    /// The stream that stores `topic`, made when none does and Courier may; a clear error when not.
    func stream(for topic: String) async throws(BrokerError) -> String {
        guard let found = try await find(topic, create: true) else {
            throw BrokerError(.configuration, options.streamName.map { "jetstream: stream \($0) (streamName) does not exist and disableEntityManagement is set" }
                ?? "jetstream: no stream captures subject \(topic) and disableEntityManagement is set: create one (nats stream add --subjects …) or set streamName")
        }
        return found
    }

    /// The stream that stores `topic`, or `nil` when none does yet; never creates one.
    func existingStream(for topic: String) async throws(BrokerError) -> String? {
        try await find(topic, create: false)
    }

    private func find(_ topic: String, create: Bool) async throws(BrokerError) -> String? {
        if let stream = known.withLock({ $0[topic] }) { return stream }
        let client = client, options = options
        // The name, and whether it is known to store the topic (only then is it remembered).
        let found = try await runBlocking { () throws(BrokerError) -> (String, stores: Bool)? in
            if let name = options.streamName {
                if options.createStreams && create {
                    try client.ensureStream(name, subject: topic, memory: options.memoryStorage, replicas: options.replicas)
                    return (name, true)
                }
                return try client.streamExists(name) ? (name, !options.createStreams) : nil
            }
            if let captured = try client.streams(capturing: topic).first { return (captured, true) }
            guard create, options.createStreams else { return nil }
            let name = JetStreamOptions.sanitize(topic)
            try client.ensureStream(name, subject: topic, memory: options.memoryStorage, replicas: options.replicas)
            return (name, true)
        }
        if let found, found.stores { known.withLock { $0[topic] = found.0 } }
        return found?.0
    }

    /// Forgets every stream found (one may have been deleted behind Courier's back).
    func forget() { known.withLock { $0.removeAll() } }

    /// The durable consumer of `group` on `topic` in `stream`: the group's name in a stream of the
    /// topic's own (one per topic, named after it), `<group>-<topic>` in a stream shared by topics.
    func durable(for topic: String, group: String, in stream: String) -> String {
        let base = JetStreamOptions.sanitize(options.durableName ?? group)
        let ownStream = options.streamName == nil && stream == JetStreamOptions.sanitize(topic)
        return ownStream ? base : "\(base)-\(JetStreamOptions.sanitize(topic))"
    }
}
