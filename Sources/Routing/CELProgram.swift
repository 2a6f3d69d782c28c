import CloudEvents

/// A compiled CEL expression. Compile once (parse and check), evaluate many times.
public struct CELProgram: Sendable {
    let root: Expr
    public let source: String

    /// Parses and checks `source`; errors carry the column.
    public init(_ source: String) throws(CELError) {
        self.source = source
        self.root = try Parser.parse(source)
    }

    /// Evaluates with the given variables.
    public func evaluate(_ variables: [String: CELValue]) throws(CELError) -> CELValue {
        try Evaluator(variables: variables).eval(root)
    }

    /// Evaluates and requires a bool, as routing rules do (spec §4: anything else is an error).
    public func evaluateBool(_ variables: [String: CELValue]) throws(CELError) -> Bool {
        let v = try evaluate(variables)
        guard case .bool(let b) = v else { throw CELError("rule must evaluate to a bool, got \(v.typeName)") }
        return b
    }
}

extension CELValue {
    /// CEL literal syntax (`1`, `1u`, `1.0`, `"s"`, `b"\x00"`, `[1, 2]`, `{"a": 1}`, `timestamp("…")`).
    public var literal: String { Literal.format(self) }

    /// A JSON document as CEL sees it in Dapr: numbers are doubles, objects are string-keyed maps.
    public init(json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .double(Double(n) ?? .nan)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(items.map(CELValue.init(json:)))
        case .object(let fields): self = .map(CELMap(strings: fields.mapValues(CELValue.init(json:))))
        }
    }
}
