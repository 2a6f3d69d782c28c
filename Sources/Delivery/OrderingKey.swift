import CloudEvents
import Routing

/// A subscription's `orderingKey` metadata: a CEL expression over the event (`event.subject`,
/// `event.data.customerId`) whose value is the event's key. Events with the same key are
/// delivered one at a time, in the order the broker holds them.
public struct OrderingKey: Sendable {
    let program: CELProgram
    /// For a plain field path (`event.data.customerId`): its keys, read without decoding the
    /// whole event (the key is evaluated for every event, on the subscription's reading task).
    let path: [String]?

    public init(_ source: String) throws(RouteTable.Invalid) {
        do throws(CELError) {
            program = try CELProgram(source)
        } catch {
            throw RouteTable.Invalid(description: "orderingKey '\(source)': \(error)")
        }
        path = Self.fieldPath(source)
    }

    /// `event.a.b` → `["a", "b"]`; `nil` for anything else.
    static func fieldPath(_ source: String) -> [String]? {
        let parts = source.trimmingSpaces.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] == "event" else { return nil }
        let names = parts.dropFirst()
        let isName: (String) -> Bool = { name in
            guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
            return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        }
        let reserved: Set<String> = ["in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop",
                                     "package", "namespace", "return", "var", "void", "while", "true", "false", "null"]
        guard names.allSatisfy({ isName($0) && !reserved.contains($0) }) else { return nil }
        return Array(names)
    }

    /// The expression as written.
    public var source: String { program.source }

    /// The key of an event given as CloudEvent JSON, or why it has none.
    public func key(envelope: [UInt8]) -> Result<String, RouteTable.Invalid> {
        if let path {
            do throws(JSONError) {
                guard let value = try JSONParser.value(at: path, in: envelope) else {
                    return .failure(.init(description: "orderingKey '\(source)' failed: no such key: \(path.joined(separator: "."))"))
                }
                return .success(Self.text(CELValue(json: value)))
            } catch {
                return .failure(.init(description: "orderingKey '\(source)': the event is not JSON: \(error)"))
            }
        }
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
