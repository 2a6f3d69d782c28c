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
        /// Two-variable macros (index or key, and value): all, exists, existsOne, transformList,
        /// transformMap, transformMapEntry; `filter` only for the transforms.
        case comprehension2(Macro2, range: Expr, first: String, second: String, filter: Expr?, body: Expr)
    }

    enum Macro: String, Sendable { case all, exists, existsOne = "exists_one", map, filter }
    /// The macros of cel-go's two-variable comprehension library (cel-spec `macros2`).
    enum Macro2: String, Sendable { case all, exists, existsOne, transformList, transformMap, transformMapEntry }

    var kind: Kind
    var column: Int

    /// Direct subexpressions.
    var children: [Expr] {
        switch kind {
        case .literal, .ident: return []
        case .select(let e, _, _), .not(let e), .negate(let e): return [e]
        case .index(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): return [a, b]
        case .call(_, let target, let args): return (target.map { [$0] } ?? []) + args
        case .list(let items): return items
        case .map(let entries): return entries.flatMap { [$0.0, $0.1] }
        case .conditional(let a, let b, let c): return [a, b, c]
        case .comprehension(_, let range, _, let p, let t): return [range] + (p.map { [$0] } ?? []) + (t.map { [$0] } ?? [])
        case .comprehension2(_, let range, _, _, let f, let body): return [range] + (f.map { [$0] } ?? []) + [body]
        }
    }

    /// True when no variable is referenced (comprehensions bind variables, so they never count).
    var isConstant: Bool {
        switch kind {
        case .ident(let name): return Evaluator.typeNames.contains(name)
        case .comprehension, .comprehension2: return false
        default: return children.allSatisfy(\.isConstant)
        }
    }
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
