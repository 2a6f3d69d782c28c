/// CEL operators: arithmetic with overflow errors, heterogeneous numeric comparison, equality, `in`.
enum Arithmetic {
    static func negate(_ v: CELValue, column: Int) throws(CELError) -> CELValue {
        switch v {
        case .int(let i):
            guard i != Int64.min else { throw CELError("int overflow", column: column) }
            return .int(-i)
        case .double(let d): return .double(-d)
        case .duration(let n):
            guard n != Int64.min else { throw CELError("duration overflow", column: column) }
            return .duration(nanos: -n)
        default: throw CELError("no matching overload for '-' on '\(v.typeName)'", column: column)
        }
    }

    static func binary(_ op: BinaryOp, _ l: CELValue, _ r: CELValue, column: Int) throws(CELError) -> CELValue {
        switch op {
        case .eq: return .bool(equal(l, r))
        case .ne: return .bool(!equal(l, r))
        case .lt, .le, .gt, .ge:
            guard let c = compare(l, r) else {
                throw CELError("no matching overload for '\(op.rawValue)' on '\(l.typeName)' and '\(r.typeName)'", column: column)
            }
            switch op {
            case .lt: return .bool(c < 0)
            case .le: return .bool(c <= 0)
            case .gt: return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case .in:
            switch r {
            case .list(let items): return .bool(items.contains { equal(l, $0) })
            case .map(let m): return .bool(CELMapKey(l).map { m[$0] != nil } ?? false)
            default: throw CELError("no matching overload for 'in' on '\(r.typeName)'", column: column)
            }
        default:
            return try arithmetic(op, l, r, column: column)
        }
    }

    private static func arithmetic(_ op: BinaryOp, _ l: CELValue, _ r: CELValue, column: Int) throws(CELError) -> CELValue {
        func overflow() -> CELError { CELError("\(l.typeName) overflow", column: column) }
        switch (l, r) {
        case (.int(let a), .int(let b)):
            switch op {
            case .add: let (v, o) = a.addingReportingOverflow(b); if o { throw overflow() }; return .int(v)
            case .sub: let (v, o) = a.subtractingReportingOverflow(b); if o { throw overflow() }; return .int(v)
            case .mul: let (v, o) = a.multipliedReportingOverflow(by: b); if o { throw overflow() }; return .int(v)
            case .div:
                guard b != 0 else { throw CELError("division by zero", column: column) }
                let (v, o) = a.dividedReportingOverflow(by: b); if o { throw overflow() }; return .int(v)
            case .mod:
                guard b != 0 else { throw CELError("modulus by zero", column: column) }
                let (v, o) = a.remainderReportingOverflow(dividingBy: b); if o { throw overflow() }; return .int(v)
            default: break
            }
        case (.uint(let a), .uint(let b)):
            switch op {
            case .add: let (v, o) = a.addingReportingOverflow(b); if o { throw overflow() }; return .uint(v)
            case .sub: let (v, o) = a.subtractingReportingOverflow(b); if o { throw overflow() }; return .uint(v)
            case .mul: let (v, o) = a.multipliedReportingOverflow(by: b); if o { throw overflow() }; return .uint(v)
            case .div: guard b != 0 else { throw CELError("division by zero", column: column) }; return .uint(a / b)
            case .mod: guard b != 0 else { throw CELError("modulus by zero", column: column) }; return .uint(a % b)
            default: break
            }
        case (.double(let a), .double(let b)):
            switch op {
            case .add: return .double(a + b)
            case .sub: return .double(a - b)
            case .mul: return .double(a * b)
            case .div: return .double(a / b)
            default: break
            }
        case (.string(let a), .string(let b)) where op == .add: return .string(a + b)
        case (.bytes(let a), .bytes(let b)) where op == .add: return .bytes(a + b)
        case (.list(let a), .list(let b)) where op == .add: return .list(a + b)
        case (.duration(let a), .duration(let b)):
            if op == .add { let (v, o) = a.addingReportingOverflow(b); if o { throw overflow() }; return .duration(nanos: v) }
            if op == .sub { let (v, o) = a.subtractingReportingOverflow(b); if o { throw overflow() }; return .duration(nanos: v) }
        case (.timestamp(let s, let n), .duration(let d)) where op == .add || op == .sub:
            return try Time.add(seconds: s, nanos: n, durationNanos: op == .add ? d : -d, column: column)
        case (.duration(let d), .timestamp(let s, let n)) where op == .add:
            return try Time.add(seconds: s, nanos: n, durationNanos: d, column: column)
        case (.timestamp(let s1, let n1), .timestamp(let s2, let n2)) where op == .sub:
            let (secs, o1) = (s1 - s2).multipliedReportingOverflow(by: 1_000_000_000)
            let (total, o2) = secs.addingReportingOverflow(Int64(n1) - Int64(n2))
            if o1 || o2 { throw CELError("duration overflow", column: column) }
            return .duration(nanos: total)
        default: break
        }
        throw CELError("no matching overload for '\(op.rawValue)' on '\(l.typeName)' and '\(r.typeName)'", column: column)
    }

    /// CEL equality: numbers compare across int, uint and double; lists and maps deeply.
    static func equal(_ l: CELValue, _ r: CELValue) -> Bool {
        switch (l, r) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        // Code point by code point, as CEL compares: no Unicode normalisation (Swift's `==` has it).
        case (.string(let a), .string(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case (.map(let a), .map(let b)):
            return a.count == b.count && a.keys.allSatisfy { k in b[k].map { equal(a[k]!, $0) } ?? false }
        case (.timestamp(let s1, let n1), .timestamp(let s2, let n2)): return s1 == s2 && n1 == n2
        case (.duration(let a), .duration(let b)): return a == b
        case (.type(let a), .type(let b)): return a == b
        default:
            if let c = compareNumbers(l, r) { return c == 0 }
            return false
        }
    }

    /// Ordering, or `nil` when the types are not comparable.
    static func compare(_ l: CELValue, _ r: CELValue) -> Int? {
        if let c = compareNumbers(l, r) { return c }
        switch (l, r) {
        case (.string(let a), .string(let b)):
            return a.utf8.elementsEqual(b.utf8) ? 0 : (a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1)
        case (.bytes(let a), .bytes(let b)): return a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
        case (.bool(let a), .bool(let b)): return a == b ? 0 : (!a ? -1 : 1)
        case (.timestamp(let s1, let n1), .timestamp(let s2, let n2)):
            return s1 != s2 ? (s1 < s2 ? -1 : 1) : (n1 == n2 ? 0 : (n1 < n2 ? -1 : 1))
        case (.duration(let a), .duration(let b)): return a == b ? 0 : (a < b ? -1 : 1)
        default: return nil
        }
    }

    /// Numeric ordering across int, uint and double without losing precision; NaN compares as unordered.
    static func compareNumbers(_ l: CELValue, _ r: CELValue) -> Int? {
        func sign<T: Comparable>(_ a: T, _ b: T) -> Int { a == b ? 0 : (a < b ? -1 : 1) }
        switch (l, r) {
        case (.int(let a), .int(let b)): return sign(a, b)
        case (.uint(let a), .uint(let b)): return sign(a, b)
        case (.double(let a), .double(let b)): return a.isNaN || b.isNaN ? nil : sign(a, b)
        case (.int(let a), .uint(let b)): return a < 0 ? -1 : sign(UInt64(a), b)
        case (.uint(let a), .int(let b)): return b < 0 ? 1 : sign(a, UInt64(b))
        case (.int(let a), .double(let b)): return compareIntDouble(a, b)
        case (.double(let a), .int(let b)): return compareIntDouble(b, a).map { -$0 }
        case (.uint(let a), .double(let b)): return compareUIntDouble(a, b)
        case (.double(let a), .uint(let b)): return compareUIntDouble(b, a).map { -$0 }
        default: return nil
        }
    }

    /// As cel-go (and the conformance tests) compare: out-of-range doubles first, then the int as a
    /// double, so `dyn(9223372036854775807) < 9223372036854775808.0` is false.
    private static func compareIntDouble(_ a: Int64, _ b: Double) -> Int? {
        if b.isNaN { return nil }
        if b < -9_223_372_036_854_775_808.0 { return 1 }
        if b > 9_223_372_036_854_775_808.0 { return -1 }
        let x = Double(a)
        return x == b ? 0 : (x < b ? -1 : 1)
    }

    private static func compareUIntDouble(_ a: UInt64, _ b: Double) -> Int? {
        if b.isNaN { return nil }
        if b < 0 { return 1 }
        if b > 18_446_744_073_709_551_616.0 { return -1 }
        let x = Double(a)
        return x == b ? 0 : (x < b ? -1 : 1)
    }
}
