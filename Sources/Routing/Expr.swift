/// A parsed CEL expression node with the column it starts at.
struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(CELValue)
        case ident(String)
        /// `operand.field`; `testOnly` for `has(operand.field)`.
        case select(Expr, String, testOnly: Bool)
        case index(Expr, Expr)
        /// A function call: global (`target == nil`) or receiver style.
        case call(String, target: Expr?, args: [Expr])
        case list([Expr])
        case map([(Expr, Expr)])
        case not(Expr)
        case negate(Expr)
        case binary(String, Expr, Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case conditional(Expr, Expr, Expr)
        /// Macros over a list or map: all, exists, exists_one, map, filter.
        case comprehension(Macro, range: Expr, variable: String, predicate: Expr?, transform: Expr?)
    }

    enum Macro: String, Sendable { case all, exists, existsOne = "exists_one", map, filter }

    var kind: Kind
    var column: Int
}
