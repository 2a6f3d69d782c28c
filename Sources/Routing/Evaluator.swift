/// Evaluates a parsed expression against variables. Errors are thrown, except where CEL absorbs
/// them: `false && error` is false and `true || error` is true, in either order.
struct Evaluator {
    var variables: [String: CELValue]
    static let typeNames: Set<String> = ["int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type",
                                         "google.protobuf.Timestamp", "google.protobuf.Duration"]

    func eval(_ e: Expr) throws(CELError) -> CELValue {
        switch e.kind {
        case .literal(let v):
            return v
        case .ident(let name):
            if let v = variables[name] { return v }
            if Self.typeNames.contains(name) { return .type(name) }
            throw CELError("undeclared reference to '\(name)'", column: e.column)
        case .select(let operand, let field, let testOnly):
            let base = try eval(operand)
            guard case .map(let m) = base else {
                throw CELError("type '\(base.typeName)' has no field '\(field)'", column: e.column)
            }
            if testOnly { return .bool(m[.string(field)] != nil) }
            guard let v = m[.string(field)] else { throw CELError("no such key: \(field)", column: e.column) }
            return v
        case .index(let operand, let indexExpr):
            return try index(try eval(operand), try eval(indexExpr), column: e.column)
        case .call(let function, let target, let args):
            // Fast path for the string tests routing rules use most.
            if let target, args.count == 1, function == .startsWith || function == .endsWith || function == .contains,
               case .string(let s) = try eval(target), case .string(let t) = try eval(args[0]) {
                return .bool(stringTest(function, s, t))
            }
            var values: [CELValue] = []
            values.reserveCapacity(args.count + 1)
            if let target { values.append(try eval(target)) }
            for a in args { values.append(try eval(a)) }
            return try Functions.call(function, receiver: target != nil, values, column: e.column)
        case .list(let items):
            var out: [CELValue] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try eval(item)) }
            return .list(out)
        case .map(let entries):
            var m = CELMap()
            for (k, v) in entries {
                let key = try eval(k)
                guard CELMapKey(key) != nil, key.isValidMapKey else {
                    throw CELError("unsupported map key type '\(key.typeName)'", column: k.column)
                }
                guard m.insert(key, try eval(v)) else { throw CELError("repeated map key", column: k.column) }
            }
            return .map(m)
        case .not(let operand):
            guard case .bool(let b) = try eval(operand) else { throw CELError("no matching overload for '!'", column: e.column) }
            return .bool(!b)
        case .negate(let operand):
            return try Arithmetic.negate(try eval(operand), column: e.column)
        case .binary(let op, let l, let r):
            return try Arithmetic.binary(op, try eval(l), try eval(r), column: e.column)
        case .and(let l, let r):
            return try logical(l, r, short: false, column: e.column)
        case .or(let l, let r):
            return try logical(l, r, short: true, column: e.column)
        case .conditional(let c, let yes, let no):
            guard case .bool(let b) = try eval(c) else { throw CELError("no matching overload for '?:'", column: e.column) }
            return try eval(b ? yes : no)
        case .comprehension(let macro, let range, let variable, let predicate, let transform):
            return try comprehension(macro, try eval(range), variable, predicate, transform, column: e.column)
        case .comprehension2(let macro, let range, let first, let second, let filter, let body):
            return try comprehension2(macro, try eval(range), first, second, filter, body, column: e.column)
        }
    }

    /// `&&` (`short == false`) and `||` (`short == true`) with CEL's commutative error absorption.
    private func logical(_ l: Expr, _ r: Expr, short: Bool, column: Int) throws(CELError) -> CELValue {
        var leftError: CELError?
        do throws(CELError) {
            let lv = try eval(l)
            guard case .bool(let b) = lv else { throw CELError("no matching overload for '\(short ? "||" : "&&")'", column: column) }
            if b == short { return .bool(short) }
        } catch {
            leftError = error
        }
        let rv: CELValue
        do throws(CELError) {
            rv = try eval(r)
        } catch {
            throw leftError ?? error
        }
        guard case .bool(let b) = rv else { throw leftError ?? CELError("no matching overload for '\(short ? "||" : "&&")'", column: column) }
        if b == short { return .bool(short) }
        if let leftError { throw leftError }
        return .bool(!short)
    }

    private func index(_ base: CELValue, _ key: CELValue, column: Int) throws(CELError) -> CELValue {
        switch base {
        case .list(let items):
            let i: Int64
            switch key {
            case .int(let v): i = v
            case .uint(let v): i = Int64(clamping: v)
            case .double(let d) where d == d.rounded() && abs(d) < 9e18: i = Int64(d)
            default: throw CELError("no matching overload for list index of type '\(key.typeName)'", column: column)
            }
            guard i >= 0 && i < items.count else { throw CELError("index out of range: \(i)", column: column) }
            return items[Int(i)]
        case .map(let m):
            guard let k = CELMapKey(key), let v = m[k] else { throw CELError("no such key: \(key.literal)", column: column) }
            return v
        default:
            throw CELError("no matching overload for index of type '\(base.typeName)'", column: column)
        }
    }

    /// `all` (or `exists`) over `count` elements. Errors are absorbed when another element decides the
    /// result, as with && and ||.
    static func quantify(all: Bool, count: Int, _ test: (Int) throws(CELError) -> Bool) throws(CELError) -> CELValue {
        var firstError: CELError?
        for i in 0..<count {
            do throws(CELError) {
                let b = try test(i)
                if all && !b { return .bool(false) }
                if !all && b { return .bool(true) }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return .bool(all)
    }

    private func comprehension(_ macro: Expr.Macro, _ range: CELValue, _ variable: String, _ predicate: Expr?, _ transform: Expr?,
                               column: Int) throws(CELError) -> CELValue {
        let items: [CELValue]
        switch range {
        case .list(let l): items = l
        case .map(let m): items = m.entries.map(\.0)
        default: throw CELError("\(macro.rawValue)() needs a list or map, not '\(range.typeName)'", column: column)
        }
        var scope = self
        func test(_ item: CELValue) throws(CELError) -> Bool {
            scope.variables[variable] = item
            guard case .bool(let b) = try scope.eval(predicate!) else {
                throw CELError("\(macro.rawValue)() predicate must be a bool", column: column)
            }
            return b
        }
        switch macro {
        case .all, .exists:
            return try Self.quantify(all: macro == .all, count: items.count) { (i: Int) throws(CELError) -> Bool in try test(items[i]) }
        case .existsOne:
            var count = 0
            for item in items where try test(item) { count += 1 }
            return .bool(count == 1)
        case .filter:
            var out: [CELValue] = []
            for item in items where try test(item) { out.append(item) }
            return .list(out)
        case .map:
            var out: [CELValue] = []
            for item in items {
                if predicate != nil, !(try test(item)) { continue }
                scope.variables[variable] = item
                out.append(try scope.eval(transform!))
            }
            return .list(out)
        }
    }
}

extension CELValue {
    var isValidMapKey: Bool {
        switch self {
        case .bool, .int, .uint, .string: return true
        default: return false
        }
    }
}
