import BrokerKit
import CloudEvents
import Foundation
import Routing

/// A message of a dead-letter topic as the inspect API shows it and a redrive filter sees it:
/// the CloudEvent as stored (its `deadletter*` attributes included); a payload that is not a
/// JSON object becomes an object of its metadata's `deadletter*` attributes and its bytes
/// (`data` as text when it is UTF-8, else `data_base64`).
public struct DeadLetterEvent: Sendable {
    public let message: StoredMessage
    /// The event as a JSON object.
    public let object: [String: JSONValue]

    public init(_ message: StoredMessage) {
        self.message = message
        if case .object(let object)? = try? JSONParser.parse(message.payload) {
            self.object = object
        } else {
            var object: [String: JSONValue] = [:]
            for (key, value) in message.metadata where key.hasPrefix("deadletter") {
                object[key] = key == "deadletterattempts" ? Int(value).map { .number(String($0)) } ?? .string(value) : .string(value)
            }
            if let text = String(validating: message.payload, as: UTF8.self) {
                object["data"] = .string(text)
            } else {
                object["data_base64"] = .string(Data(message.payload).base64EncodedString())
            }
            self.object = object
        }
    }

    /// An attribute's text (`deadletterapp`, `id`).
    public func attribute(_ name: String) -> String? {
        switch object[name] {
        case .string(let s)?: return s
        case .number(let n)?: return n
        default: return message.metadata[name]
        }
    }

    /// `{"cursor": …, "event": {…}}`.
    public var json: JSONValue { .object(["cursor": .string(message.cursor), "event": .object(object)]) }

    /// The event for a CEL filter (`event.deadletterreason == "maxretries"`).
    public var celValue: CELValue { CELValue(json: .object(object)) }
}
