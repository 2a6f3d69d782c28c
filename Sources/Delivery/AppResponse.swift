import CloudEvents
import NIOCore

/// What the app's answer to a delivery means (spec §3.5 single, §3.7 bulk).
public enum DeliveryOutcome: Sendable, Equatable {
    case success
    /// Send to the dead-letter topic if one is set, then ack.
    case drop
    /// A retriable failure; `status` is the HTTP status when there was one.
    case retry(status: Int?, reason: String)
}

public enum AppResponse {
    /// Interprets the answer to a single-event delivery.
    public static func single(status: Int, body: ByteBuffer) -> DeliveryOutcome {
        if status == 404 { return .drop }
        guard (200..<300).contains(status) else { return .retry(status: status, reason: "app answered HTTP \(status)") }
        guard body.readableBytes > 0,
              let value = body.withUnsafeReadableBytes({ try? JSONParser.parse(Array($0)) }),
              case .object(let object) = value else { return .success }
        switch object.first(where: { $0.key.lowercased() == "status" })?.value {
        case nil, .null: return .success
        case .string(""), .string("SUCCESS"): return .success
        case .string("DROP"): return .drop
        case .string("RETRY"): return .retry(status: status, reason: "app asked to retry")
        case .string(let other): return .retry(status: status, reason: "app returned unknown status '\(other)'")
        default: return .retry(status: status, reason: "app returned a non-string status")
        }
    }

    /// Interprets the answer to a bulk delivery: one outcome per entry id.
    public static func bulk(status: Int, body: ByteBuffer, entryIDs: [String]) -> [String: DeliveryOutcome] {
        func all(_ outcome: DeliveryOutcome) -> [String: DeliveryOutcome] {
            Dictionary(uniqueKeysWithValues: entryIDs.map { ($0, outcome) })
        }
        if status == 404 { return all(.drop) }
        guard (200..<300).contains(status) else { return all(.retry(status: status, reason: "app answered HTTP \(status)")) }
        guard let value = body.withUnsafeReadableBytes({ try? JSONParser.parse(Array($0)) }),
              case .object(let object) = value else {
            return all(.retry(status: status, reason: "bulk response is not a JSON object"))
        }
        var out = all(.retry(status: status, reason: "no status for the entry in the bulk response"))
        let statuses = object.first(where: { $0.key.lowercased() == "statuses" })?.value.arrayValue ?? []
        for item in statuses {
            guard case .object(let entry) = item,
                  let id = entry.first(where: { $0.key.lowercased() == "entryid" })?.value.stringValue,
                  out[id] != nil else { continue }
            switch entry.first(where: { $0.key.lowercased() == "status" })?.value.stringValue {
            case "SUCCESS": out[id] = .success
            case "DROP": out[id] = .drop
            default: out[id] = .retry(status: status, reason: "app asked to retry the entry")
            }
        }
        return out
    }
}
