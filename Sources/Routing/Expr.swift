/// A parsed CEL expression node with the column it starts at.
struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(CELValue)
        case ident(String)
        /// `operand.field`; `testOnly` for `has(operand.field)`.
        case select(Expr, String, testOnly: Bool)
        case index(Expr, Expr)
        /// A function call: global (`target == nil`) or receiver style.
        case call(Function, target: Expr?, args: [Expr])
        case list([Expr])
        case map([(Expr, Expr)])
        case not(Expr)
        case negate(Expr)
        case binary(BinaryOp, Expr, Expr)
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

/// Binary operators, resolved at parse time.
enum BinaryOp: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", `in` = "in"
    case add = "+", sub = "-", mul = "*", div = "/", mod = "%"
}

/// Standard functions, resolved at parse time.
enum Function: String, Sendable {
    case size, contains, startsWith, endsWith, matches, lowerAscii, upperAscii
    case int, uint, double, string, bytes, bool, type, dyn, timestamp, duration
    case getFullYear, getMonth, getDate, getDayOfMonth, getDayOfWeek, getDayOfYear, getHours, getMinutes, getSeconds, getMilliseconds
}
