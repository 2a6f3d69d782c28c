import BrokerKit
import EmbeddedBroker
import Foundation
import Logging
import Resources
import Synchronization

/// `pubsub.mqtt3` through libmosquitto (MQTT 3.1.1).
///
/// Publishing waits for the broker's PUBACK (QoS 1, the default) or PUBCOMP (QoS 2). Subscribing
/// uses a shared subscription, `$share/{app id}/{topic}`, so replicas of one app split the
/// messages; the client id is `consumerID` (the app id by default), which must differ between
/// replicas (`{uuid}` or `{podName}`), as MQTT allows one connection per client id. libmosquitto acknowledges a QoS 1 message to the broker before the application sees
/// it, so every received message is written at once to a local durable spool (an embedded-broker
/// store in the data directory) and delivered from there with the usual ack/redelivery rules:
/// what reached the spool survives a Courier crash. MQTT 3.1.1 has no message headers, so publish
/// metadata does not travel.
public final class MQTTBroker: MessageBroker {
    public let name: String
    public let type: String
    public var features: Set<BrokerFeature> { [.subscribeWildcards] }

    let options: MQTTOptions
    let client: MosquittoClient
    let spool: EmbeddedBroker
    let logger: Logger
    /// The shared-subscription group: replicas of one app id split the messages.
    let shareGroup: String
    private let incoming: HandOffQueue<(topic: String, payload: [UInt8])>
    /// Topic filters subscribed, each spooled under its own name.
    private let filters = Mutex<[String]>([])

    public init(component: Component, appID: String, dataDirectory: String, logger: Logger) async throws(BrokerError) {
        name = component.name
        type = component.type
        let options = try MQTTOptions(component: component, appID: appID)
        self.options = options
        self.logger = logger
        shareGroup = appID
        var spoolOptions = EmbeddedOptions()
        spoolOptions.path = "\(dataDirectory)/\(component.name)-mqtt-spool.sqlite"
        spoolOptions.initialOffsetOldest = true
        spoolOptions.retentionSeconds = 7 * 86_400
        try? FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let spool = try EmbeddedBroker(name: "\(component.name)-spool", type: "pubsub.embedded", options: spoolOptions, logger: logger)
        self.spool = spool
        let incoming = HandOffQueue<(topic: String, payload: [UInt8])>()
        self.incoming = incoming
        client = try MosquittoClient(options: options, clientID: options.clientID, logger: logger) { topic, payload in
            incoming.put((topic, payload))
        }
        _ = await client.waitConnected(seconds: 20)
        if !client.isConnected {
            await closeClient()
            throw BrokerError(.unavailable, "mqtt: no connection to \(options.host):\(options.port) within 20 s")
        }
    }

    /// Checks the component's metadata without connecting (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) { _ = try MQTTOptions(component: component, appID: "app") }

    /// Closes the connection, then lets what was received (and acknowledged to the broker)
    /// reach the spool before the spool closes: a reload that closed it at once lost two of
    /// 4,000 messages a reader had already taken.
    private func closeClient() async {
        let client = client
        _ = try? await runBlocking { () throws(BrokerError) in client.close() }
        incoming.finishAfterWaiting()
        if let writer = spoolWriter.withLock({ $0 }) { await writer.value }
        await spool.close()
    }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        var retain = options.retain
        if let r = message.metadata["retain"] { retain = r.lowercased() == "true" }
        try await client.publish(topic: message.topic, payload: message.payload, qos: options.qos, retain: retain)
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        let filter = request.topic
        let isNew = filters.withLock { f -> Bool in
            guard !f.contains(filter) else { return false }
            f.append(filter)
            return true
        }
        startSpoolingIfNeeded()
        let stream = try await spool.subscribe(SubscribeRequest(topic: filter, group: request.group, metadata: request.metadata, window: request.window))
        if isNew { try await client.subscribe("$share/\(shareGroup)/\(filter)", qos: options.qos) }
        return DeliveryStream(source: stream.source)
    }

    private let spooling = Atomic<Bool>(false)
    private let spoolWriter = Mutex<Task<Void, Never>?>(nil)

    /// Writes received messages to the spool in batches, in arrival order, under every subscribed
    /// filter that matches their topic.
    private func startSpoolingIfNeeded() {
        guard !spooling.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let incoming = incoming, spool = spool, logger = logger
        let writer = Task { [weak self] in
            while let first = await incoming.take() {
                guard let self else { return }
                let batch = [first] + incoming.takeAvailable(max: 511)
                let filters = self.filters.withLock { $0 }
                var messages: [BrokerMessage] = []
                for m in batch {
                    for f in filters where MosquittoClient.matches(filter: f, topic: m.topic) {
                        messages.append(BrokerMessage(topic: f, payload: m.payload, contentType: nil, metadata: ["mqttTopic": m.topic]))
                    }
                }
                let results = await spool.publishBatch(messages)
                if let failure = results.compactMap({ $0 }).first {
                    logger.error("mqtt: \(results.compactMap { $0 }.count) received messages could not be spooled and are lost: \(failure)")
                }
            }
        }
        spoolWriter.withLock { $0 = writer }
    }

    /// Messages in the local spool that `group` has not acknowledged (what the broker still
    /// queues for this client is not visible over MQTT 3.1.1).
    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        try await spool.backlog(topic: topic, group: group)
    }

    public func isHealthy() async -> Bool { client.isConnected }

    public func close() async {
        await closeClient()
    }
}
