import BrokerKit
import CloudEvents
import Resources

extension Publisher {
    /// A bulk request this large waits for `bulkGate` and returns its memory afterwards; smaller
    /// ones (the common 100-entry batch) go straight through.
    static let largeBulkBytes = 128 * 1024

    /// Waits for `bulkGate` when the request is large (true: call `finishBulk` when done).
    func admitBulk(bytes: Int) async -> Bool {
        guard bytes >= Self.largeBulkBytes else { return false }
        await bulkGate.acquire()
        return true
    }

    /// Lets the next large request in and hands the freed memory back.
    func finishBulk() {
        bulkGate.release()
        MemoryRelease.shared.soon()
    }

    /// One entry that failed in a bulk publish.
    public struct FailedEntry: Sendable, Equatable {
        public var entryID: String
        public var error: String
    }

    /// Bulk publish (spec §2): every entry is wrapped like a single publish; returns the entries
    /// the broker did not confirm. Not transactional, not ordered.
    public func publishBulk(pubsub: String, topic: String, body: [UInt8], metadata: [String: String],
                            trace: TraceContext?) async throws(DaprError) -> [FailedEntry] {
        let large = await admitBulk(bytes: body.count)
        defer { if large { finishBulk() } }
        let target = try target(pubsub: pubsub, topic: topic)
        let raw = try rawPayload(metadata, pubsub: pubsub)
        let entries: [JSONValue]
        do {
            guard case .array(let items) = try JSONParser.parse(body) else {
                throw DaprError.eventsSerialization(pubsub, "error when unmarshaling the request body: expected a JSON array of entries",
                                                    reason: "DAPR_PUBSUB_UNMARSHAL_EVENTS")
            }
            entries = items
        } catch let error as DaprError {
            throw error
        } catch {
            throw .eventsSerialization(pubsub, "error when unmarshaling the request body: \(error)", reason: "DAPR_PUBSUB_UNMARSHAL_EVENTS")
        }
        var parsed: [BulkEntry] = []
        var seen = Set<String>()
        for (index, item) in entries.enumerated() {
            guard case .object(let entry) = item else {
                throw .eventsSerialization(pubsub, "entry \(index) is not a JSON object", reason: "DAPR_PUBSUB_UNMARSHAL_EVENTS")
            }
            let field = { (key: String) -> JSONValue? in entry.first { $0.key.lowercased() == key }?.value }
            guard let id = field("entryid")?.stringValue, !id.isEmpty else {
                throw .eventsSerialization(pubsub, "entryId is required for every entry (entry \(index))")
            }
            guard seen.insert(id).inserted else {
                throw .eventsSerialization(pubsub, "entryId \(id) is duplicated")
            }
            let contentType = field("contenttype")?.stringValue ?? ""
            let payload: [UInt8]
            do {
                payload = try BulkEntryPayload.bytes(event: field("event") ?? .null, contentType: contentType)
            } catch {
                throw .eventsSerialization(pubsub, "entry \(id): \(error.description)")
            }
            var entryMetadata: [String: String]?
            if case .object(let m)? = field("metadata") {
                entryMetadata = [:]
                for (k, v) in m { if let s = v.stringValue { entryMetadata![k] = s } }
            }
            parsed.append(BulkEntry(id: id, payload: payload, contentType: contentType, metadata: entryMetadata))
        }
        return try await publishBulk(pubsub: pubsub, topic: topic, entries: parsed, metadata: metadata, trace: trace, target: target, raw: raw)
    }

    /// One entry of a bulk publish: the event's bytes as the client sent them.
    public struct BulkEntry: Sendable {
        public var id: String
        public var payload: [UInt8]
        public var contentType: String
        /// The entry's own metadata, merged over the request's; `nil` when it has none.
        public var metadata: [String: String]?

        public init(id: String, payload: [UInt8], contentType: String, metadata: [String: String]?) {
            self.id = id
            self.payload = payload
            self.contentType = contentType
            self.metadata = metadata
        }
    }

    /// Bulk publish of entries already decoded (the gRPC API's path; the HTTP path parses JSON first).
    public func publishBulk(pubsub: String, topic: String, entries: [BulkEntry], metadata: [String: String],
                            trace: TraceContext?) async throws(DaprError) -> [FailedEntry] {
        let large = await admitBulk(bytes: entries.reduce(0) { $0 + $1.payload.count })
        defer { if large { finishBulk() } }
        let target = try target(pubsub: pubsub, topic: topic)
        let raw = try rawPayload(metadata, pubsub: pubsub)
        var seen = Set<String>()
        for entry in entries {
            guard !entry.id.isEmpty else { throw .eventsSerialization(pubsub, "entryId is required for every entry") }
            guard seen.insert(entry.id).inserted else { throw .eventsSerialization(pubsub, "entryId \(entry.id) is duplicated") }
        }
        return try await publishBulk(pubsub: pubsub, topic: topic, entries: entries, metadata: metadata, trace: trace, target: target, raw: raw)
    }

    private func publishBulk(pubsub: String, topic: String, entries: [BulkEntry], metadata: [String: String],
                             trace: TraceContext?, target: Target, raw: Bool) async throws(DaprError) -> [FailedEntry] {
        let appID = callerAppID
        var ids: [String] = []
        var messages: [BrokerMessage] = []
        ids.reserveCapacity(entries.count)
        messages.reserveCapacity(entries.count)
        let ttlAllowed = !target.broker.features.contains(.messageTTL)
        for entry in entries {
            let entryMetadata = entry.metadata.map { own in metadata.merging(own) { _, new in new } }
            let effective = entryMetadata ?? metadata
            var bytes = entry.payload
            if !raw {
                let context = Envelope.Context(
                    topic: topic, pubsubName: pubsub, appID: appID, contentType: entry.contentType, trace: trace?.child(),
                    overrides: entryMetadata.map(CloudEventOverrides.init(metadata:)) ?? CloudEventOverrides(),
                    ttlSeconds: ttlAllowed ? entryMetadata.flatMap(Self.ttlSeconds) : nil)
                do {
                    bytes = try Envelope.build(body: entry.payload, context: context)
                } catch {
                    throw .eventsSerialization(pubsub, "entry \(entry.id): \(error.description)")
                }
            }
            ids.append(entry.id)
            messages.append(BrokerMessage(topic: topic, payload: bytes, contentType: raw ? nil : ContentType.cloudEventsJSON, metadata: effective))
        }
        guard target.scopes.isAllowed(topic: topic, appID: appID, operation: .publish) else {
            throw .forbidden(topic: topic, appID: appID, pubsub: pubsub)
        }
        let started = RFC3339.currentUnixSeconds()
        let results = messages.isEmpty ? [] : await target.broker.publishBatch(messages)
        let seconds = RFC3339.currentUnixSeconds() - started
        var failed: [FailedEntry] = []
        for (i, error) in results.enumerated() {
            metrics.egress(pubsub, topic, error == nil, seconds)
            if let error { failed.append(FailedEntry(entryID: ids[i], error: error.message)) }
        }
        return failed
    }
}
