/// Recursive-descent parser for CEL with the precedence of `langdef.md`:
/// `?:` < `||` < `&&` < relations (`< <= > >= == != in`) < `+ -` < `* / %` < unary (`! -`) < member.
struct Parser {
    private var tokens: [Token]
    private var p = 0
    private var depth = 0
    private static let maxDepth = 250
    private static let reserved: Set<String> = ["as", "break", "const", "continue", "else", "for", "function", "if", "import",
                                                "let", "loop", "package", "namespace", "return", "var", "void", "while"]

    static func parse(_ text: String) throws(CELError) -> Expr {
        var parser = Parser(tokens: try Lexer.tokens(text))
        let e = try parser.expression()
        guard case .end = parser.current.kind else { throw CELError("unexpected \(parser.describe(parser.current))", column: parser.current.column) }
        return e
    }

    private init(tokens: [Token]) { self.tokens = tokens }

    private var current: Token { tokens[p] }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .op(let o): return "'\(o)'"
        case .ident(let i): return "'\(i)'"
        case .quotedIdent(let i): return "`\(i)`"
        case .end: return "end of expression"
        default: return "literal"
        }
    }

    private func isOp(_ op: String) -> Bool {
        if case .op(let o) = current.kind { return o == op }
        return false
    }

    private mutating func accept(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        p += 1
        return true
    }

    private mutating func expect(_ op: String) throws(CELError) {
        guard accept(op) else { throw CELError("expected '\(op)', found \(describe(current))", column: current.column) }
    }

    private mutating func nested<T>(_ body: (inout Parser) throws(CELError) -> T) throws(CELError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth < Self.maxDepth else { throw CELError("expression nests too deeply", column: current.column) }
        return try body(&self)
    }

    mutating func expression() throws(CELError) -> Expr {
        try nested { (parser: inout Parser) throws(CELError) -> Expr in
            let condition = try parser.binaryLevel(0)
            guard parser.isOp("?") else { return condition }
            let column = parser.current.column
            parser.p += 1
            let yes = try parser.binaryLevel(0)
            try parser.expect(":")
            let no = try parser.expression()
            return Expr(kind: .conditional(condition, yes, no), column: column)
        }
    }

    private static let levels: [[String]] = [["||"], ["&&"], ["<", "<=", ">", ">=", "==", "!=", "in"], ["+", "-"], ["*", "/", "%"]]

    private mutating func binaryLevel(_ level: Int) throws(CELError) -> Expr {
        if level == Self.levels.count { return try unary() }
        var left = try binaryLevel(level + 1)
        while true {
            let column = current.column
            let op: String
            switch current.kind {
            case .op(let o) where Self.levels[level].contains(o): op = o
            case .ident("in") where level == 2: op = "in"
            default: return left
            }
            p += 1
            let right = try binaryLevel(level + 1)
            switch op {
            case "||": left = Expr(kind: .or(left, right), column: column)
            case "&&": left = Expr(kind: .and(left, right), column: column)
            default: left = Expr(kind: .binary(BinaryOp(rawValue: op)!, left, right), column: column)
            }
        }
    }

    private mutating func unary() throws(CELError) -> Expr {
        let column = current.column
        if accept("!") {
            return Expr(kind: .not(try nested { (parser: inout Parser) throws(CELError) in try parser.unary() }), column: column)
        }
        if accept("-") {
            // Fold negative literals so the full int64 range is writable.
            if case .intMinMagnitude = current.kind {
                p += 1
                return try member(Expr(kind: .literal(.int(Int64.min)), column: column))
            }
            let operand = try nested { (parser: inout Parser) throws(CELError) in try parser.unary() }
            // int64's minimum has no positive counterpart: `-(-9223372036854775808)` is an overflow error at run time.
            if case .literal(.int(let i)) = operand.kind, i != Int64.min { return Expr(kind: .literal(.int(-i)), column: column) }
            if case .literal(.double(let d)) = operand.kind { return Expr(kind: .literal(.double(-d)), column: column) }
            return Expr(kind: .negate(operand), column: column)
        }
        return try member(try primary())
    }

    private mutating func member(_ base: Expr) throws(CELError) -> Expr {
        var e = base
        while true {
            let column = current.column
            if accept(".") {
                if case .quotedIdent(let name) = current.kind {
                    p += 1
                    e = Expr(kind: .select(e, name, testOnly: false), column: column)
                    continue
                }
                guard case .ident(let name) = current.kind else { throw CELError("expected a field name after '.'", column: current.column) }
                p += 1
                if accept("(") {
                    let args = try arguments(")")
                    e = try call(name, target: e, args: args, column: column)
                } else if case .select(let inner, "protobuf", false) = e.kind, case .ident("google") = inner.kind,
                          Evaluator.typeNames.contains("google.protobuf.\(name)") {
                    e = Expr(kind: .ident("google.protobuf.\(name)"), column: inner.column)  // a type name, not field selection
                } else {
                    e = Expr(kind: .select(e, name, testOnly: false), column: column)
                }
            } else if accept("[") {
                let index = try expression()
                try expect("]")
                e = Expr(kind: .index(e, index), column: column)
            } else {
                return e
            }
        }
    }

    private mutating func arguments(_ close: String) throws(CELError) -> [Expr] {
        var args: [Expr] = []
        if accept(close) { return args }
        while true {
            args.append(try expression())
            if accept(close) { return args }
            try expect(",")
            if accept(close) { return args }  // trailing comma
        }
    }

    private mutating func primary() throws(CELError) -> Expr {
        let t = current
        switch t.kind {
        case .int(let v): p += 1; return Expr(kind: .literal(.int(v)), column: t.column)
        case .uint(let v): p += 1; return Expr(kind: .literal(.uint(v)), column: t.column)
        case .intMinMagnitude: throw CELError("int literal out of range", column: t.column)
        case .double(let v): p += 1; return Expr(kind: .literal(.double(v)), column: t.column)
        case .string(let v): p += 1; return Expr(kind: .literal(.string(v)), column: t.column)
        case .bytes(let v): p += 1; return Expr(kind: .literal(.bytes(v)), column: t.column)
        case .ident(let name):
            p += 1
            switch name {
            case "true": return Expr(kind: .literal(.bool(true)), column: t.column)
            case "false": return Expr(kind: .literal(.bool(false)), column: t.column)
            case "null": return Expr(kind: .literal(.null), column: t.column)
            case "in": throw CELError("unexpected 'in'", column: t.column)
            default: break
            }
            if Self.reserved.contains(name) { throw CELError("'\(name)' is a reserved word", column: t.column) }
            if accept("(") { return try call(name, target: nil, args: try arguments(")"), column: t.column) }
            return Expr(kind: .ident(name), column: t.column)
        case .op("."):
            p += 1
            return try primary()
        case .op("("):
            p += 1
            let e = try expression()
            try expect(")")
            return e
        case .op("["):
            p += 1
            return Expr(kind: .list(try arguments("]")), column: t.column)
        case .op("{"):
            p += 1
            var entries: [(Expr, Expr)] = []
            if accept("}") { return Expr(kind: .map(entries), column: t.column) }
            while true {
                let key = try expression()
                try expect(":")
                entries.append((key, try expression()))
                if accept("}") { break }
                try expect(",")
                if accept("}") { break }
            }
            return Expr(kind: .map(entries), column: t.column)
        case .end:
            throw CELError("unexpected end of expression", column: t.column)
        case .op(let o):
            throw CELError("unexpected '\(o)'", column: t.column)
        case .quotedIdent:
            throw CELError("a quoted field name is only allowed after '.'", column: t.column)
        }
    }

    /// Builds a call node, expanding macros.
    private func call(_ name: String, target: Expr?, args: [Expr], column: Int) throws(CELError) -> Expr {
        if target == nil && name == "has" {
            guard args.count == 1, case .select(let operand, let field, _) = args[0].kind else {
                throw CELError("has() needs a field selection such as has(event.data)", column: column)
            }
            return Expr(kind: .select(operand, field, testOnly: true), column: column)
        }
        if let target, let macro = Expr.Macro2(rawValue: name), args.count >= 3,
           case .ident(let first) = args[0].kind, case .ident(let second) = args[1].kind {
            return try twoVariableMacro(macro, target: target, first: first, second: second, args: Array(args.dropFirst(2)), column: column)
        }
        if let target, let macro = Expr.Macro(rawValue: name) {
            guard case .ident(let variable) = args.first?.kind else {
                throw CELError("\(name)() needs a variable name as its first argument", column: column)
            }
            switch (macro, args.count) {
            case (.map, 2): return Expr(kind: .comprehension(.map, range: target, variable: variable, predicate: nil, transform: args[1]), column: column)
            case (.map, 3): return Expr(kind: .comprehension(.map, range: target, variable: variable, predicate: args[1], transform: args[2]), column: column)
            case (.map, _): throw CELError("map() takes 2 or 3 arguments", column: column)
            case (_, 2): return Expr(kind: .comprehension(macro, range: target, variable: variable, predicate: args[1], transform: nil), column: column)
            default: throw CELError("\(name)() takes 2 arguments", column: column)
            }
        }
        try Functions.check(name, receiver: target != nil, arity: args.count, column: column)
        return Expr(kind: .call(Function(rawValue: name)!, target: target, args: args), column: column)
    }

    /// `range.all(i, v, p)`, `range.transformList(i, v, [filter,] e)` and the others of `Macro2`.
    private func twoVariableMacro(_ macro: Expr.Macro2, target: Expr, first: String, second: String, args: [Expr],
                                  column: Int) throws(CELError) -> Expr {
        guard first != second else { throw CELError("\(macro.rawValue)() needs two different variable names", column: column) }
        let transforms = macro == .transformList || macro == .transformMap || macro == .transformMapEntry
        switch (transforms, args.count) {
        case (_, 1):
            return Expr(kind: .comprehension2(macro, range: target, first: first, second: second, filter: nil, body: args[0]), column: column)
        case (true, 2):
            return Expr(kind: .comprehension2(macro, range: target, first: first, second: second, filter: args[0], body: args[1]), column: column)
        default:
            throw CELError("\(macro.rawValue)() takes \(transforms ? "3 or 4" : "3") arguments", column: column)
        }
    }
}
