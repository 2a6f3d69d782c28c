import CloudEvents
import Resources

/// The `GET /v1.0/metadata` body (spec §12.2), empty fields omitted.
enum MetadataDocument {
    static func build(_ state: SidecarState) -> JSONValue {
        var doc: [String: JSONValue] = [
            "id": .string(state.appID),
            "runtimeVersion": .string(state.runtimeVersion),
            "enabledFeatures": .array([]),
        ]
        doc["components"] = .array(state.components.map { c in
            .object(["name": .string(c.name), "type": .string(c.type), "version": .string(c.version),
                     "capabilities": .array(c.capabilities.map(JSONValue.string))])
        })
        let extended = state.extendedMetadata
        if !extended.isEmpty { doc["extended"] = .object(extended.mapValues(JSONValue.string)) }
        let subscriptions = state.subscriptions()
        if !subscriptions.isEmpty {
            doc["subscriptions"] = .array(subscriptions.map { s in
                var o: [String: JSONValue] = [
                    "pubsubname": .string(s.pubsubName), "topic": .string(s.topic),
                    "deadLetterTopic": .string(s.deadLetterTopic ?? ""), "type": .string(s.origin.rawValue),
                    "rules": .array(s.rules.map { r in
                        r.match.isEmpty ? .object(["path": .string(r.path)]) : .object(["match": .string(r.match), "path": .string(r.path)])
                    }),
                ]
                if !s.metadata.isEmpty { o["metadata"] = .object(s.metadata.mapValues(JSONValue.string)) }
                return .object(o)
            })
        }
        var app: [String: JSONValue] = [
            "protocol": .string(state.appConnection.protocolName),
            "channelAddress": .string(state.appConnection.channelAddress),
            "maxConcurrency": .number(String(state.appConnection.maxConcurrency)),
        ]
        if let port = state.appConnection.port { app["port"] = .number(String(port)) }
        doc["appConnectionProperties"] = .object(app)
        if !state.resiliencyNames.isEmpty {
            doc["resiliencies"] = .array(state.resiliencyNames.map { .object(["name": .string($0)]) })
        }
        if let reload = state.lastReload {
            // Courier's own: the last live configuration change, and why it was refused if it was.
            doc["courierConfigReload"] = .object([
                "result": .string(reload.result), "time": .string(reload.time),
                "problems": .array(reload.problems.map(JSONValue.string)), "changes": .array(reload.changes.map(JSONValue.string)),
            ])
        }
        return .object(doc)
    }
}
