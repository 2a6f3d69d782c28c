import CloudEvents
import Routing

/// A subscription's `orderingKey` metadata: a CEL expression over the event (`event.subject`,
/// `event.data.customerId`) whose value is the event's key. Events with the same key are
/// delivered one at a time, in the order the broker holds them.
public struct OrderingKey: Sendable {
    let program: CELProgram

    public init(_ source: String) throws(RouteTable.Invalid) {
        do throws(CELError) {
            program = try CELProgram(source)
        } catch {
            throw RouteTable.Invalid(description: "orderingKey '\(source)': \(error)")
        }
    }

    /// The expression as written.
    public var source: String { program.source }

    /// The key of an event given as CloudEvent JSON, or why it has none.
    public func key(envelope: [UInt8]) -> Result<String, RouteTable.Invalid> {
        let event: CELValue
        do {
            event = CELValue(json: try JSONParser.parse(envelope))
        } catch {
            return .failure(.init(description: "orderingKey '\(source)': the event is not JSON: \(error)"))
        }
        do throws(CELError) {
            return .success(Self.text(try program.evaluate(["event": event])))
        } catch {
            return .failure(.init(description: "orderingKey '\(source)' failed: \(error)"))
        }
    }

    /// A key value as text: a string as it is, anything else as CEL prints it.
    static func text(_ value: CELValue) -> String {
        switch value {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .null: return ""
        default: return String(describing: value)
        }
    }
}
