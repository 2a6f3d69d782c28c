/// cel-go's two-variable comprehensions (cel-spec `macros2`): over a list the first variable is the
/// index, over a map the key; the second is the value.
extension Evaluator {
    func comprehension2(_ macro: Expr.Macro2, _ range: CELValue, _ first: String, _ second: String, _ filter: Expr?,
                        _ body: Expr, column: Int) throws(CELError) -> CELValue {
        let pairs: [(CELValue, CELValue)]
        switch range {
        case .list(let items): pairs = items.enumerated().map { (.int(Int64($0.offset)), $0.element) }
        case .map(let m): pairs = m.entries
        default: throw CELError("\(macro.rawValue)() needs a list or map, not '\(range.typeName)'", column: column)
        }
        var scope = self
        func value(_ pair: (CELValue, CELValue), _ e: Expr) throws(CELError) -> CELValue {
            scope.variables[first] = pair.0
            scope.variables[second] = pair.1
            return try scope.eval(e)
        }
        func test(_ pair: (CELValue, CELValue), _ e: Expr) throws(CELError) -> Bool {
            guard case .bool(let b) = try value(pair, e) else {
                throw CELError("\(macro.rawValue)() predicate must be a bool", column: column)
            }
            return b
        }
        switch macro {
        case .all, .exists:
            return try Self.quantify(all: macro == .all, count: pairs.count) { (i: Int) throws(CELError) -> Bool in try test(pairs[i], body) }
        case .existsOne:
            var count = 0
            for pair in pairs where try test(pair, body) { count += 1 }
            return .bool(count == 1)
        case .transformList:
            var out: [CELValue] = []
            for pair in pairs {
                if let filter, !(try test(pair, filter)) { continue }
                out.append(try value(pair, body))
            }
            return .list(out)
        case .transformMap:
            var out = CELMap()
            for pair in pairs {
                if let filter, !(try test(pair, filter)) { continue }
                out.insert(pair.0, try value(pair, body))
            }
            return .map(out)
        case .transformMapEntry:
            var out = CELMap()
            for pair in pairs {
                if let filter, !(try test(pair, filter)) { continue }
                guard case .map(let entry) = try value(pair, body) else {
                    throw CELError("transformMapEntry() must produce a map", column: column)
                }
                for (k, v) in entry.entries where !out.insert(k, v) {
                    throw CELError("insert failed: key \(k.literal) already exists", column: column)
                }
            }
            return .map(out)
        }
    }
}
