import CloudEvents

/// A compiled CEL expression. Compile once (parse and check), evaluate many times.
public struct CELProgram: Sendable {
    let root: Expr
    public let source: String

    /// Parses and checks `source`; errors carry the column.
    public init(_ source: String) throws(CELError) {
        self.source = source
        self.root = try Parser.parse(source)
        try Self.checkConstants(root)
    }

    /// The type check available without declarations: every subexpression that uses no variable
    /// is evaluated once, and a type mismatch there (`1 + 'a'`, `size(1)`) fails the compile, as
    /// cel-go's checker would. Runtime errors such as division by zero stay runtime errors.
    static func checkConstants(_ e: Expr) throws(CELError) {
        if e.isConstant {
            do throws(CELError) {
                _ = try Evaluator(variables: [:]).eval(e)
            } catch {
                if error.message.hasPrefix("no matching overload") || error.message.hasPrefix("unsupported map key") { throw error }
            }
            return
        }
        for child in e.children { try checkConstants(child) }
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
