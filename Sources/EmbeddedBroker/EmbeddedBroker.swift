import BrokerKit
import Foundation
import Logging
import Resources

/// Courier's built-in broker (`pubsub.embedded`): every topic is a durable log in SQLite (WAL),
/// consumer groups keep a committed watermark, each delivery holds a lease, and a publish is
/// confirmed only after its transaction commits. `pubsub.in-memory` is the same engine on an
/// in-memory database (nothing survives a restart).
public final class EmbeddedBroker: MessageBroker {
    public let name: String
    public let type: String
    public var features: Set<BrokerFeature> { [] }

    let options: EmbeddedOptions
    let store: LogStore
    let engine: EmbeddedEngine
    let writer: GroupCommitWriter
    private let lock: StoreLock?
    private let housekeeping: Task<Void, Never>

    /// Opens the store described by `options` (creating directories as needed).
    public init(name: String, type: String, options: EmbeddedOptions, logger: Logger) throws(BrokerError) {
        self.name = name
        self.type = type
        self.options = options
        do {
            if let path = options.path {
                let dir = (path as NSString).deletingLastPathComponent
                if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
                lock = try StoreLock(path: path)
            } else {
                lock = nil
            }
            store = try LogStore(path: options.path, synchronousFull: options.synchronousFull)
            engine = try EmbeddedEngine(store: store, options: options, logger: logger)
        } catch let error as BrokerErrorBox {
            throw BrokerError(.configuration, "\(name): \(error.message)")
        } catch {
            throw BrokerError(.configuration, "\(name): cannot open the embedded store: \(error)")
        }
        let engine = self.engine
        let index = engine.index
        writer = GroupCommitWriter(store: store) { committed in
            var byTopic: [String: [StoredMessage]] = [:]
            for m in committed { byTopic[m.topic, default: []].append(m) }
            for (topic, messages) in byTopic {
                let (previous, consumed) = index.record(topic: topic, last: messages.last!.seq)
                if consumed { await engine.didCommit(topic: topic, messages: messages, previousHigh: previous) }
            }
        }
        let store = self.store
        let retention = options.retentionSeconds
        housekeeping = Task {
            var ticks = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                await engine.housekeeping()
                ticks += 1
                if ticks % 300 == 0 {
                    _ = try? await store.deleteOlder(than: RFC3339Clock.now() - retention)
                }
            }
        }
    }

    /// Builds the broker from a component (`durable` selects the SQLite file over memory).
    public convenience init(component: Component, durable: Bool, dataDirectory: String, logger: Logger) throws(BrokerError) {
        let options = try EmbeddedOptions(component: component, durable: durable, defaultDirectory: dataDirectory)
        try self.init(name: component.name, type: component.type, options: options, logger: logger)
    }

    /// Checks the component's metadata without opening a store (for `courier validate`).
    public static func validate(_ component: Component) throws(BrokerError) {
        _ = try EmbeddedOptions(component: component, durable: true, defaultDirectory: ".")
    }

    public func publish(_ message: BrokerMessage) async throws(BrokerError) {
        guard message.payload.count <= options.maxMessageBytes else {
            throw BrokerError(.rejected, "message of \(message.payload.count) bytes exceeds maxMessageBytes \(options.maxMessageBytes)")
        }
        guard await !engine.isClosed else { throw BrokerError(.closed, "\(name) is closed") }
        do {
            _ = try await writer.append((message.topic, message.payload, message.metadata))
        } catch {
            throw BrokerError(.unavailable, "embedded store write failed: \(error)")
        }
    }

    /// Publishes in order, in as few transactions as the group-commit writer forms.
    public func publishBatch(_ messages: [BrokerMessage]) async -> [BrokerError?] {
        var results = [BrokerError?](repeating: nil, count: messages.count)
        var accepted: [Int] = []
        for (i, m) in messages.enumerated() {
            if m.payload.count > options.maxMessageBytes {
                results[i] = BrokerError(.rejected, "message of \(m.payload.count) bytes exceeds maxMessageBytes \(options.maxMessageBytes)")
            } else {
                accepted.append(i)
            }
        }
        guard await !engine.isClosed else { return messages.map { _ in BrokerError(.closed, "\(name) is closed") } }
        let errors = await writer.appendBatch(accepted.map { (messages[$0].topic, messages[$0].payload, messages[$0].metadata) })
        for (k, i) in accepted.enumerated() {
            if let e = errors[k] { results[i] = BrokerError(.unavailable, "embedded store write failed: \(e)") }
        }
        return results
    }

    public func subscribe(_ request: SubscribeRequest) async throws(BrokerError) -> DeliveryStream {
        let key = EmbeddedEngine.GroupKey(topic: request.topic, group: request.group)
        do {
            try await engine.join(key)
        } catch {
            throw BrokerError(.unavailable, "embedded store read failed: \(error)")
        }
        return DeliveryStream(source: EmbeddedSubscription(engine: engine, key: key))
    }

    public func backlog(topic: String, group: String) async throws(BrokerError) -> Backlog {
        do {
            return try await engine.backlog(EmbeddedEngine.GroupKey(topic: topic, group: group))
        } catch {
            throw BrokerError(.unavailable, "embedded store read failed: \(error)")
        }
    }

    /// Reads the log directly: no group's position or dispatch state is touched.
    public func browse(topic: String, after cursor: String?, limit: Int) async throws(BrokerError) -> [BrokerKit.StoredMessage] {
        let from = (cursor.flatMap { Int64($0) } ?? 0) + 1
        do {
            return try await store.read(topic: topic, from: from, limit: limit).map {
                BrokerKit.StoredMessage(cursor: String($0.seq), payload: $0.payload, metadata: $0.metadata)
            }
        } catch {
            throw BrokerError(.unavailable, "embedded store read failed: \(error)")
        }
    }

    /// Deletes the message from the log; groups that loaded it forget it.
    public var removesMessages: Bool { true }

    public func remove(topic: String, cursor: String) async throws(BrokerError) {
        guard let seq = Int64(cursor) else { throw BrokerError(.rejected, "'\(cursor)' is not a cursor of \(name)") }
        do {
            _ = try await store.remove(topic: topic, seq: seq)
        } catch {
            throw BrokerError(.unavailable, "embedded store write failed: \(error)")
        }
        await engine.removed(topic: topic, seq: seq)
    }

    /// Persists every acknowledgement and closes the store. The periodic housekeeping pass is
    /// stopped and awaited first: a pass cut short mid-commit hands its acks back, and the final
    /// pass in `engine.close()` writes them (otherwise a SIGTERM could redeliver acked messages).
    public func close() async {
        housekeeping.cancel()
        await housekeeping.value
        await engine.close()
        try? store.close()
        lock?.release()
    }
}
