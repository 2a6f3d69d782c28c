/// A CEL problem: a syntax or check error found at compile time, or an evaluation error.
public struct CELError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based column in the expression (0 when unknown).
    public var column: Int
    public var message: String

    public init(_ message: String, column: Int = 0) {
        self.message = message
        self.column = column
    }

    public var description: String { column > 0 ? "column \(column): \(message)" : message }
}
