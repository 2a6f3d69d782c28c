import BrokerKit
import CloudEvents
import Resources

extension Publisher {
    /// One entry that failed in a bulk publish.
    public struct FailedEntry: Sendable, Equatable {
        public var entryID: String
        public var error: String
    }

    /// Bulk publish (spec §2): every entry is wrapped like a single publish; returns the entries
    /// the broker did not confirm. Not transactional, not ordered.
    public func publishBulk(pubsub: String, topic: String, body: [UInt8], metadata: [String: String],
                            trace: TraceContext?) async throws(DaprError) -> [FailedEntry] {
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
        var ids: [String] = []
        var messages: [BrokerMessage] = []
        var seen = Set<String>()
        let ttlAllowed = !target.broker.features.contains(.messageTTL)
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
                var merged = metadata
                for (k, v) in m { if let s = v.stringValue { merged[k] = s } }
                entryMetadata = merged
            }
            let effective = entryMetadata ?? metadata
            var bytes = payload
            if !raw {
                let context = Envelope.Context(
                    topic: topic, pubsubName: pubsub, appID: appID, contentType: contentType, trace: trace?.child(),
                    overrides: entryMetadata.map(CloudEventOverrides.init(metadata:)) ?? CloudEventOverrides(),
                    ttlSeconds: ttlAllowed ? entryMetadata.flatMap(Self.ttlSeconds) : nil)
                do {
                    bytes = try Envelope.build(body: payload, context: context)
                } catch {
                    throw .eventsSerialization(pubsub, "entry \(id): \(error.description)")
                }
            }
            ids.append(id)
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
